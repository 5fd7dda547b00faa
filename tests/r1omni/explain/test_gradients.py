"""temporal="gradient": gradient x (input - baseline) per frame and audio window from one backward pass."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from r1omni.explain import explain, gradients
from r1omni.scoring import ScoringSession


def _logp(session, media, ids) -> float:
    return float(session.token_logprobs([media], [ids])[0].sum())


def test_window_scores_are_the_directional_derivative_towards_silence(tiny_pipe, make_clip) -> None:
    pipe = tiny_pipe
    media = pipe.encode(make_clip(seed=3, duration=2.0))
    ids = pipe.completion_ids("<think>the voice is loud.</think><answer>angry</answer>")
    session = ScoringSession(pipe, cache=False)
    windows = [(0.0, 0.5), (0.5, 1.0), (1.0, 2.0)]
    frames, segments = gradients.timeline(pipe, session, media, ids, list(range(len(ids))), windows)
    assert len(frames) == 8 and len(segments) == 3
    per_s = media.input_features.shape[-1] / (pipe.audio_num_samples / 16000)
    diff = media.input_features - pipe.silence_features()
    eps = 1e-2
    for (a, b), row in zip(windows, segments, strict=True):
        mask = torch.zeros_like(diff)
        mask[:, int(round(a * per_s)) : int(round(b * per_s))] = 1
        up = replace(media, input_features=media.input_features + eps * mask * diff)
        down = replace(media, input_features=media.input_features - eps * mask * diff)
        numeric = (_logp(session, up, ids) - _logp(session, down, ids)) / (2 * eps)
        assert row["score"] == pytest.approx(numeric, rel=0.05, abs=2e-3)


def test_grey_frames_score_zero_and_explain_reports_gradient_rows(tiny_pipe, make_clip) -> None:
    pipe = tiny_pipe
    media = pipe.occlude_frames(pipe.encode(make_clip(seed=4)), [0, 5])
    (res,) = explain(pipe, [media], mode="full", temporal="gradient", max_new_tokens=6)
    d = res.to_dict()
    assert [r["index"] for r in d["frames"]] == list(range(8))
    assert d["frames"][0]["score"] == 0.0 and d["frames"][5]["score"] == 0.0  # already the baseline
    assert any(r["score"] != 0.0 for r in d["frames"])
    assert d["audio_segments"] and all("gradient" in r for r in d["audio_segments"])
    assert d["params"]["temporal"] == "gradient"
    assert res.timings_ms["variants"] <= 4  # the coalitions only: no occluded inputs were scored
