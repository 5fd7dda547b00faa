"""Measurements on decoded synthetic clips, for the synthetic tests (real PyAV decoding, no shortcuts)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

SR = 16000
FPS = 10


def decode(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(frames (N,H,W,3) uint8 RGB, audio (n,) float32 16 kHz mono) decoded with PyAV."""
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    chunks = []
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        for f in c.decode(audio=0):
            chunks += [g.to_ndarray().reshape(-1) for g in resampler.resample(f)]
        chunks += [g.to_ndarray().reshape(-1) for g in resampler.resample(None)]
    return frames, np.concatenate(chunks).astype(np.float32)


def frame_mask(n: int, start_s: float, end_s: float) -> np.ndarray:
    """True for frames shown inside [start_s, end_s)."""
    t = np.arange(n) / FPS
    return (t >= start_s) & (t < end_s)


def region_change(frames: np.ndarray, box: tuple[int, int, int, int], inside: np.ndarray) -> np.ndarray:
    """Per frame: mean |blurred crop - median blurred crop of the frames outside the window|."""
    x0, y0, x1, y1 = box
    crops = np.stack([cv2.GaussianBlur(f[y0:y1, x0:x1].astype(np.float32), (0, 0), 1.5) for f in frames])
    ref = np.median(crops[~inside], axis=0)
    return np.abs(crops - ref).mean(axis=(1, 2, 3))


def prosody_track(audio: np.ndarray, hop_s: float = 0.02, win_s: float = 0.04) -> tuple[np.ndarray, ...]:
    """(times_s, f0_hz with NaN where unvoiced, rms): autocorrelation pitch in 40 ms windows."""
    n, hop = int(win_s * SR), int(hop_s * SR)
    lo, hi = SR // 700, SR // 60
    times, f0, rms = [], [], []
    for i in range(0, len(audio) - n, hop):
        x = audio[i : i + n] - audio[i : i + n].mean()
        ac = np.correlate(x, x, "full")[n - 1 :]
        below = np.flatnonzero(ac[:hi] < 0)  # search past the first zero crossing, not at the lag-0 slope
        start = max(lo, int(below[0])) if below.size else hi - 1
        lag = start + int(np.argmax(ac[start:hi]))
        times.append((i + n / 2) / SR)
        rms.append(float(np.sqrt((x**2).mean())))
        f0.append(SR / lag if ac[0] > 0 and ac[lag] > 0.5 * ac[0] else np.nan)
    return np.array(times), np.array(f0), np.array(rms)


def split_by_window(times: np.ndarray, start_s: float, end_s: float, margin: float = 0.1):
    """Masks (well inside, well outside) the window, leaving `margin` seconds either side of each edge."""
    inside = (times > start_s + margin) & (times < end_s - margin)
    outside = (times < start_s - margin) | (times > end_s + margin)
    return inside, outside
