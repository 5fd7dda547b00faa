"""Teacher forcing and the class distribution at R1-Omni's real vocabulary size (151,936), Qwen2 pre-tokenizer.

Memory: no op may create a (rows x positions x vocabulary) float tensor (checked by recording every tensor
the ops create), and the class distribution feeds each row's continuation once, forking only label tokens.
Labels: `<answer>label</answer>` is scored with the tokens the joint text tokenises to.
"""

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from r1omni.inference import GenerationState
from r1omni.logprobs import head_logprobs
from r1omni.media import Clip
from tests.realsize import REAL_VOCAB_SIZE, realsize_pipeline

LABELS = ("happy", "surprise", "neutral", "angry", "disgust", "sad", "fear")


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any op creates."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.largest = max(self.largest, t.numel())
        return out


@pytest.fixture(scope="module")
def pipe():
    return realsize_pipeline(seed=0)


def _clip(seed: int) -> Clip:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    wave = (0.3 * np.sin(np.arange(32000) * 0.05 * (1 + seed)) + 0.05 * rng.standard_normal(32000)).astype(np.float32)
    return Clip(f"clip{seed}.mp4", frames, list(range(8)), [i * 0.25 for i in range(8)], wave, 2.0, True, True)


@pytest.fixture(scope="module")
def media(pipe):
    return [pipe.encode(_clip(s)) for s in range(3)]


def test_head_logprobs_equal_log_softmax_at_real_vocab(pipe):
    head = pipe.model.get_output_embeddings()
    assert head.weight.shape[0] == REAL_VOCAB_SIZE
    hidden = torch.randn(37, head.weight.shape[1])
    targets = torch.randint(0, REAL_VOCAB_SIZE, (37, 3))
    want = torch.log_softmax(hidden @ head.weight.T, -1).gather(-1, targets)
    assert torch.allclose(head_logprobs(hidden, head, targets), want, atol=1e-4)


def test_teacher_forcing_never_holds_vocab_sized_logits(pipe, media):
    texts = ["<think>the face smiles and the voice is bright and quick today.</think>\n<answer>happy</answer>"] * 6
    comps = [pipe.completion_ids(t) for t in texts]
    n = len(comps[0]) + 1
    rec = _LargestTensor()
    with rec:
        got = pipe.token_logprobs(media * 2, comps, batch_size=6)
    assert rec.largest < 6 * n * REAL_VOCAB_SIZE / 4  # the old path made (6, n, V) logits and their log-softmax
    # and the numbers are those of a plain forward's log-softmax
    seq = pipe.prompt_ids() + comps[0]
    with torch.no_grad():
        logits = pipe.model(**pipe.collate(media[:1], [seq])).logits[0].float()
    want = torch.log_softmax(logits[-n:-1], -1).gather(-1, torch.tensor(comps[0])[:, None])[:, 0]
    assert torch.allclose(got[0], want, atol=1e-4)


def _state(pipe, media, texts):
    """What generate() leaves for these completions (prompt + generated block, all but the last column fed)."""
    comps = [pipe.completion_ids(t) for t in texts]
    width = max(map(len, comps))
    prompt = pipe.prompt_ids()
    rows = [prompt + c + [pipe.pad_id] * (width - len(c)) for c in comps]
    batch = pipe.collate(media, rows)
    mask = batch["attention_mask"].clone()
    for i, c in enumerate(comps):
        mask[i, len(prompt) + len(c) :] = 0
    fed = {k: (v[:, :-1] if k in ("input_ids", "position_ids") else v) for k, v in batch.items()}
    fed["attention_mask"] = mask[:, :-1]
    fed["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)[:, :-1]
    with torch.no_grad():
        cache = pipe.model(**fed, use_cache=True, logits_to_keep=1).cache
    return GenerationState(cache, batch["attention_mask"][:, : len(prompt)], comps, width)


def test_class_distribution_feeds_each_continuation_once(pipe, media):
    """Rows of very different lengths: the long row's rest of reasoning is fed once, not once per label."""
    texts = ["<think>calm.</think>\n<answer>",
             "<think>the eyebrows rise, the mouth opens wide and the voice jumps up in pitch all of a sudden."
             " the hands fly up.</think>\n<answer>", "<think>flat voice.</think>\n<answer>"]
    state = _state(pipe, media, texts)
    fed: list[tuple[int, int]] = []
    inner = pipe.model.model
    original = inner.forward

    def counting(*args, **kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None:
            fed.append(tuple(ids.shape))
        return original(*args, **kwargs)

    inner.forward = counting
    rec = _LargestTensor()
    try:
        with rec:
            from_cache = pipe.label_distribution(media, texts, LABELS, state=state)
    finally:
        del inner.forward
    longest = max(len(pipe.completion_ids(t)) for t in texts) - min(len(pipe.completion_ids(t)) for t in texts)
    label_tokens = max(len(pipe.completion_ids(f"<answer>{lab}</answer>")) for lab in LABELS)
    positions = sum(b * w for b, w in fed)
    assert positions <= len(texts) * (longest + 2) + len(texts) * len(LABELS) * label_tokens
    assert rec.largest < len(texts) * len(LABELS) * longest * REAL_VOCAB_SIZE / 4
    fresh = pipe.label_distribution(media, texts, LABELS)
    for a, b in zip(from_cache, fresh, strict=True):
        for lab in LABELS:
            assert a[lab] == pytest.approx(b[lab], abs=1e-4)


def test_labels_are_scored_with_the_joint_tokenisation(pipe, media):
    """p(label) = softmax over labels of log p(completion + label + </answer>) under the joint tokens."""
    prefix = "<think>the mouth turns up.</think>\n<answer>"
    assert pipe.completion_ids(prefix + "happy</answer>")[:-3] != pipe.completion_ids(prefix)  # `>happy` merges
    texts = [prefix + "x", prefix + "y</answer>"]
    dists = pipe.label_distribution(media[:2], texts, LABELS)
    joint = [pipe.completion_ids(prefix + f"{lab}</answer>") for lab in LABELS]
    for m, dist in zip(media[:2], dists, strict=True):
        totals = torch.stack([lp.sum() for lp in pipe.token_logprobs([m] * len(LABELS), joint)])
        want = torch.softmax(totals, 0)
        for lab, p in zip(LABELS, want, strict=True):
            assert dist[lab] == pytest.approx(float(p), abs=1e-4)
    # the same from a generation cache whose last generated tokens merge differently with the label
    state = _state(pipe, media[:2], texts)
    for a, b in zip(pipe.label_distribution(media[:2], texts, LABELS, state=state), dists, strict=True):
        for lab in LABELS:
            assert a[lab] == pytest.approx(b[lab], abs=1e-4)


def test_bf16_scoring_adds_no_error_beyond_the_bf16_forward():
    """In bf16 the LM head and log-probs run in float32: the scores equal the exact log-softmax of the bf16
    model's final hidden states to within a tenth of the smallest claim-flag threshold (in nats)."""
    import copy

    from r1omni.explain.flags import FlagThresholds
    from r1omni.inference import Pipeline

    t = FlagThresholds()
    tol = min(t.abs_eps, t.token_eps, t.neutral_eps) / 10
    p = realsize_pipeline(seed=1, qwen2_pretokenizer=False)
    with torch.no_grad():  # logits spread like a trained LM's (log-probs around -13, top logits ~ 20)
        p.model.model.embed_tokens.weight.mul_(8)
    bf = Pipeline(copy.deepcopy(p.model).to(torch.bfloat16), p.tokenizer, p.bert_tokenizer, "bf16", p.device)
    m = bf.encode(_clip(0))
    comp = bf.completion_ids("<think>the face smiles. the voice is bright and fast.</think><answer>happy</answer>")
    seen = {}
    hook = bf.model.model.norm.register_forward_hook(lambda mod, inp, out: seen.__setitem__("h", out))
    try:
        got = bf.token_logprobs([m, bf.mask(m, audio=True)], [comp, comp])
    finally:
        hook.remove()
    n = len(comp)
    with torch.no_grad():
        weight = bf.model.get_output_embeddings().weight.float()
        exact = torch.log_softmax(seen["h"][:, -n - 1 : -1].float() @ weight.T, -1)
        want = exact.gather(-1, torch.tensor(comp)[None, :, None].expand(2, -1, 1))[..., 0]
    err = max(float((g - w).abs().max()) for g, w in zip(got, want, strict=True))
    sentence_err = max(float((g - w).sum().abs()) for g, w in zip(got, want, strict=True))
    assert err < tol and sentence_err < tol, (err, sentence_err)
