"""HumanOmniQwen2Config: the R1-Omni / HumanOmni-0.5B configuration, plus tower/BERT sub-config resolution.

The released `config.json` names its SigLIP / Whisper towers by the authors' machine paths
(`/mnt/data/...`). We never need those folders: tower and BERT configs are resolved, in order, from
(1) sub-configs embedded in config.json (`vision_config`, `audio_config`, `bert_config`), (2) a folder at
the configured path (absolute, or relative to the checkpoint folder) holding a `config.json`, (3) a known
preset recognised by name in the path, built from constants here (no network). Weights always come from
the checkpoint file. Presets: `preset_config("r1-omni-0.5b" | "tiny" | "demo", **overrides)`.

This module knows nothing about modules or weights; it imports transformers' config classes only.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
from pathlib import Path
from typing import Any

from transformers import AutoConfig, BertConfig, Qwen2Config, SiglipVisionConfig, WhisperConfig

from r1omni.errors import CheckpointError, UsageError

logger = logging.getLogger(__name__)

MODEL_TYPE = "HumanOmni_qwen2"
VIDEO_TOKEN_INDEX = -201
AUDIO_TOKEN_INDEX = -202

# ---------------------------------------------------------------------------------------------------------------
# Known tower / BERT presets (public model configs, written out as constants: no network).

SIGLIP_BASE_224 = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 16,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "attention_dropout": 0.0,
}
WHISPER_LARGE_V3 = {
    "vocab_size": 51866,
    "num_mel_bins": 128,
    "d_model": 1280,
    "encoder_layers": 32,
    "encoder_attention_heads": 20,
    "encoder_ffn_dim": 5120,
    "decoder_layers": 32,
    "decoder_attention_heads": 20,
    "decoder_ffn_dim": 5120,
    "max_source_positions": 1500,
    "max_target_positions": 448,
    "activation_function": "gelu",
    "classifier_proj_size": 256,
    "num_labels": 2,
    "scale_embedding": False,
}
BERT_BASE_UNCASED = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}
# name recognised in a tower path -> (sub-config kind, constants)
TOWER_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "siglip-base-patch16-224": ("vision", SIGLIP_BASE_224),
    "whisper-large-v3": ("audio", WHISPER_LARGE_V3),
    "bert-base-uncased": ("bert", BERT_BASE_UNCASED),
}
_KIND_FIELD = {"vision": "vision_config", "audio": "audio_config", "bert": "bert_config"}
# keys of a saved HF config.json that are metadata, not architecture
_META_KEYS = (
    "model_type",
    "transformers_version",
    "architectures",
    "_name_or_path",
    "torch_dtype",
    "dtype",
    "auto_map",
    "output_hidden_states",
    "return_dict",
)

# The checkpoint folder being read (set by from_pretrained), for tower paths relative to it.
_CHECKPOINT_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("r1omni_checkpoint_dir", default=None)

# R1-Omni-0.5B language-model fields (Qwen2.5-0.5B-Instruct, r1omni.md 1.2 / 2.2).
_LM_DEFAULTS: dict[str, Any] = {
    "vocab_size": 151936,
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "max_window_layers": 21,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "use_sliding_window": False,
    "sliding_window": None,
    "hidden_act": "silu",
    "attention_dropout": 0.0,
}


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in _META_KEYS}


def _config_from_folder(folder: Path, kind: str) -> dict[str, Any] | None:
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        return None
    try:
        data = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read tower config {cfg_file}: {e}") from e
    # A full SigLIP folder holds a SiglipConfig with text and vision parts: keep the vision part.
    if kind == "vision" and isinstance(data.get("vision_config"), dict):
        data = data["vision_config"]
    return _clean(data)


def _folder_of(name_or_path: object) -> Path | None:
    """The checkpoint folder transformers passes as `name_or_path` (AutoConfig's from_dict path), if local."""
    if not name_or_path:
        return None
    folder = Path(str(name_or_path)).expanduser()
    return folder if folder.is_dir() else None


def resolve_sub_config(kind: str, embedded: dict | None, path: str | None, base_dir: Path | None = None) -> dict:
    """Resolve the `kind` ("vision" | "audio" | "bert") sub-config dict: embedded, folder, preset by name."""
    if isinstance(embedded, dict):
        return _clean(copy.deepcopy(embedded))
    if hasattr(embedded, "to_dict"):  # a transformers config object
        return _clean(embedded.to_dict())
    if path:
        p = Path(str(path)).expanduser()
        candidates = [p] if p.is_absolute() else ([base_dir / p] if base_dir else []) + [p]
        for folder in candidates:
            if folder.is_dir():
                found = _config_from_folder(folder, kind)
                if found is not None:
                    logger.debug("%s config from folder %s", kind, folder)
                    return found
        low = str(path).lower()
        for name, (preset_kind, consts) in TOWER_PRESETS.items():
            if name in low and preset_kind == kind:
                logger.debug("%s config from preset %s (path %s)", kind, name, path)
                return dict(consts)
    if kind == "bert":
        return dict(BERT_BASE_UNCASED)
    known = ", ".join(n for n, (k, _) in TOWER_PRESETS.items() if k == kind)
    raise CheckpointError(
        f"cannot resolve the {kind} tower config from path {path!r}: no embedded {_KIND_FIELD[kind]}, no folder "
        f"with config.json there, and no known preset in the name (known: {known})"
    )


class HumanOmniQwen2Config(Qwen2Config):
    """Qwen2 config + HumanOmni multimodal fields. Defaults equal R1-Omni-0.5B; unknown keys are kept."""

    model_type = MODEL_TYPE
    # TRL builds its reference model via the config's auto_map (hand-written configs lack it): empty = no remote code
    auto_map = {}  # noqa: RUF012 (class attribute on purpose, not a dataclass field)

    def __init__(
        self,
        mm_vision_tower: str | None = "google/siglip-base-patch16-224",
        mm_audio_tower: str | None = "openai/whisper-large-v3",
        mm_hidden_size: int = 768,
        audio_hidden_size: int = 1280,
        mm_projector_type: str = "all_in_one_small",
        mm_audio_projector_type: str = "mlp2x_gelu",
        mm_vision_select_layer: int = -2,
        mm_vision_select_feature: str = "patch",
        mm_use_x_start_end: bool = True,
        num_frames: int = 8,
        image_aspect_ratio: str = "pad",
        gate_hidden_size: int = 3584,
        vision_config: dict | None = None,
        audio_config: dict | None = None,
        bert_config: dict | None = None,
        bert_tokenizer_path: str | None = None,
        video_token_index: int = VIDEO_TOKEN_INDEX,
        audio_token_index: int = AUDIO_TOKEN_INDEX,
        **kwargs: Any,
    ):
        for key, value in _LM_DEFAULTS.items():
            kwargs.setdefault(key, value)
        # Legacy keys of the released config (transformers 4.49): rope_theta/rope_scaling become rope_parameters.
        if kwargs.get("rope_scaling", "absent") is None:
            kwargs.pop("rope_scaling")
        self.mm_vision_tower = mm_vision_tower
        self.mm_audio_tower = mm_audio_tower
        self.mm_hidden_size = mm_hidden_size
        self.audio_hidden_size = audio_hidden_size
        self.mm_projector_type = mm_projector_type
        self.mm_audio_projector_type = mm_audio_projector_type
        self.mm_vision_select_layer = mm_vision_select_layer
        self.mm_vision_select_feature = mm_vision_select_feature
        self.mm_use_x_start_end = mm_use_x_start_end
        self.num_frames = num_frames
        self.image_aspect_ratio = image_aspect_ratio
        self.gate_hidden_size = gate_hidden_size
        self.bert_tokenizer_path = bert_tokenizer_path
        self.video_token_index = video_token_index
        self.audio_token_index = audio_token_index
        base_dir = _CHECKPOINT_DIR.get() or _folder_of(kwargs.get("name_or_path"))
        self.vision_config = resolve_sub_config("vision", vision_config, mm_vision_tower, base_dir)
        self.audio_config = resolve_sub_config("audio", audio_config, mm_audio_tower, base_dir)
        # BERT has no path field in the released config: a bert_tokenizer_path folder holding a config.json
        # counts as the BERT folder, otherwise the bert-base-uncased preset.
        bert_path = bert_tokenizer_path if bert_config is None else None
        self.bert_config = resolve_sub_config("bert", bert_config, bert_path, base_dir)
        super().__init__(**kwargs)

    # ---- typed views of the sub-configs -------------------------------------------------------------------------
    def siglip_config(self) -> SiglipVisionConfig:
        return SiglipVisionConfig(**_clean(self.vision_config))

    def whisper_config(self) -> WhisperConfig:
        return WhisperConfig(**_clean(self.audio_config))

    def bert_model_config(self) -> BertConfig:
        return BertConfig(**_clean(self.bert_config))

    # ---- derived sizes (ARCHITECTURE.md) -----------------------------------------------------------------------
    @property
    def image_size(self) -> int:
        return int(self.vision_config.get("image_size", 224))

    @property
    def patch_grid(self) -> int:
        return self.image_size // int(self.vision_config.get("patch_size", 16))

    @property
    def audio_num_frames(self) -> int:
        return int(self.audio_config.get("max_source_positions", 1500)) * 2

    @property
    def audio_num_samples(self) -> int:
        return self.audio_num_frames * 160

    @property
    def num_video_tokens(self) -> int:
        return self.num_frames * (self.patch_grid // 2) ** 2

    @property
    def num_audio_tokens(self) -> int:
        return int(self.audio_config.get("max_source_positions", 1500)) // 3

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):  # type: ignore[override]
        """Like transformers' from_pretrained, with tower paths resolved relative to the checkpoint folder too."""
        folder = Path(str(pretrained_model_name_or_path))
        token = _CHECKPOINT_DIR.set(folder if folder.is_dir() else None)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        finally:
            _CHECKPOINT_DIR.reset(token)


def load_config(folder: str | Path) -> HumanOmniQwen2Config:
    """Read `folder/config.json` unchanged (unknown keys kept), resolving towers relative to the folder.

    Goes through `HumanOmniQwen2Config.from_pretrained`, as `AutoConfig` / `AutoModelForCausalLM` do.
    """
    folder = Path(folder)
    cfg_file = folder / "config.json"
    try:
        data = json.loads(cfg_file.read_text())
    except FileNotFoundError as e:
        raise CheckpointError(f"no config.json in checkpoint folder {folder}") from e
    except ValueError as e:
        raise CheckpointError(f"config.json in {folder} is not valid JSON: {e}") from e
    if data.get("model_type") != MODEL_TYPE:
        raise CheckpointError(
            f"{cfg_file} has model_type {data.get('model_type')!r}; "
            f"expected {MODEL_TYPE!r} (an R1-Omni/HumanOmni checkpoint)"
        )
    # the same path as AutoConfig.from_pretrained(folder), so both build the same config (DESIGN 3.1)
    config = HumanOmniQwen2Config.from_pretrained(str(folder), local_files_only=True)
    config._name_or_path = str(folder)
    return config


# ---------------------------------------------------------------------------------------------------------------
# Presets


def _tiny(vocab_size: int = 512, bert_vocab_size: int = 256, **overrides: Any) -> dict[str, Any]:
    return {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "max_window_layers": 2,
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
        "mm_vision_tower": "tiny-siglip",
        "mm_audio_tower": "tiny-whisper",
        "mm_hidden_size": 32,
        "audio_hidden_size": 32,
        "gate_hidden_size": 64,
        "vision_config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_channels": 3,
            "image_size": 32,
            "patch_size": 8,
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
        },
        "audio_config": {
            "vocab_size": 51866,
            "num_mel_bins": 128,
            "d_model": 32,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "decoder_layers": 1,
            "decoder_attention_heads": 2,
            "decoder_ffn_dim": 64,
            "max_source_positions": 60,
            "max_target_positions": 32,
            "classifier_proj_size": 16,
            "num_labels": 2,
        },
        "bert_config": {
            "vocab_size": bert_vocab_size,
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": 128,
            "type_vocab_size": 2,
            "pad_token_id": 0,
        },
    } | overrides


def _demo(vocab_size: int = 2048, bert_vocab_size: int = 1024, **overrides: Any) -> dict[str, Any]:
    return {
        "vocab_size": vocab_size,
        "hidden_size": 128,
        "intermediate_size": 512,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "max_window_layers": 4,
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
        "mm_vision_tower": "demo-siglip",
        "mm_audio_tower": "demo-whisper",
        "mm_hidden_size": 64,
        "audio_hidden_size": 64,
        "gate_hidden_size": 128,
        "vision_config": {
            "hidden_size": 64,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_channels": 3,
            "image_size": 128,
            "patch_size": 16,
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
        },
        "audio_config": {
            "vocab_size": 51866,
            "num_mel_bins": 128,
            "d_model": 64,
            "encoder_layers": 2,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 256,
            "decoder_layers": 1,
            "decoder_attention_heads": 4,
            "decoder_ffn_dim": 256,
            "max_source_positions": 200,
            "max_target_positions": 32,
            "classifier_proj_size": 32,
            "num_labels": 2,
        },
        "bert_config": {
            "vocab_size": bert_vocab_size,
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 256,
            "max_position_embeddings": 128,
            "type_vocab_size": 2,
            "pad_token_id": 0,
        },
    } | overrides


def _r1_omni_05b(**overrides: Any) -> dict[str, Any]:
    return {
        "mm_vision_tower": "google/siglip-base-patch16-224",
        "mm_audio_tower": "openai/whisper-large-v3",
        "vision_config": dict(SIGLIP_BASE_224),
        "audio_config": dict(WHISPER_LARGE_V3),
        "bert_config": dict(BERT_BASE_UNCASED),
        "image_aspect_ratio": "pad",
        "tokenizer_model_max_length": 2048,
    } | overrides


PRESETS = {"r1-omni-0.5b": _r1_omni_05b, "tiny": _tiny, "demo": _demo}


def preset_config(name: str, **overrides: Any) -> HumanOmniQwen2Config:
    """Build a preset config ("r1-omni-0.5b", "tiny", "demo"); keyword overrides win (e.g. vocab_size=...)."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return HumanOmniQwen2Config(**PRESETS[name](**overrides))


def register_auto_config() -> None:
    """Register the config with AutoConfig (idempotent)."""
    try:
        AutoConfig.register(MODEL_TYPE, HumanOmniQwen2Config)
    except ValueError:
        pass  # already registered


register_auto_config()
