"""The demo build's reuse of an earlier checkpoint, its clip cache and its tokenizer corpus (training/demo.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from r1omni.prompts import DEFAULT_QUESTION, DEFAULT_SYSTEM
from training.demo import (
    ClipStore,
    DemoSettings,
    build_tokenizers_for_demo,
    init_from_checkpoint,
    resolve_init_from,
    store_cached,
)

REPO = Path(__file__).resolve().parents[2]
OLD = "a5423a0"  # the demo checkpoint trained on the ~70-sentence bank (another vocabulary: transplant tests)
INIT = "2b35da7"  # the first free-form build, the recipe's init_from


def _has_revision(rev: str) -> bool:
    return subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{rev}^{{commit}}"],
                          capture_output=True).returncode == 0


def test_recipe_settings_load_and_name_the_init_checkpoint() -> None:
    s = DemoSettings.from_recipe()
    assert s.init_from == f"git:{INIT}:assets/demo-checkpoint"
    assert OLD in s.init_from_note  # the card says where the chain started
    assert s.no_repeat_ngram_size == 4
    assert s.lm_vocab_size >= 1024 and s.sft_steps > 0


@pytest.fixture(scope="module")
def old_checkpoint(tmp_path_factory) -> Path:
    if not _has_revision(OLD):
        pytest.skip("shallow clone: the old demo checkpoint's revision is not in this history")
    return resolve_init_from(f"git:{OLD}:assets/demo-checkpoint", tmp_path_factory.mktemp("init"))


def test_git_revision_is_written_out_as_a_checkpoint_folder(old_checkpoint: Path) -> None:
    names = {p.name for p in old_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "bert_tokenizer"} <= names
    blob = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD}:assets/demo-checkpoint/model.safetensors"],
                          capture_output=True, check=True).stdout
    assert (old_checkpoint / "model.safetensors").read_bytes() == blob
    assert resolve_init_from(str(old_checkpoint), Path("/nonexistent")) == old_checkpoint  # a plain folder


def test_init_copies_fitting_tensors_and_transplants_embeddings(old_checkpoint: Path) -> None:
    from safetensors.torch import load_file

    from r1omni.checkpoint import load_tokenizers
    from r1omni.config import preset_config
    from r1omni.modeling import HumanOmniQwen2ForCausalLM

    tok, _ = build_tokenizers_for_demo(DEFAULT_QUESTION, DEFAULT_SYSTEM, 2048)
    old_tok, gate_tok = load_tokenizers(old_checkpoint)
    assert len(tok) > len(old_tok)  # the grammar's vocabulary is larger than the old bank's
    config = preset_config("demo", vocab_size=len(tok), bert_vocab_size=len(gate_tok))
    torch.manual_seed(0)
    model = HumanOmniQwen2ForCausalLM(config)
    info = init_from_checkpoint(model, tok, old_checkpoint)
    old = load_file(str(old_checkpoint / "model.safetensors"))
    own = model.state_dict()
    for name in ("model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight",
                 "model.layers.0.mlp.up_proj.weight", "model.mm_projector.mlp_2xgelu_face.0.weight"):
        assert torch.equal(own[name], old[name]), name
    assert info["tensors"] == len(own) - 2  # all but the (tied) embeddings
    emb, old_emb = own["model.embed_tokens.weight"], old["model.embed_tokens.weight"]
    shared = next(t for t in (".", "Ġthe", "<think>") if t in tok.get_vocab() and t in old_tok.get_vocab())
    assert torch.equal(emb[tok.convert_tokens_to_ids(shared)], old_emb[old_tok.convert_tokens_to_ids(shared)])
    new_word = next(t for t in tok.get_vocab() if t not in old_tok.get_vocab() and t.startswith("Ġ") and len(t) > 6)
    pieces = old_tok.encode(tok.convert_tokens_to_string([new_word]), add_special_tokens=False)
    assert len(pieces) >= 2
    assert torch.allclose(emb[tok.convert_tokens_to_ids(new_word)], old_emb[pieces].mean(0))
    assert torch.equal(own["lm_head.weight"], emb)  # tied


def test_clip_store_is_cached_on_disk(tmp_path: Path) -> None:
    from r1omni.config import preset_config

    config = preset_config("demo")
    first = store_cached(4, 11, config, tmp_path)
    (cached,) = tmp_path.glob("clips-4-11-*.npz")
    stamp = cached.stat().st_mtime_ns
    again = store_cached(4, 11, config, tmp_path)
    assert cached.stat().st_mtime_ns == stamp  # read back, not rendered and written again
    assert isinstance(again, ClipStore) and again.specs == first.specs
    assert np.array_equal(again.frames, first.frames) and torch.equal(again.mels, first.mels)


def test_tokenizer_corpus_leaves_held_out_wording_out() -> None:
    import re

    from r1omni.synthetic import corpus_lines
    from r1omni.synthetic import grammar as g

    tok, _ = build_tokenizers_for_demo(DEFAULT_QUESTION, DEFAULT_SYSTEM, 2048)
    vocab = tok.get_vocab()
    held_words = {w for key in g.CORES for p in g.phrasings(key, "heldout") for w in p.split()}
    train_words = set(re.findall(r"[a-z']+", " ".join(corpus_lines("train", samples=0)).lower()))
    only_held = sorted(held_words - train_words)
    assert only_held, "the held-out phrasings use words of their own"
    assert all(f"Ġ{w}" not in vocab for w in only_held if len(w) > 6), [w for w in only_held if f"Ġ{w}" in vocab]
    for w in only_held:  # byte-level BPE still encodes them, from pieces learnt on training wording
        assert tok.decode(tok.encode(" " + w, add_special_tokens=False)) == " " + w
