"""HumanOmniQwen2Config: the released config.json loads unchanged; towers resolve; presets; round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from transformers import AutoConfig

from r1omni.config import (
    HumanOmniQwen2Config,
    load_config,
    preset_config,
    resolve_sub_config,
)
from r1omni.errors import CheckpointError, UsageError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r1omni_config.json"


@pytest.fixture()
def real_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "R1-Omni-0.5B"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / "config.json")
    return folder


def test_released_config_loads_unchanged_and_resolves_presets(real_folder: Path):
    raw = json.loads((real_folder / "config.json").read_text())
    cfg = load_config(real_folder)
    assert cfg.model_type == "HumanOmni_qwen2"
    # every key of the released file survives with its value (unknown extras included)
    for key in (
        "hyper_layers",
        "mm_tunable_parts",
        "tokenizer_padding_side",
        "freeze_mm_mlp_adapter",
        "use_mm_proj",
        "mm_vision_tower",
        "mm_audio_tower",
        "num_frames",
        "max_window_layers",
        "vocab_size",
    ):
        assert getattr(cfg, key) == raw[key], key
    assert cfg.rope_parameters["rope_theta"] == 1e6
    assert cfg.eos_token_id == 151645 and cfg.tie_word_embeddings
    # /mnt/... author paths resolve to the presets by name
    assert cfg.vision_config["hidden_size"] == 768 and cfg.vision_config["patch_size"] == 16
    assert cfg.audio_config["d_model"] == 1280 and cfg.audio_config["encoder_layers"] == 32
    assert cfg.audio_config["num_mel_bins"] == 128
    assert cfg.bert_config["hidden_size"] == 768 and cfg.bert_config["vocab_size"] == 30522
    # derived sizes
    assert (cfg.image_size, cfg.patch_grid) == (224, 14)
    assert (cfg.num_video_tokens, cfg.num_audio_tokens) == (392, 500)
    assert (cfg.audio_num_frames, cfg.audio_num_samples) == (3000, 480000)
    assert cfg.get_text_config() is cfg


def test_auto_config_reads_the_released_file(real_folder: Path):
    cfg = AutoConfig.from_pretrained(str(real_folder))
    assert isinstance(cfg, HumanOmniQwen2Config)
    assert cfg.hyper_layers == [15, 22]
    assert cfg.auto_map == {}


def test_folder_at_relative_tower_path_wins_over_preset(real_folder: Path):
    tower = real_folder / "towers" / "whisper-large-v3"
    tower.mkdir(parents=True)
    (tower / "config.json").write_text(
        json.dumps(
            {
                "model_type": "whisper",
                "d_model": 48,
                "num_mel_bins": 128,
                "encoder_layers": 1,
                "max_source_positions": 30,
            }
        )
    )
    vis = real_folder / "siglip-local"
    vis.mkdir()
    # a full SigLIP folder holds text + vision configs: only the vision part is used
    (vis / "config.json").write_text(
        json.dumps(
            {
                "model_type": "siglip",
                "text_config": {"hidden_size": 7},
                "vision_config": {"hidden_size": 40, "patch_size": 8, "image_size": 64},
            }
        )
    )
    data = json.loads(FIXTURE.read_text())
    data["mm_audio_tower"] = "towers/whisper-large-v3"
    data["mm_vision_tower"] = str(vis)  # absolute
    (real_folder / "config.json").write_text(json.dumps(data))
    cfg = load_config(real_folder)
    assert cfg.audio_config["d_model"] == 48 and cfg.num_audio_tokens == 10
    assert cfg.vision_config["hidden_size"] == 40 and cfg.patch_grid == 8
    assert "model_type" not in cfg.audio_config


def test_embedded_sub_config_wins_over_path(real_folder: Path):
    data = json.loads(FIXTURE.read_text())
    data["vision_config"] = {"hidden_size": 16, "image_size": 32, "patch_size": 8}
    (real_folder / "config.json").write_text(json.dumps(data))
    assert load_config(real_folder).vision_config["hidden_size"] == 16


def test_unknown_tower_path_is_one_line_checkpoint_error(real_folder: Path):
    data = json.loads(FIXTURE.read_text())
    data["mm_vision_tower"] = "/nowhere/my-vit"
    (real_folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError) as e:
        load_config(real_folder)
    assert "/nowhere/my-vit" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(CheckpointError):
        resolve_sub_config("audio", None, None)


def test_wrong_model_type_and_missing_config(tmp_path: Path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(CheckpointError, match="HumanOmni_qwen2"):
        load_config(tmp_path)


def test_presets_and_overrides():
    real = preset_config("r1-omni-0.5b")
    assert (real.hidden_size, real.num_hidden_layers, real.vocab_size, real.gate_hidden_size) == (
        896,
        24,
        151936,
        3584,
    )
    tiny = preset_config("tiny", vocab_size=300, bert_vocab_size=90)
    assert (tiny.hidden_size, tiny.num_hidden_layers, tiny.num_attention_heads, tiny.num_key_value_heads) == (
        64,
        2,
        4,
        2,
    )
    assert tiny.vocab_size == 300 and tiny.bert_config["vocab_size"] == 90
    assert (tiny.patch_grid, tiny.num_video_tokens, tiny.audio_num_frames, tiny.num_audio_tokens) == (4, 32, 120, 20)
    assert tiny.mm_hidden_size == tiny.vision_config["hidden_size"] == 32
    assert tiny.audio_hidden_size == tiny.audio_config["d_model"] == 32
    demo = preset_config("demo")
    assert (demo.image_size, demo.patch_grid, demo.num_video_tokens) == (128, 8, 128)
    assert (demo.audio_num_frames, demo.num_audio_tokens, demo.hidden_size) == (400, 66, 128)
    assert demo.tie_word_embeddings and demo.gate_hidden_size == 128
    with pytest.raises(UsageError, match="available"):
        preset_config("huge")


def test_saved_config_is_self_contained(tmp_path: Path):
    cfg = preset_config("tiny", vocab_size=300)
    cfg.save_pretrained(str(tmp_path))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["vision_config"]["hidden_size"] == 32
    assert saved["audio_config"]["max_source_positions"] == 60
    back = load_config(tmp_path)
    assert back.num_video_tokens == 32 and back.vocab_size == 300
