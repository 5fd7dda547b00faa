"""Training rows from both manifest formats, and the SFT collator's masking and media tensors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from r1omni.errors import UsageError
from r1omni.prompts import AUDIO_TOKEN_INDEX, VIDEO_TOKEN_INDEX
from training.data import MediaEncoder, SFTCollator, grpo_records, load_rows, sft_records


def test_r1omni_json_rows(tmp_path: Path) -> None:
    data = [
        {"video": "DFEW/videos/1.mp4", "conversations": [
            {"from": "human", "value": "<video>\n<audio>\nWhich emotion?"},
            {"from": "gpt", "value": "<think>The brows drop.</think>\n<answer>angry</answer>"}]},
        {"video": "MAFW/2.mp4", "conversations": [{"from": "human", "value": "<video>\nQ?"},
                                                  {"from": "gpt", "value": "sad"}]},
    ]
    (tmp_path / "train.json").write_text(json.dumps(data))
    rows = load_rows(tmp_path / "train.json")
    assert [r.label for r in rows] == ["angry", "sad"]
    assert rows[0].question == "Which emotion?" and rows[0].target.startswith("<think>")
    assert rows[1].target is None and rows[1].solution == "<answer> sad </answer>"
    assert rows[0].path == (tmp_path / "DFEW/videos/1.mp4").resolve()
    with pytest.raises(UsageError, match="response"):
        sft_records(rows[1:])  # a bare label cannot be an SFT reasoning target


def test_bad_json_manifest_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(UsageError):
        load_rows(tmp_path / "x.json")


@pytest.fixture(scope="module")
def synth_manifest(tmp_path_factory) -> Path:
    from r1omni.synthetic import generate_clips

    return generate_clips(tmp_path_factory.mktemp("clips"), 2, seed=11)


def test_synthetic_csv_rows_give_truthful_targets_and_grpo_columns(synth_manifest: Path) -> None:
    from r1omni.synthetic import check_claims

    rows = load_rows(synth_manifest)
    records = sft_records(rows)
    for row, rec in zip(rows, records, strict=True):
        n_true, n_total = check_claims(rec["target"], {"label": row.label, **row.meta})
        assert n_total > 0 and n_true == n_total
        assert rec["target"].endswith(f"<answer>{row.label}</answer>")
    grpo = grpo_records(rows)
    assert grpo[0]["solution"] == f"<answer> {rows[0].label} </answer>" and "cue_modality" in grpo[0]


def test_sft_collator_masks_prompt_and_builds_media(synth_manifest: Path) -> None:
    from r1omni.tokenization import tiny_model_and_tokenizers

    model, tok, bert_tok = tiny_model_and_tokenizers()
    cfg = model.config
    collate = SFTCollator(tok, MediaEncoder(cfg, bert_tok, pixel_mode="pad"))
    batch = collate(sft_records(load_rows(synth_manifest)))
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape == batch["attention_mask"].shape and ids.shape[0] == 2
    for i in range(2):
        assert int((ids[i] == VIDEO_TOKEN_INDEX).sum()) == cfg.num_video_tokens
        assert int((ids[i] == AUDIO_TOKEN_INDEX).sum()) == cfg.num_audio_tokens
        supervised = labels[i] != -100
        assert not bool((ids[i][supervised] < 0).any())  # placeholders are never targets
        first = int(supervised.nonzero()[0])
        assert bool((labels[i, :first] == -100).all())
        assert tok.decode(labels[i][supervised]).endswith("</answer>" + tok.eos_token)
    assert batch["pixel_values_videos"].shape == (2, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    assert batch["input_features"].shape == (2, 128, cfg.audio_num_frames)
    assert batch["gate_input_ids"].shape[0] == 2
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items()})
    assert torch.isfinite(out.loss)


def test_media_cache_holds_a_byte_budget_least_recent_out(tmp_path_factory) -> None:
    from r1omni.synthetic import generate_clips
    from r1omni.tokenization import tiny_model_and_tokenizers

    manifest = generate_clips(tmp_path_factory.mktemp("cache_clips"), 4, seed=12)
    paths = [str(r.path) for r in load_rows(manifest)]
    model, _, bert_tok = tiny_model_and_tokenizers()
    one = MediaEncoder(model.config, bert_tok, cache=False).encode_row({"path": paths[0]}).nbytes
    encoder = MediaEncoder(model.config, bert_tok, cache_mb=2.5 * one / 2**20)  # room for two clips
    cache = encoder._cache
    for p in paths:
        encoder.encode_row({"path": p})
        assert cache.nbytes <= cache.max_bytes
    assert len(cache) == 2 and cache.evictions == 2 and cache.misses == 4
    kept = encoder.encode_row({"path": paths[-1]})  # most recent: a hit, the same tensors
    assert cache.hits == 1 and kept is encoder.encode_row({"path": paths[-1]})
    encoder.encode_row({"path": paths[0]})  # evicted long ago: decoded again
    assert cache.misses == 5 and len(cache) == 2
    assert MediaEncoder(model.config, bert_tok, cache_mb=0)._cache is None


def test_decoding_in_recycled_child_processes_gives_the_same_tensors_and_errors(tmp_path_factory) -> None:
    from r1omni.errors import R1OmniError
    from r1omni.synthetic import generate_clips
    from r1omni.tokenization import tiny_model_and_tokenizers
    from training.data import DecodePool

    manifest = generate_clips(tmp_path_factory.mktemp("pool_clips"), 3, seed=13)
    rows = [{"path": str(r.path)} for r in load_rows(manifest)]
    model, _, bert_tok = tiny_model_and_tokenizers()
    here = MediaEncoder(model.config, bert_tok, cache=False)(rows)
    pooled = MediaEncoder(model.config, bert_tok, cache=False, decode_workers=1)
    pooled._pool = DecodePool(1, recycle=2)  # a fresh child after every two clips
    there = pooled(rows + rows[:1])
    for key in ("pixel_values_videos", "input_features"):
        assert torch.equal(here[key], there[key][:3]) and torch.equal(there[key][3], here[key][0])
    bad = manifest.parent / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(R1OmniError):
        pooled([{"path": str(bad)}])
    pooled._pool.close()
