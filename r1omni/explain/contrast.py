"""Contrastive support of reasoning claims: does the cited modality make *this* claim likelier than its
alternatives?

Shapley support (`flags.py`) asks whether a modality raises a sentence's log-prob over the masked input.
An emotional voice raises *any* voice-cue sentence over silence, so a false cue of the right modality
("the voice trembles" for an angry voice) is often supported. Contrastive support compares the claim with
its counterfactuals: the same modality voicing another emotion (the checkpoint's own phrasings where it
ships a bank, `counterfactuals.json`; a generic bank otherwise). With `lp(s | x)` the log-prob of sentence
`s` at the claim's position in the completion under input `x` (`r1omni.continuations`):

    r(x)        = lp(claim | x) - log mean_a exp lp(a | x)          (claim vs its alternatives)
    contrast_m  = r(x) - r(x with modality m masked)                 (nats)

`contrast_m > 0`: modality m favours the claim over what it could have said instead. A false cue has
`contrast_m < 0` (the real input favours the true cue among the alternatives); a cue unrelated to m has
~0. The flag rule that uses it is in `flags.py`.

Banks map (modality, label) to sentences. A claim's own label is read from the bank (exact sentence) or
from the emotion words it names; alternatives are the bank's sentences for every other label of the label
set (at most `per_label` each), so no alternative voices the claim's own emotion when it is known.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

BANK_FILE = "counterfactuals.json"
Bank = Mapping[tuple[str, str], Sequence[str]]

# A generic bank (our own short sentences) for checkpoints that ship none: one visual and one audio cue
# description per emotion, in the plain register of R1-Omni-style reasoning.
GENERIC_BANK: dict[tuple[str, str], tuple[str, ...]] = {
    ("video", "neutral"): ("The face stays relaxed.", "The expression is calm and still."),
    ("video", "happy"): ("The person smiles broadly.", "The corners of the mouth lift into a smile."),
    ("video", "surprise"): ("The eyebrows shoot up and the eyes open wide.", "The mouth drops open."),
    ("video", "angry"): ("The brows are drawn down in a frown.", "The eyes glare and the jaw is clenched."),
    ("video", "disgust"): ("The nose wrinkles and the upper lip curls.", "The face twists in a sneer."),
    ("video", "sad"): ("The corners of the mouth turn down.", "The eyes look downcast."),
    ("video", "fear"): ("The eyes are wide and the mouth is stretched.", "The face looks tense and afraid."),
    ("audio", "neutral"): ("The voice stays calm and even.", "The tone is flat and steady."),
    ("audio", "happy"): ("The voice sounds bright and cheerful.", "The tone is warm and lively."),
    ("audio", "surprise"): ("The pitch jumps up sharply.", "The voice rises in an astonished tone."),
    ("audio", "angry"): ("The voice is loud and harsh.", "The tone is forceful and sharp."),
    ("audio", "disgust"): ("The voice sounds scornful.", "The tone is low and contemptuous."),
    ("audio", "sad"): ("The voice is slow and quiet.", "The tone is low and heavy."),
    ("audio", "fear"): ("The voice trembles.", "The speech is rushed and shaky."),
}


def normalise(sentence: str) -> str:
    """Lower case, commas and spacing folded, final punctuation dropped (bank look-up key)."""
    text = sentence.lower().replace(",", " ")
    text = re.sub(r"\s+([.!?])", r"\1", text)
    return " ".join(text.split()).rstrip(".!? ")


def load_bank(folder: str | Path | None) -> tuple[Bank, str]:
    """The checkpoint's own bank (`counterfactuals.json` in its folder) or the generic one; and its source."""
    if folder is not None:
        path = Path(folder) / BANK_FILE
        if path.is_file():
            raw = json.loads(path.read_text())
            bank = {(m, lab): tuple(s) for m, by_label in raw.items() for lab, s in by_label.items()}
            return bank, BANK_FILE
    return GENERIC_BANK, "generic"


def bank_to_json(bank: Bank) -> str:
    """`{"video": {label: [sentences]}, "audio": {...}}`, keys sorted (for `counterfactuals.json`)."""
    out: dict[str, dict[str, list[str]]] = {}
    for (m, lab), sentences in bank.items():
        out.setdefault(m, {})[lab] = list(sentences)
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


def claim_label(text: str, modality: str, bank: Bank, emotions: Sequence[str]) -> str | None:
    """The emotion a cue claim voices: the bank's label for this exact sentence, else the first emotion word."""
    key = normalise(text)
    for (m, lab), sentences in bank.items():
        if m == modality and any(normalise(s) == key for s in sentences):
            return lab
    return emotions[0] if emotions else None


def _styled(alt: str, like: str) -> str:
    """`alt` with `like`'s initial case and final punctuation."""
    body = alt.rstrip(".!? ")
    body = body[:1].upper() + body[1:] if like[:1].isupper() else body[:1].lower() + body[1:]
    end = like[len(like.rstrip(".!?")) :] or ""
    return body + end


def alternatives(text: str, modality: str, own_label: str | None, labels: Sequence[str], bank: Bank,
                 per_label: int = 2) -> list[str]:
    """Counterfactual sentences for a claim: the bank's phrasings of `modality` for every other label."""
    key = normalise(text)
    out = []
    for lab in labels:
        if lab == own_label:
            continue
        for s in list(bank.get((modality, lab), ()))[:per_label]:
            if normalise(s) != key:
                out.append(_styled(s, text))
    return out


def relative(claim_lp: float, alt_lps: Sequence[float]) -> float:
    """lp(claim) - log mean exp lp(alternatives)."""
    if not alt_lps:
        return 0.0
    top = max(alt_lps)
    return claim_lp - (top + math.log(sum(math.exp(a - top) for a in alt_lps) / len(alt_lps)))
