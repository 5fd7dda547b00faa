"""Decoding settings come from the checkpoint's generation_config.json; explicit arguments override them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from r1omni.inference import DEFAULT_MAX_NEW_TOKENS, Pipeline
from tests.media_factory import make_good_clip


@pytest.fixture(scope="module")
def media(tiny_pipeline, tmp_path_factory):
    return tiny_pipeline.encode(make_good_clip("mp4_h264_aac", tmp_path_factory.mktemp("gen")).path)


def _with_generation_config(src: Path, dst: Path, **settings) -> Pipeline:
    shutil.copytree(src, dst)
    gen = json.loads((dst / "generation_config.json").read_text()) | settings
    (dst / "generation_config.json").write_text(json.dumps(gen))
    return Pipeline.load(dst, device="cpu")


def test_checkpoint_settings_reach_generate(tiny_checkpoint, tiny_pipeline, media, tmp_path):
    (plain,) = tiny_pipeline.generate([media], max_new_tokens=24)
    assert len(set(plain)) < len(plain), "the random tiny model repeats tokens when greedy; the test needs that"
    pipe = _with_generation_config(tiny_checkpoint, tmp_path / "ck", no_repeat_ngram_size=1,
                                   repetition_penalty=1.3, max_new_tokens=24)
    assert pipe.model.generation_config.no_repeat_ngram_size == 1
    assert pipe.model.generation_config.repetition_penalty == 1.3
    (blocked,) = pipe.generate([media])  # no arguments: everything from the file
    assert len(blocked) == 24 and len(set(blocked)) == len(blocked)


def test_checkpoint_eos_list_stops_and_explicit_arguments_override(tiny_checkpoint, tiny_pipeline, media, tmp_path):
    (plain,) = tiny_pipeline.generate([media], max_new_tokens=6)
    first = plain[0]
    pipe = _with_generation_config(tiny_checkpoint, tmp_path / "ck", eos_token_id=[first, 1], max_new_tokens=3,
                                   do_sample=True, top_k=50, temperature=5.0)
    assert first in pipe.eos_ids
    assert pipe.generate([media], do_sample=False) == [[]]  # stops at the checkpoint's extra end id
    same = Pipeline.load(tiny_checkpoint, device="cpu")
    assert same.max_new_tokens() == DEFAULT_MAX_NEW_TOKENS == 2048  # no limit in the file: the original's 2048
    assert pipe.max_new_tokens() == 3 and pipe.max_new_tokens(7) == 7


def test_cut_completion_is_a_notice_and_counted(tiny_checkpoint, tiny_pipeline, media, tmp_path):
    (pred,) = tiny_pipeline.predict([media], max_new_tokens=5)
    assert pred.clipped and len(pred.completion_ids) == 5 and pred.label is None
    assert "stopped after 5 tokens, no answer (raise max_new_tokens)" in pred.notices
    assert pred.to_dict()["clipped"] is True
    pipe = _with_generation_config(tiny_checkpoint, tmp_path / "ck", max_new_tokens=4)
    (pred,) = pipe.predict([media])
    assert pred.clipped and len(pred.completion_ids) == 4


def test_generate_from_input_ids_with_a_repetition_penalty_as_trl_calls_it(tiny_checkpoint, media, tmp_path):
    """TRL's GRPO generation calls `model.generate(input_ids=..., **media)` with the prompt's placeholder ids
    (-201 / -202); a repetition penalty must not index the logits with them. The new tokens equal the
    pipeline's generation under the same settings (the penalty sees the generated tokens, as the original)."""
    pipe = _with_generation_config(tiny_checkpoint, tmp_path / "ck", repetition_penalty=1.3, max_new_tokens=12)
    (want,) = pipe.generate([media])
    batch = pipe.collate([media], [pipe.prompt_ids()])
    batch.pop("position_ids")
    ids = batch.pop("input_ids")
    assert bool((ids < 0).any())
    out = pipe.model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, eos_token_id=pipe.eos_ids,
                              pad_token_id=pipe.pad_id, **batch)
    assert out.shape[0] == 1 and out[0, : ids.shape[1]].tolist() == ids[0].tolist()  # prompt + new, as HF returns
    new = out[0, ids.shape[1] :].tolist()
    assert pipe._strip_end(new) == want
    # the dict form TRL or callers may ask for carries the same sequences
    res = pipe.model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, eos_token_id=pipe.eos_ids,
                              pad_token_id=pipe.pad_id, return_dict_in_generate=True, **batch)
    assert torch.equal(res.sequences, out)


def test_a_trained_copy_keeps_the_decoding_settings_it_was_loaded_with(tiny_checkpoint, tmp_path):
    """Fine-tuning a checkpoint and saving it keeps its decoding settings (a trainer's own sampling
    settings on `model.generation_config` are not written)."""
    from r1omni.checkpoint import load_model, load_tokenizers, save_checkpoint

    src = tmp_path / "src"
    _with_generation_config(tiny_checkpoint, src, no_repeat_ngram_size=4, repetition_penalty=1.1, max_new_tokens=64)
    model = load_model(src, device="cpu")
    model.generation_config.do_sample = True  # what a trainer may set for its own sampling
    model.generation_config.temperature = 0.7
    tok, btok = load_tokenizers(src)
    save_checkpoint(model, tmp_path / "out", tokenizer=tok, bert_tokenizer=btok)
    gen = json.loads((tmp_path / "out" / "generation_config.json").read_text())
    assert (gen["no_repeat_ngram_size"], gen["repetition_penalty"], gen["max_new_tokens"]) == (4, 1.1, 64)
    assert "do_sample" not in gen and "temperature" not in gen
    assert gen["eos_token_id"] == model.config.eos_token_id
