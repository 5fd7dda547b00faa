"""R1-Omni Explain: load R1-Omni-style omni emotion models, predict, and explain what drove each answer.

Importing `r1omni` registers `HumanOmni_qwen2` with transformers' Auto classes, so
`AutoModelForCausalLM.from_pretrained(path)` works afterwards. Public names are re-exported here; the UI
and `training/` use only these.
"""

from r1omni.errors import CheckpointError, MediaError, R1OmniError, UsageError
from r1omni.prompts import DEFAULT_QUESTION, LABEL_SETS, normalize_label, parse_response

try:  # the model package registers the Auto classes on import
    from r1omni import modeling as _modeling  # noqa: F401
except ImportError:  # pragma: no cover - only while the package is being assembled
    _modeling = None

__all__ = [
    "CheckpointError",
    "DEFAULT_QUESTION",
    "LABEL_SETS",
    "MediaError",
    "R1OmniError",
    "UsageError",
    "normalize_label",
    "parse_response",
]
__version__ = "0.1.0"
