"""The `Explanation` result (DESIGN 3.2 `r1omni explain` JSON) and a checker for that JSON's shape.

Plain data: no model, no plotting (views live in `r1omni.ui`). Offsets in `tokens` and `claims` index
`prediction["text"]`, the decoded completion that was teacher-forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXPLAIN_KEYS = (
    "clip", "checkpoint", "prediction", "modality", "gate", "frames", "audio_segments", "tokens", "claims",
    "timings_ms", "notices", "params",
)


@dataclass(frozen=True)
class Explanation:
    """One clip's explanation; every field is already JSON-ready."""

    clip: str
    checkpoint: str
    prediction: dict
    modality: dict
    gate: dict | None
    frames: list[dict]
    audio_segments: list[dict]
    tokens: list[dict]
    claims: list[dict]
    timings_ms: dict[str, float]
    notices: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in EXPLAIN_KEYS}


_NUM = (int, float)


def _check(cond: bool, where: str, errors: list[str]) -> None:
    if not cond:
        errors.append(where)


def schema_errors(d: dict) -> list[str]:
    """Where an explain JSON object departs from DESIGN 3.2 (empty list = conforms)."""
    e: list[str] = []
    _check(set(EXPLAIN_KEYS) <= set(d), f"missing keys {sorted(set(EXPLAIN_KEYS) - set(d))}", e)
    if e:
        return e
    m = d["modality"]
    for part in ("shapley", "share"):
        _check(isinstance(m.get(part), dict) and all(isinstance(m[part].get(k), _NUM) for k in ("video", "audio")),
               f"modality.{part}", e)
    _check(set(m.get("coalitions", {})) == {"none", "video", "audio", "both"}, "modality.coalitions", e)
    _check(d["gate"] is None or set(d["gate"]) == {"scene", "body", "face"}, "gate", e)
    for r in d["frames"]:
        _check({"index", "time_s", "score", "drop"} <= set(r) <= {"index", "time_s", "score", "drop", "keep"}
               and isinstance(r["score"], _NUM), "frames[]", e)
    for r in d["audio_segments"]:
        _check({"start_s", "end_s", "score", "drop"} <= set(r) <= {"start_s", "end_s", "score", "drop", "keep"}
               and r["start_s"] < r["end_s"], "audio_segments[]", e)
    for r in d["tokens"]:
        _check({"text", "start", "end", "shapley", "dominant"} <= set(r), "tokens[]", e)
    for r in d["claims"]:
        _check({"text", "start", "end", "cites", "support", "flag"} <= set(r), "claims[]", e)
    _check(isinstance(d["prediction"], dict) and "label" in d["prediction"], "prediction", e)
    _check(isinstance(d["timings_ms"], dict), "timings_ms", e)
    return e
