"""Audio windows tile only the real audio; timeline rows."""

import pytest

from r1omni.explain.temporal import audio_rows, audio_windows, frame_rows


@pytest.mark.parametrize(("duration", "window", "cap"), [(3.0, 0.5, 16), (2.26, 0.5, 16), (30.0, 0.5, 16),
                                                         (0.2, 0.5, 16), (7.0, 0.25, 8)])
def test_windows_tile_the_real_length(duration, window, cap):
    w = audio_windows(duration, window, cap)
    assert 1 <= len(w) <= cap
    assert w[0][0] == 0.0 and w[-1][1] == pytest.approx(duration)
    for (a, b), (c, _) in zip(w, w[1:], strict=False):
        assert b == pytest.approx(c) and b > a
    assert all(b - a <= max(window, duration / cap) + 1e-9 for a, b in w)


def test_no_audio_no_windows():
    assert audio_windows(0.0) == []


def test_rows_score_is_the_drop():
    rows = frame_rows(-1.0, [-1.5, -0.5], [0.25, 0.75])
    assert rows == [{"index": 0, "time_s": 0.25, "score": 0.5, "drop": 0.5},
                    {"index": 1, "time_s": 0.75, "score": -0.5, "drop": -0.5}]
    assert audio_rows(-2.0, [-4.0], [(0.0, 0.5)]) == [{"start_s": 0.0, "end_s": 0.5, "score": 2.0, "drop": 2.0}]


def test_two_sided_score_averages_drop_and_keep():
    # full -1; leave-one-out -1.5 / -1.0; keep-one -2.0 / -4.0 over a masked baseline of -4.0
    rows = frame_rows(-1.0, [-1.5, -1.0, -2.0, -4.0], [0.25, 0.75], base=-4.0, n=2)
    assert [(r["drop"], r["keep"], r["score"]) for r in rows] == [(0.5, 2.0, 1.25), (0.0, 0.0, 0.0)]
    seg = audio_rows(-1.0, [-1.2, -3.0], [(0.0, 0.5)], base=-5.0)
    assert seg == [{"start_s": 0.0, "end_s": 0.5, "score": 1.1, "drop": 0.2, "keep": 2.0}]


def test_keep_one_window_is_both_spans_silenced_at_once(tiny_pipe, make_clip):
    """Keep-one audio variants zero both sides of the window before one log-mel: the same input as silencing
    one side, then the other."""
    import torch

    m = tiny_pipe.encode(make_clip(audio_s=2.2))
    end = m.audio_duration_s
    for a, b in [(0.0, 0.5), (0.5, 1.0), (2.0, 2.2)]:
        once = tiny_pipe.silence_audio_spans(m, [(0.0, a), (b, end)])
        twice = tiny_pipe.silence_audio(tiny_pipe.silence_audio(m, 0.0, a), b, end)
        assert torch.equal(once.input_features, twice.input_features) and (once.audio == twice.audio).all()
        assert not torch.equal(once.input_features, m.input_features)
