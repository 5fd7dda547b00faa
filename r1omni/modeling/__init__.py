"""R1-Omni-compatible modules. Importing this package registers the Auto classes."""

from r1omni.modeling.modeling import (
    GATE_BRANCHES,
    AudioTower,
    HumanOmniQwen2ForCausalLM,
    HumanOmniQwen2Model,
    VisionTower,
    default_dtype,
    expand_compat_placeholders,
)
from r1omni.modeling.projector import AllInOneSmall, RegStage

__all__ = [
    "GATE_BRANCHES",
    "AllInOneSmall",
    "AudioTower",
    "HumanOmniQwen2ForCausalLM",
    "HumanOmniQwen2Model",
    "RegStage",
    "VisionTower",
    "default_dtype",
    "expand_compat_placeholders",
]
