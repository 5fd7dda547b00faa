"""The one fork engine (r1omni.logprobs.fork_logprobs): forked scores equal plain teacher forcing under every
attention implementation the model runs with here (eager and sdpa), by the tree mask and by repeated rows."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from r1omni import logprobs
from r1omni.continuations import continuation_logprobs, fork_point
from r1omni.media import Clip
from r1omni.scoring import ScoringSession

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("happy", "sad", "neutral", "angry", "surprise")


@pytest.fixture(scope="module")
def pipe():
    from r1omni.inference import Pipeline
    from r1omni.tokenization import tiny_model_and_tokenizers

    model, tok, btok = tiny_model_and_tokenizers(seed=0)
    p = Pipeline(model, tok, btok, "tiny", torch.device("cpu"))
    yield p
    model.set_attn_implementation("sdpa")


def _clip(seed: int, audio: bool = True) -> Clip:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    n = 16000 * 4
    wave = (0.3 * np.sin(np.arange(n) * 0.05) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    return Clip(f"clip{seed}.mp4", frames, list(range(8)), [i * 0.5 for i in range(8)], wave if audio else None,
                4.0, True, audio)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("tree", [True, False])
def test_forked_claim_scores_equal_plain_teacher_forcing(pipe, impl, tree, monkeypatch) -> None:
    pipe.model.set_attn_implementation(impl)
    assert logprobs.attention_implementation(pipe.model) == impl
    monkeypatch.setattr(logprobs, "TREE_MASK_ATTENTION", frozenset({impl}) if tree else frozenset())
    media = [pipe.encode(_clip(1)), pipe.encode(_clip(2, audio=False))]
    prefixes = ["<think>the brow is low.", "<think>"]
    cands = [[" the voice trembles.", " so", " the mouth curves up into a smile."], ["the face looks sad."]]
    uncached = continuation_logprobs(pipe, media, prefixes, cands, batch_size=2)
    # a cached session: the completion is kept, the forks continue its KV without a forward of the prefix
    session = ScoringSession(pipe)
    forks = [fork_point(pipe.tokenizer, p, c) for p, c in zip(prefixes, cands, strict=True)]
    session.token_logprobs(media, [f[0] for f in forks], keep=[True, True])
    cached = continuation_logprobs(pipe, media, prefixes, cands, batch_size=2, session=session)
    for m, (shared, owns), a, b in zip(media, forks, uncached, cached, strict=True):
        for own, s_plain, s_cached in zip(owns, a, b, strict=True):
            ref = float(pipe.token_logprobs([m], [shared + own])[0][len(shared):].sum())
            assert s_plain == pytest.approx(ref, abs=1e-4)
            assert s_cached == pytest.approx(ref, abs=1e-4)


def test_label_distribution_is_the_same_under_eager_and_sdpa_and_both_fork_ways(pipe, monkeypatch) -> None:
    media = [pipe.encode(_clip(3)), pipe.encode(_clip(4))]
    texts = ["<think>The voice is slow.</think>\n<answer>sad", "<think>The eyes widen and the brow lifts.</think>"]
    got = {}
    for impl in ("sdpa", "eager"):
        pipe.model.set_attn_implementation(impl)
        for tree in (True, False):
            monkeypatch.setattr(logprobs, "TREE_MASK_ATTENTION", frozenset({impl}) if tree else frozenset())
            got[impl, tree] = pipe.label_distribution(media, texts, LABELS)
    # the reference: p(label) from plain teacher forcing of each whole answer
    pipe.model.set_attn_implementation("sdpa")
    for i, (m, t) in enumerate(zip(media, texts, strict=True)):
        from r1omni.inference import _answer_prefix

        prefix = pipe.completion_ids(_answer_prefix(t))
        sums = []
        for lab in LABELS:
            full = pipe.completion_ids(_answer_prefix(t) + f"{lab}</answer>")
            shared = min(len(prefix), max(j for j in range(len(full) + 1) if full[:j] == prefix[:j]))
            sums.append(float(pipe.token_logprobs([m], [full])[0][shared:].sum()))
        ref = torch.softmax(torch.tensor(sums), -1)
        for key, dists in got.items():
            assert [dists[i][lab] for lab in LABELS] == pytest.approx(ref.tolist(), abs=1e-4), key


def _module_imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_no_import_cycle_between_inference_and_scoring() -> None:
    assert "r1omni.inference" not in _module_imports(ROOT / "r1omni" / "scoring.py")
    assert "r1omni.scoring" not in _module_imports(ROOT / "r1omni" / "inference.py")
    assert not {m for m in _module_imports(ROOT / "r1omni" / "logprobs.py") if m.startswith("r1omni")}
