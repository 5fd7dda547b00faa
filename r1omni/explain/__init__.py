"""Explanations of an omni emotion model's answer (DESIGN 4): which modality, which moment, which claim.

`explain(pipe, clips, mode="full"|"fast", ...)` -> list of `Explanation` (or `ClipError`); `to_dict()` is the
`r1omni explain` JSON of DESIGN 3.2. Parts, one file each: `shapley` (exact 2-player modality Shapley,
MM-SHAP share), `temporal` (frame / audio-window occlusion), `flags` (claim flags), `tokens` (offsets),
`faithfulness` (deletion AOPC, pointing, hit rate), `result` (the dataclass and its JSON checker).
"""

from r1omni.explain.explainer import MODES, TARGETS, ExplainParams, explain
from r1omni.explain.flags import FLAG_ORDER, FlagThresholds
from r1omni.explain.result import EXPLAIN_KEYS, Explanation, schema_errors

# The attributions one explain run computes, shown verbatim in the UI and logs (name -> one-line method).
EXPLAINERS: dict[str, str] = {
    "modality_shapley": "exact 2-player Shapley of teacher-forced log-probs over {video, audio} masking",
    "frame_occlusion": "leave-one-out: one sampled frame -> grey; score = drop in the target log-prob",
    "audio_occlusion": "leave-one-out: one audio window -> silence; score = drop in the target log-prob",
    "gate": "the instruction gate's scene/body/face branch weights",
    "claims": "reasoning sentences tagged by cited modality, supported by that modality's sentence Shapley",
}


def list_explainers() -> list[str]:
    """Names of the attributions in an explanation."""
    return list(EXPLAINERS)


__all__ = [
    "EXPLAINERS",
    "EXPLAIN_KEYS",
    "FLAG_ORDER",
    "MODES",
    "TARGETS",
    "ExplainParams",
    "Explanation",
    "FlagThresholds",
    "explain",
    "list_explainers",
    "schema_errors",
]
