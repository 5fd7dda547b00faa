"""Temporal occlusion: which sampled frame and which audio window the answer depends on.

Leave-one-out occlusion (Zeiler & Fergus 2014; SpeechXAI's segment leave-one-out for audio): one sampled
frame at a time becomes the grey mask baseline, one audio window at a time becomes silence; `drop` = the
fall of the target log-prob. When a cue spans several frames / windows, removing one of them changes little
(the others still carry it), so leave-one-out alone points almost at random inside redundant evidence.
`temporal="both"` (the default) therefore also scores keep-one-only inputs (every other frame grey /
window silent): `keep` = the rise of the target log-prob over the modality-masked coalition. The reported
`score` is their mean, the marginal contribution of the feature averaged over the first and the last
position of a permutation (a two-point estimate of its Shapley value among the frames / windows).
This module builds the perturbed inputs (through the pipeline's perturbation functions, the
"interpretable input") and turns scored log-probs into timeline rows; it does not run the model.
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


# "occlude": leave-one-out drop; "both": mean of drop and keep-one gain (the default); "gradient": gradient x
# (input - baseline) from one forward + backward (r1omni/explain/gradients.py), no perturbed inputs
TEMPORAL_MODES = ("occlude", "both", "gradient")
# How an audio window is silenced: "waveform" zeroes the samples and runs the audio tower again per window;
# "tokens" puts the cached silence tokens in place of the window's pooled audio tokens (no tower run).
AUDIO_OCCLUSIONS = ("waveform", "tokens")
DEFAULT_AUDIO_OCCLUSION = "waveform"


def occlusion_variants(pipe, media, windows: Sequence[tuple[float, float]], keep: bool = False,
                       audio_level: str = DEFAULT_AUDIO_OCCLUSION) -> tuple[list, list]:
    """Perturbed inputs: one per sampled frame (grey) when video is used, one per audio window (silence);
    with `keep`, then one per frame / window where only it is left (all the others masked)."""
    silence = pipe.silence_audio_tokens if audio_level == "tokens" else pipe.silence_audio
    frames, audio = [], []
    if media.uses_video:
        n = media.pixel_values_videos.shape[0]
        frames = [pipe.occlude_frames(media, [i]) for i in range(n)]
        if keep:
            frames += [pipe.occlude_frames(media, [j for j in range(n) if j != i]) for i in range(n)]
    if media.uses_audio:
        audio = [silence(media, a, b) for a, b in windows]
        if keep:
            end = media.audio_duration_s
            if audio_level == "tokens":
                audio += [silence(silence(media, 0.0, a), b, end) for a, b in windows]
            else:  # both spans zeroed before one log-mel (what silencing one then the other gives)
                audio += [pipe.silence_audio_spans(media, [(0.0, a), (b, end)]) for a, b in windows]
    return frames, audio


def _scores(full: float, occluded: Sequence[float], base: float | None, n: int) -> list[dict]:
    """Per feature: drop (leave-one-out), keep (keep-one over the masked modality) and their mean as score."""
    rows = []
    for i in range(n):
        drop = full - occluded[i]
        if base is None or len(occluded) < 2 * n:
            rows.append({"score": round(drop, 5), "drop": round(drop, 5)})
        else:
            keep = occluded[n + i] - base
            rows.append({"score": round((drop + keep) / 2, 5), "drop": round(drop, 5), "keep": round(keep, 5)})
    return rows


def frame_rows(full: float, occluded: Sequence[float], frame_times_s: Sequence[float],
               base: float | None = None, n: int | None = None) -> list[dict]:
    """Timeline rows {"index", "time_s", "score", "drop"[, "keep"]}; `occluded` holds the n leave-one-out
    log-probs, then (with `base`, the video-masked log-prob) the n keep-one log-probs."""
    n = len(occluded) if n is None else n
    times = list(frame_times_s) + [None] * max(0, n - len(frame_times_s))
    return [
        {"index": i, "time_s": None if times[i] is None else round(float(times[i]), 3)} | row
        for i, row in enumerate(_scores(full, occluded, base, n))
    ]


def audio_rows(full: float, occluded: Sequence[float], windows: Sequence[tuple[float, float]],
               base: float | None = None) -> list[dict]:
    """Timeline rows {"start_s", "end_s", "score", "drop"[, "keep"]} for the audio windows (see frame_rows)."""
    return [
        {"start_s": round(a, 3), "end_s": round(b, 3)} | row
        for (a, b), row in zip(windows, _scores(full, occluded, base, len(windows)), strict=False)
    ]
