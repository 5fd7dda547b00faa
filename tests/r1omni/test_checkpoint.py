"""Checkpoint I/O: init -> strict load, key errors, pickle refusal, shards, resolve, save round trip, tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from r1omni.checkpoint import (
    init_checkpoint,
    layout,
    load_model,
    load_tokenizers,
    resolve_checkpoint,
    save_checkpoint,
)
from r1omni.errors import CheckpointError
from r1omni.tokenization import tiny_model_and_tokenizers


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    return init_checkpoint("tiny", tmp_path_factory.mktemp("ck") / "tiny", dtype="float32", seed=3)


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_init_checkpoint_loads_back_exactly(tiny_ckpt: Path):
    files = {p.name for p in tiny_ckpt.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "bert_tokenizer"} <= files
    stored = load_file(str(tiny_ckpt / "model.safetensors"))
    assert sorted(stored) == sorted(n for n, _ in layout(json_config(tiny_ckpt)))
    model = load_model(tiny_ckpt, device="cpu")
    assert model.dtype == torch.float32 and not model.training
    sd = model.state_dict()
    for k, v in stored.items():
        assert torch.equal(sd[k], v), k
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32 and not model.model.rotary_emb.inv_freq.is_meta
    cfg = json.loads((tiny_ckpt / "config.json").read_text())
    assert cfg["model_type"] == "HumanOmni_qwen2" and cfg["vision_config"]["image_size"] == 32
    assert "random" in (tiny_ckpt / "README.md").read_text()
    lm_tok, bert_tok = load_tokenizers(tiny_ckpt)
    assert len(lm_tok) == model.config.vocab_size and len(bert_tok) == model.config.bert_config["vocab_size"]
    assert lm_tok.eos_token == "<|im_end|>" and lm_tok.chat_template


def json_config(folder: Path):
    from r1omni.config import load_config

    return load_config(folder)


def test_load_in_bf16_keeps_rotary_in_fp32(tiny_ckpt: Path):
    model = load_model(tiny_ckpt, device="cpu", dtype="bf16")
    assert model.model.embed_tokens.weight.dtype == torch.bfloat16
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32


def test_missing_unexpected_and_wrong_shape_keys_are_named(tiny_ckpt: Path, tmp_path: Path):
    sd = load_file(str(tiny_ckpt / "model.safetensors"))
    folder = _copy(tiny_ckpt, tmp_path / "broken")
    removed = "model.mm_projector.s1_video.b1.se.fc1.weight"
    save_file({k: v for k, v in sd.items() if k != removed}, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError) as e:
        load_model(folder)
    assert "1 missing" in str(e.value) and removed in str(e.value) and "\n" not in str(e.value)
    save_file(sd | {"model.extra.weight": torch.zeros(2)}, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"1 unexpected \(model\.extra\.weight\)"):
        load_model(folder)
    bad = dict(sd)
    bad["model.audio_projector.0.weight"] = torch.zeros(64, 48)
    save_file(bad, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"wrong shape .*audio_projector\.0\.weight \[64, 48\] vs \[64, 32\]"):
        load_model(folder)


def test_pickle_weights_refused_without_opt_in(tiny_ckpt: Path, tmp_path: Path):
    folder = _copy(tiny_ckpt, tmp_path / "pickled")
    sd = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(sd, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="allow-pickle"):
        load_model(folder)
    model = load_model(folder, allow_pickle=True)
    assert torch.equal(model.state_dict()["model.norm.weight"], sd["model.norm.weight"])


def test_sharded_checkpoint_loads(tiny_ckpt: Path, tmp_path: Path):
    folder = _copy(tiny_ckpt, tmp_path / "sharded")
    sd = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    keys = sorted(sd)
    halves = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    weight_map = {}
    for name, ks in halves.items():
        save_file({k: sd[k] for k in ks}, str(folder / name))
        weight_map.update({k: name for k in ks})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    model = load_model(folder)
    for k, v in sd.items():
        assert torch.equal(model.state_dict()[k], v)
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing shard"):
        load_model(folder)


def test_not_safetensors_and_no_weights(tiny_ckpt: Path, tmp_path: Path):
    folder = _copy(tiny_ckpt, tmp_path / "lfs")
    (folder / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights"):
        load_model(folder)


def test_resolve_checkpoint(tiny_ckpt: Path, tmp_path: Path):
    assert resolve_checkpoint(tiny_ckpt) == tiny_ckpt.resolve()
    with pytest.raises(CheckpointError, match="not a local folder.*network"):
        resolve_checkpoint("StarJiaxing/R1-Omni-0.5B")
    with pytest.raises(CheckpointError, match="not found"):
        resolve_checkpoint(tmp_path / "absent")
    with pytest.raises(CheckpointError, match="is a file"):
        resolve_checkpoint(tiny_ckpt / "config.json")
    with pytest.raises(CheckpointError, match="no config.json"):
        resolve_checkpoint(tmp_path)


def test_save_checkpoint_round_trip(tmp_path: Path):
    model, lm_tok, bert_tok = tiny_model_and_tokenizers(seed=5)
    out = save_checkpoint(model, lm_tok, bert_tok, tmp_path / "mine")
    alt = save_checkpoint(model, tmp_path / "alt", tokenizer=lm_tok, bert_tokenizer=bert_tok)
    assert (alt / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    assert "lm_head.weight" not in load_file(str(out / "model.safetensors"))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["bert_tokenizer_path"] == "bert_tokenizer" and cfg["audio_config"]["max_source_positions"] == 60
    back = load_model(out)
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    lm2, bert2 = load_tokenizers(out)
    assert lm2("I feel happy")["input_ids"] == lm_tok("I feel happy")["input_ids"]
    assert bert2("I feel happy")["input_ids"] == bert_tok("I feel happy")["input_ids"]


def test_missing_bert_tokenizer_is_one_line(tiny_ckpt: Path, tmp_path: Path):
    folder = _copy(tiny_ckpt, tmp_path / "nobert")  # files only: bert_tokenizer/ not copied
    with pytest.raises(CheckpointError, match="no BERT tokenizer"):
        load_tokenizers(folder)


def test_auto_classes_and_pipeline_build_the_same_model_with_relative_tower_folders(tmp_path: Path, monkeypatch):
    """DESIGN 3.1: tower folders given relative to the checkpoint resolve the same way for every loader."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from r1omni.config import _tiny, load_config
    from r1omni.inference import Pipeline

    vision = dict(_tiny()["vision_config"], num_hidden_layers=2, hidden_size=24, intermediate_size=48)
    audio = dict(_tiny()["audio_config"], encoder_layers=2, max_source_positions=30)
    folder = init_checkpoint("tiny", tmp_path / "ck", dtype="float32", vision_config=vision, audio_config=audio,
                             mm_hidden_size=24)
    for rel, sub in (("towers/siglip-small", vision), ("towers/whisper-small", audio)):
        (folder / rel).mkdir(parents=True)
        (folder / rel / "config.json").write_text(json.dumps(sub))
    data = json.loads((folder / "config.json").read_text())
    del data["vision_config"], data["audio_config"]
    data |= {"mm_vision_tower": "towers/siglip-small", "mm_audio_tower": "towers/whisper-small"}
    (folder / "config.json").write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)  # the relative paths must resolve against the checkpoint, not the cwd

    auto_cfg = AutoConfig.from_pretrained(str(folder))
    ours = load_config(folder)
    assert auto_cfg.vision_config["num_hidden_layers"] == ours.vision_config["num_hidden_layers"] == 2
    assert auto_cfg.audio_config["max_source_positions"] == ours.audio_config["max_source_positions"] == 30
    assert auto_cfg.to_dict() | {"_name_or_path": ""} == ours.to_dict() | {"_name_or_path": ""}

    auto = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    pipe = Pipeline.load(folder, device="cpu", dtype=torch.float32)
    a, b = auto.state_dict(), pipe.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert pipe.n_audio_tokens == 10
    # and the same decoding settings: both read generation_config.json
    assert auto.generation_config.to_dict() == pipe.model.generation_config.to_dict()
