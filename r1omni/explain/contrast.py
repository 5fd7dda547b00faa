"""Contrastive support of reasoning claims: does the cited modality make *this* claim likelier than what the
model could have said instead, per token?

Shapley support (`flags.py`) asks whether a modality raises a claim's log-prob over the masked input. An
emotional voice raises *any* voice-cue sentence over silence, so a false cue of the right modality is often
supported. Contrastive support compares the claim with its *counterfactuals*.

Counterfactual sources (`SOURCES`; every claim row names the one it used in `support.contrast_source`):

- "rewrite" (default, any checkpoint): the claim's own emotion-bearing expressions rewritten for each other
  label of the label set (`rewrite.py`: "his brows furrowed" -> "his brows shot up"), the rest of the unit
  kept. The compared *span* runs from the first rewritten expression to the last one; the text before it is
  the same for every candidate and is the fork point.
- "bank" (optional): the checkpoint's own phrase bank (`counterfactuals.json` in its folder): the claim's
  whole text against the bank's sentences of the same modality for every other label; the span is the
  whole unit. Without a bank file the explanation falls back to "rewrite" and says so.
- "none: ..." : no contrast test for this claim, and why ("none: nothing to rewrite", "none: negated cue",
  "none: not a cue", "none: not in the bank", "none: modality not a player").

Score. With `s(c | x)` the *mean log-prob per token* of candidate span `c` at the claim's position in the
completion under input `x` (forked from the scoring session's kept KV, `r1omni.continuations`):

    r(x)       = s(claim | x) - log mean_a exp s(a | x)         (nats per token: claim vs its alternatives)
    contrast_m = r(x) - r(x with modality m masked)              (nats per token)

Per token, so claims and spans of any length are judged on one scale. The tokens *after* the span within
the unit are not scored: every emotion-bearing word of the unit is rewritten, so what follows is the same
text under every candidate and its log-prob measures the continuation's fluency, not the modality's
evidence; scoring it would dilute the span by a tail whose length varies from claim to claim (the length
effect this score removes). `contrast_m > 0`: modality m favours the claim over its alternatives; a false
cue has `contrast_m < 0`. The flag rule is in `flags.py`, its thresholds in `calibration.py`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from r1omni.explain import rewrite as rewrite_lib

BANK_FILE = "counterfactuals.json"
Bank = Mapping[tuple[str, str], Sequence[str]]
SOURCES = ("rewrite", "bank")
REWRITE = "rewrite"
NOTHING_TO_REWRITE = "none: nothing to rewrite"
NEGATED = "none: negated cue"
NOT_A_CUE = "none: not a cue"
NOT_IN_BANK = "none: not in the bank"
NOT_A_PLAYER = "none: modality not a player"


def bank_source(folder_name: str = BANK_FILE) -> str:
    return f"bank: {folder_name}"


def normalise(sentence: str) -> str:
    """Lower case, commas and spacing folded, final punctuation dropped (bank look-up key)."""
    text = sentence.lower().replace(",", " ")
    text = re.sub(r"\s+([.!?])", r"\1", text)
    return " ".join(text.split()).rstrip(".!? ")


def load_bank(folder: str | Path | None) -> Bank | None:
    """The checkpoint's own bank (`counterfactuals.json` in its folder), or None."""
    if folder is not None:
        path = Path(folder) / BANK_FILE
        if path.is_file():
            raw = json.loads(path.read_text())
            return {(m, lab): tuple(s) for m, by_label in raw.items() for lab, s in by_label.items()}
    return None


def bank_to_json(bank: Bank) -> str:
    """`{"video": {label: [sentences]}, "audio": {...}}`, keys sorted (for `counterfactuals.json`)."""
    out: dict[str, dict[str, list[str]]] = {}
    for (m, lab), sentences in bank.items():
        out.setdefault(m, {})[lab] = list(sentences)
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


def claim_label(text: str, modality: str, bank: Bank | None, emotions: Sequence[str]) -> str | None:
    """The emotion a cue claim voices: the bank's label for this exact sentence, else its first rewritable
    expression's label, else the first emotion word it names."""
    key = normalise(text)
    for (m, lab), sentences in (bank or {}).items():
        if m == modality and any(normalise(s) == key for s in sentences):
            return lab
    own = rewrite_lib.rewrite_claim(text, (modality,), tuple(rewrite_lib.FINE)).own
    if own:
        return rewrite_lib.COARSE.get(own[0], own[0])
    return emotions[0] if emotions else None


def _styled(alt: str, like: str) -> str:
    """`alt` with `like`'s initial case and final punctuation."""
    body = alt.rstrip(".!? ")
    body = body[:1].upper() + body[1:] if like[:1].isupper() else body[:1].lower() + body[1:]
    end = like[len(like.rstrip(".!?")) :] or ""
    return body + end


def bank_alternatives(text: str, modality: str, own_label: str | None, labels: Sequence[str], bank: Bank,
                      per_label: int = 2) -> list[str]:
    """The bank's sentences of `modality` for every label other than the claim's own, in the claim's style."""
    key = normalise(text)
    out = []
    for lab in labels:
        if lab == own_label:
            continue
        for s in list(bank.get((modality, lab), ()))[:per_label]:
            if normalise(s) != key:
                out.append(_styled(s, text))
    return out


@dataclass(frozen=True)
class Plan:
    """One claim's counterfactual test for one cited modality: candidates[0] is the claim's own span
    `completion[start:end]`, the others its alternatives; `source` says where they came from (a "none: ..."
    source has no candidates)."""

    source: str
    start: int = 0
    end: int = 0
    candidates: tuple[str, ...] = ()
    own: tuple[str, ...] = ()

    @property
    def testable(self) -> bool:
        return len(self.candidates) > 1


def _is_cue(claim) -> bool:
    kind = getattr(claim, "kind", None)
    return bool(claim.cites) if kind is None else kind == "cue"


def plan(claim, modality: str, labels: tuple[str, ...], *, source: str = REWRITE, bank: Bank | None = None,
         bank_name: str = BANK_FILE, per_label: int = 2) -> Plan:
    """The counterfactual test of `claim` (an `r1omni.audit.claims.Claim`) for its cited `modality`."""
    if not _is_cue(claim):
        return Plan(NOT_A_CUE)
    if getattr(claim, "negated", False):
        return Plan(NEGATED)  # "he did not smile": its rewrites would assert the opposite polarity
    if source == "bank" and bank is not None:
        own = claim_label(claim.text, modality, bank, claim.emotions)
        alts = bank_alternatives(claim.text, modality, own, labels, bank, per_label) if own else []
        if not alts:
            return Plan(NOT_IN_BANK)
        return Plan(bank_source(bank_name), claim.start, claim.end, (claim.text, *alts), (own,) if own else ())
    r = rewrite_lib.rewrite_claim(claim.text, (modality,), labels, per_label)
    if r.empty:
        return Plan(NOTHING_TO_REWRITE, own=r.own)
    a, z = r.span
    alts = [x for lab in labels for x in r.alternatives.get(lab, ())]
    return Plan(REWRITE, claim.start + a, claim.start + z, (claim.text[a:z], *alts), r.own)


def relative(claim_score: float, alt_scores: Sequence[float]) -> float:
    """s(claim) - log mean exp s(alternatives)."""
    if not alt_scores:
        return 0.0
    top = max(alt_scores)
    return claim_score - (top + math.log(sum(math.exp(a - top) for a in alt_scores) / len(alt_scores)))


def per_token(sums: Sequence[float], lengths: Sequence[int]) -> list[float]:
    """Summed log-probs -> mean log-prob per token."""
    return [s / max(1, n) for s, n in zip(sums, lengths, strict=True)]
