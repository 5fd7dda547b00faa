"""Automatic flags on reasoning claims, from their modality Shapley values (DESIGN 4, "Claims").

A claim (one evidence unit of `<think>`, `r1omni.audit.claims`: one cue of one modality, or a conclusion /
context unit that cites nothing) cites a modality; its *support* for it is the exact Shapley value of the
unit's teacher-forced log-prob for that modality (nats). Conclusion and context units get no "unsupported"
test (they cite no cue); they can still contradict the answer. Flags, most
severe first (a claim shows the first in `flag` and all of them in `flags`):

- "cites absent modality": the clip has no such track;
- "cites masked modality": the input was masked (grey / silence) when the completion was scored;
- "cue not present": synthetic clips only, the ground truth says the cue was not drawn / voiced;
- "contradicts answer": the unit asserts emotions and none of them is the `<answer>` label ("neutral" said of
  one cue is no verdict; a conclusion naming the answer among several emotions does not contradict);
- "unsupported": the cited modality does not back the claim. One rule, contrastive evidence first:
  * with contrastive support (`contrast.py`: whenever the modality is a player and the claim has
    counterfactuals; values in nats per token over the rewritten span): an emotional cue claim ("the voice
    trembles") is supported when, under the real input, it is likelier per token than the mean of its
    alternatives (`relative > relative_eps`) and the cited modality is what makes it so
    (`contrast > contrast_eps`). A neutral-state claim ("the face stays relaxed") is what a masked input
    predicts as well, so it is judged only when the modality speaks against it
    (`contrast < -contrast_neutral_eps`).
  * otherwise (contrastive support off, or no counterfactual: `support.contrast_source` says why): Shapley
    support. A cue claim is unsupported when a cited modality raises the sentence's log-prob by less than
    ``max(abs_eps, rel * (|phi_video| + |phi_audio|))`` or pushes one of its words down by more than
    `token_eps` nats; a neutral-state claim only when phi < -neutral_eps.
  Shapley alone cannot tell "which emotion" from "some emotion"; the contrastive test can. Both values are in
  the claim's `support` (`shapley`, `contrastive`, `relative`). "text" citations (subtitles) are no player
  and are never judged unsupported.

Thresholds: per checkpoint from `r1omni flags calibrate` (`calibration.py`, stored by the checkpoint's
fingerprint), or set by the caller (`--flag-threshold name=value`); otherwise the defaults below, which were
chosen by hand, not fitted (every explanation of an uncalibrated checkpoint carries a notice). The contrast
defaults (0 nats per token) say: the claim must beat its alternatives, and the modality must help it do so.

Pure: no model, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from r1omni.audit.claims import Claim, contradicts, is_neutral_claim

FLAG_ORDER = ("cites absent modality", "cites masked modality", "cue not present", "contradicts answer", "unsupported")
DEFAULT_ABS_EPS = 0.1
DEFAULT_REL = 0.2
DEFAULT_TOKEN_EPS = 2.0
DEFAULT_NEUTRAL_EPS = 1.0
DEFAULT_CONTRAST_EPS = 0.0  # nats per token
DEFAULT_RELATIVE_EPS = 0.0  # nats per token
DEFAULT_CONTRAST_NEUTRAL_EPS = 0.5  # nats per token
CONTRAST_THRESHOLDS = ("contrast_eps", "relative_eps", "contrast_neutral_eps")  # what calibration fits


@dataclass(frozen=True)
class FlagThresholds:
    """When a cited modality counts as supporting a sentence (see module docstring)."""

    abs_eps: float = DEFAULT_ABS_EPS
    rel: float = DEFAULT_REL
    token_eps: float = DEFAULT_TOKEN_EPS
    neutral_eps: float = DEFAULT_NEUTRAL_EPS
    contrast_eps: float = DEFAULT_CONTRAST_EPS
    relative_eps: float = DEFAULT_RELATIVE_EPS
    contrast_neutral_eps: float = DEFAULT_CONTRAST_NEUTRAL_EPS

    def to_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def parse(cls, items, base: FlagThresholds | None = None) -> FlagThresholds:
        """`base` (defaults) with "name=value" items applied; a bad item raises UsageError in one line."""
        from dataclasses import replace

        from r1omni.errors import UsageError

        out = base or cls()
        for item in items:
            name, _, value = str(item).partition("=")
            name = name.strip()
            if name not in cls.__dataclass_fields__:
                raise UsageError(f"unknown flag threshold '{name}'; choose from: "
                                 f"{', '.join(cls.__dataclass_fields__)}")
            try:
                v = float(value)
            except ValueError:
                raise UsageError(f"flag threshold '{item}': give name=number") from None
            if v != v or abs(v) == float("inf"):
                raise UsageError(f"flag threshold '{item}': give a finite number")
            out = replace(out, **{name: v})
        return out

    def supported(self, phi_m: float, phi_total_abs: float, min_token_phi: float = 0.0,
                  neutral: bool = False) -> bool:
        if neutral:
            return phi_m >= -self.neutral_eps
        return phi_m >= max(self.abs_eps, self.rel * phi_total_abs) and min_token_phi >= -self.token_eps

    def contrast_supported(self, contrast_m: float, relative: float, neutral: bool = False) -> bool:
        if neutral:
            return contrast_m >= -self.contrast_neutral_eps
        return contrast_m > self.contrast_eps and relative > self.relative_eps


def claim_flags(
    claim: Claim,
    phi: dict[str, float],
    *,
    absent: Iterable[str] = (),
    masked: Iterable[str] = (),
    answer_label: str | None = None,
    cue_false: bool = False,
    thresholds: FlagThresholds = FlagThresholds(),
    min_token_phi: dict[str, float] | None = None,
    contrast: dict[str, dict[str, float]] | None = None,
) -> list[str]:
    """All flags of one claim, in FLAG_ORDER.

    >>> from r1omni.audit.claims import extract_claims
    >>> c = extract_claims("<think>The voice trembles.</think>")[0]
    >>> claim_flags(c, {"video": 1.0, "audio": 0.01}), claim_flags(c, {"video": 0.0, "audio": 2.0})
    (['unsupported'], [])
    """
    absent, masked = set(absent), set(masked)
    flags = []
    if absent & set(claim.cites):
        flags.append("cites absent modality")
    if masked & set(claim.cites):
        flags.append("cites masked modality")
    if cue_false:
        flags.append("cue not present")
    if contradicts(claim, answer_label):
        flags.append("contradicts answer")
    if getattr(claim, "kind", "cue") != "cue":
        return flags  # a conclusion or context unit cites no cue: nothing to support
    total = sum(abs(v) for v in phi.values())
    judged = [m for m in claim.cites if m in phi and m not in absent and m not in masked]
    neutral = is_neutral_claim(claim)
    lows, con = min_token_phi or {}, contrast or {}

    def ok(m: str) -> bool:
        if m in con:
            return thresholds.contrast_supported(con[m]["contrast"], con[m]["relative"], neutral)
        return thresholds.supported(phi[m], total, lows.get(m, 0.0), neutral)

    if any(not ok(m) for m in judged):
        flags.append("unsupported")
    return flags


def claim_row(claim: Claim, phi: dict[str, float], share: dict[str, float], flags: list[str],
              contrast: dict[str, dict[str, float]] | None = None, contrast_source: str | None = None) -> dict:
    """The explain JSON row of one claim."""
    return {
        "text": claim.text,
        "start": claim.start,
        "end": claim.end,
        "cites": list(claim.cites),
        "emotions": list(claim.emotions),
        "kind": claim.kind,
        "cue": claim.cue,
        "hedged": claim.hedged,
        "conceded": claim.conceded,
        "negated": claim.negated,
        "support": {
            "shapley": {m: round(float(v), 5) for m, v in phi.items()},
            "share": {m: round(float(v), 4) for m, v in share.items()},
            "cited": {m: round(float(phi[m]), 5) for m in claim.cites if m in phi},
            "contrastive": {m: round(float(v["contrast"]), 5) for m, v in (contrast or {}).items()},
            "relative": {m: round(float(v["relative"]), 5) for m, v in (contrast or {}).items()},
            "relative_masked": {m: round(float(v["relative_masked"]), 5) for m, v in (contrast or {}).items()},
            "contrast_source": contrast_source,
        },
        "flag": flags[0] if flags else None,
        "flags": flags,
    }
