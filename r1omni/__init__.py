"""R1-Omni Explain: load R1-Omni-style omni emotion models, predict, and explain what drove each answer.

Importing `r1omni` registers `HumanOmni_qwen2` with transformers' Auto classes, so
`AutoModelForCausalLM.from_pretrained(path)` works afterwards. Public names are re-exported here; the UI
and `training/` use only these.
"""

from r1omni import modeling as _modeling  # noqa: F401  (registers the Auto classes)
from r1omni.errors import CheckpointError, MediaError, R1OmniError, UsageError
from r1omni.explain import Explanation, explain
from r1omni.inference import DEMO_CHECKPOINT, ClipError, MediaInputs, Pipeline, Prediction
from r1omni.media import Clip, decode_clip
from r1omni.metrics import confusion_matrix, scores_by_dataset, uar, war
from r1omni.prompts import DEFAULT_QUESTION, LABEL_SETS, normalize_label, parse_response

__all__ = [
    "DEFAULT_QUESTION",
    "DEMO_CHECKPOINT",
    "LABEL_SETS",
    "CheckpointError",
    "Clip",
    "ClipError",
    "Explanation",
    "MediaError",
    "MediaInputs",
    "Pipeline",
    "Prediction",
    "R1OmniError",
    "UsageError",
    "confusion_matrix",
    "decode_clip",
    "explain",
    "normalize_label",
    "parse_response",
    "scores_by_dataset",
    "uar",
    "war",
]
__version__ = "0.1.0"
