"""Temporal occlusion: which sampled frame and which audio window the answer depends on.

Leave-one-out occlusion (Zeiler & Fergus 2014; SpeechXAI's segment leave-one-out for audio): one sampled
frame at a time becomes the grey mask baseline, one audio window at a time becomes silence; the score of a
feature is the drop in the target log-prob. This module builds the perturbed inputs (through the pipeline's
perturbation functions, the "interpretable input") and turns scored log-probs into timeline rows; it does
not run the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_AUDIO_WINDOW_S = 0.5
DEFAULT_MAX_AUDIO_WINDOWS = 16


def audio_windows(
    duration_s: float, window_s: float = DEFAULT_AUDIO_WINDOW_S, max_windows: int = DEFAULT_MAX_AUDIO_WINDOWS
) -> list[tuple[float, float]]:
    """Contiguous windows tiling [0, duration_s): the real audio inside the model's window, never padding.

    Windows are `window_s` long (the last one may be shorter); when that would give more than
    `max_windows`, the window grows to duration_s / max_windows so the cost stays bounded.

    >>> audio_windows(1.2)
    [(0.0, 0.5), (0.5, 1.0), (1.0, 1.2)]
    >>> len(audio_windows(30.0)), audio_windows(30.0)[-1]
    (16, (28.125, 30.0))
    """
    if duration_s <= 0 or window_s <= 0 or max_windows < 1:
        return []
    if duration_s / window_s > max_windows:
        window_s = duration_s / max_windows
    n = max(1, math.ceil(duration_s / window_s - 1e-9))
    edges = [min(duration_s, round(i * window_s, 6)) for i in range(n)] + [duration_s]
    return [(edges[i], edges[i + 1]) for i in range(n) if edges[i + 1] > edges[i]]


def occlusion_variants(pipe, media, windows: Sequence[tuple[float, float]]) -> tuple[list, list]:
    """Perturbed inputs: one per sampled frame (grey) when video is used, one per audio window (silence)."""
    frames = []
    if media.uses_video:
        frames = [pipe.occlude_frames(media, [i]) for i in range(media.pixel_values_videos.shape[0])]
    audio = [pipe.silence_audio(media, a, b) for a, b in windows] if media.uses_audio else []
    return frames, audio


def frame_rows(full: float, occluded: Sequence[float], frame_times_s: Sequence[float]) -> list[dict]:
    """Timeline rows {"index", "time_s", "score"}; score = full target log-prob - occluded one."""
    times = list(frame_times_s) + [None] * max(0, len(occluded) - len(frame_times_s))
    return [
        {"index": i, "time_s": None if times[i] is None else round(float(times[i]), 3), "score": round(full - v, 5)}
        for i, v in enumerate(occluded)
    ]


def audio_rows(full: float, occluded: Sequence[float], windows: Sequence[tuple[float, float]]) -> list[dict]:
    """Timeline rows {"start_s", "end_s", "score"} for the audio windows."""
    return [
        {"start_s": round(a, 3), "end_s": round(b, 3), "score": round(full - v, 5)}
        for (a, b), v in zip(windows, occluded, strict=True)
    ]
