"""Per-checkpoint work once per process: baselines, gate and counterfactual bank are kept against the loaded
model (r1omni.model_cache), whatever wrapper a caller adds (the app wraps the pipeline per request)."""

from __future__ import annotations

import numpy as np
import pytest

from r1omni import model_cache
from r1omni.explain import explain
from r1omni.inference import Pipeline
from r1omni.ui.backend import Backend
from tests.media_factory import make_good_clip


class TowerCalls:
    """Forward hooks on the towers' first layers (SigLIP patch embedding, Whisper encoder layer 0): how many
    times each tower ran (the tiny SigLIP stops before its encoder layers)."""

    def __init__(self, pipe):
        mm = pipe.model.model
        self.counts = {"video": 0, "audio": 0}
        self._hooks = [
            mm.vision_tower.vision_tower.vision_model.embeddings.register_forward_hook(self._hit("video")),
            mm.audio_tower.audio_tower.encoder.layers[0].register_forward_hook(self._hit("audio")),
        ]

    def _hit(self, tower):
        def hook(*_):
            self.counts[tower] += 1
        return hook

    def take(self) -> dict:
        out, self.counts = self.counts, {"video": 0, "audio": 0}
        return out

    def close(self):
        for h in self._hooks:
            h.remove()


@pytest.fixture
def fresh_pipe(tiny_checkpoint):
    """A pipeline of its own (its model has never been explained in this process)."""
    return Pipeline.load(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> str:
    return str(make_good_clip("mp4_h264_aac", tmp_path_factory.mktemp("once")).path)


def _strip_timings(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("timings_ms", "cost")}


def test_baselines_run_once_per_process_through_the_backend_and_the_pipeline(fresh_pipe, clip_path) -> None:
    backend = Backend(fresh_pipe)
    towers = TowerCalls(fresh_pipe)
    try:
        per_request = []
        for _ in range(3):
            backend.explain_clip(clip_path, mode="fast", max_new_tokens=8)
            per_request.append(towers.take())
        direct = []
        for _ in range(3):
            explain(fresh_pipe, [clip_path], mode="fast", max_new_tokens=8)
            direct.append(towers.take())
    finally:
        towers.close()
    # the clip's own towers run once per request (predict); the grey-frame and silence baselines once, in the
    # first request only: later requests, through a new wrapper or the pipeline itself, run one call fewer
    first, later = per_request[0], per_request[1:] + direct
    assert all(c == later[0] for c in later), per_request + direct
    assert first == {"video": later[0]["video"] + 1, "audio": later[0]["audio"] + 1}, per_request + direct
    assert later[0] == {"video": 1, "audio": 1}  # the clip itself, in the prediction
    assert model_cache.peek(backend.pipeline, ("scoring baselines",)) is not None


def test_a_cached_explanation_equals_an_uncached_one(fresh_pipe, tiny_checkpoint, clip_path) -> None:
    warm = [explain(fresh_pipe, [clip_path], mode=mode, max_new_tokens=8)[0].to_dict() for mode in ("fast", "full")]
    for mode, got in zip(("fast", "full"), warm, strict=True):
        cold_pipe = Pipeline.load(tiny_checkpoint, device="cpu")  # nothing cached for this model yet
        (cold,) = explain(cold_pipe, [clip_path], mode=mode, max_new_tokens=8)
        cold = cold.to_dict()
        a, b = _strip_timings(got), _strip_timings(cold)
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], (int, float)) and not isinstance(a[k], bool):
                assert a[k] == pytest.approx(b[k], abs=1e-5), k
            else:
                assert _rounded(a[k]) == _rounded(b[k]), k


def _rounded(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items() if k not in ("timings_ms", "cost")}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    if isinstance(x, np.ndarray):
        return _rounded(x.tolist())
    return x


def test_cached_is_per_model_and_forget_drops_it(tiny_pipeline) -> None:
    calls = []

    class Wrapper:  # what the app does: a new object per request that forwards attribute access
        def __init__(self, pipe):
            self._pipe = pipe

        def __getattr__(self, name):
            return getattr(self._pipe, name)

    key = ("test value",)
    a = model_cache.cached(Wrapper(tiny_pipeline), key, lambda: calls.append(1) or object())
    b = model_cache.cached(Wrapper(tiny_pipeline), key, lambda: calls.append(1) or object())
    assert a is b and calls == [1]
    model_cache.forget(tiny_pipeline, key)
    assert model_cache.peek(tiny_pipeline, key) is None
    c = model_cache.cached(tiny_pipeline, key, lambda: calls.append(1) or object())
    assert c is not a and calls == [1, 1]
    model_cache.forget(tiny_pipeline, key)


def test_cached_values_are_plain_tensors_whatever_the_first_callers_mode(fresh_pipe) -> None:
    """A value computed for an inference-mode caller is reused by later callers, also under autograd."""
    import torch

    from r1omni.scoring import ScoringSession

    with torch.inference_mode():
        gate = fresh_pipe.gate_probs("Which emotion?")
        base = ScoringSession(fresh_pipe).baselines()
    assert not gate.is_inference() and not base.grey.is_inference() and not base.silence.is_inference()
    x = torch.ones(3, requires_grad=True)
    (x * gate[0]).sum().backward()  # an inference tensor here would raise "cannot be saved for backward"
    assert torch.allclose(x.grad, gate[0])
