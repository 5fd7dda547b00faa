"""A synthetic voice: the audio half of a synthetic clip.

The voice is a train of voiced harmonic "syllables", each with a smooth envelope. Its prosody is a small
set of numbers (`VOICE_ATTRS`): pitch level (a factor on the speaker's base pitch) and slope over each
syllable, syllable rate, energy, tremor, harshness and spectral tilt. `VOICE_TARGETS` holds each label's
prosody and `NEUTRAL_VOICE` the calm one. `render_voice` speaks neutral syllables everywhere except inside
the audio cue window, whose syllables take the clip's drawn prosody; syllables never straddle the window
edges, so the cue starts and stops exactly there.

This module knows nothing about video, manifests or files; it reads a `ClipSpec` only through attributes.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# pitch_level: factor on base_pitch_hz; pitch_slope: relative f0 change from the start to the end of a
# syllable; syllable_rate: syllables per second; energy: factor on the syllable amplitude; tremor: depth of
# a 9 Hz f0 and amplitude wobble; harshness: 0..1 noise + tanh saturation; spectral_tilt: harmonic k has
# amplitude k**-tilt (higher = duller).
VOICE_ATTRS = ("pitch_level", "pitch_slope", "syllable_rate", "energy", "tremor", "harshness", "spectral_tilt")

NEUTRAL_VOICE: dict[str, float] = {
    "pitch_level": 1.0,
    "pitch_slope": 0.0,
    "syllable_rate": 3.5,
    "energy": 1.0,
    "tremor": 0.0,
    "harshness": 0.0,
    "spectral_tilt": 1.3,
}

VOICE_TARGETS: dict[str, dict[str, float]] = {
    "neutral": dict(NEUTRAL_VOICE),
    "happy": dict(NEUTRAL_VOICE, pitch_level=1.35, pitch_slope=0.35, syllable_rate=4.6, energy=1.5, spectral_tilt=0.9),
    "surprise": dict(
        NEUTRAL_VOICE, pitch_level=1.6, pitch_slope=0.7, syllable_rate=3.0, energy=1.6, spectral_tilt=0.9
    ),
    "angry": dict(
        NEUTRAL_VOICE,
        pitch_level=1.2,
        pitch_slope=-0.35,
        syllable_rate=5.2,
        energy=2.2,
        harshness=0.8,
        spectral_tilt=0.6,
    ),
    "disgust": dict(
        NEUTRAL_VOICE,
        pitch_level=0.82,
        pitch_slope=-0.4,
        syllable_rate=2.5,
        energy=1.1,
        harshness=0.45,
        spectral_tilt=1.1,
    ),
    "sad": dict(NEUTRAL_VOICE, pitch_level=0.8, pitch_slope=-0.2, syllable_rate=2.1, energy=0.45, spectral_tilt=1.9),
    "fear": dict(
        NEUTRAL_VOICE, pitch_level=1.45, pitch_slope=0.1, syllable_rate=5.8, energy=0.9, tremor=0.09, spectral_tilt=1.0
    ),
}

_AMPLITUDE = 0.08  # syllable RMS at energy 1
_TREMOR_HZ = 9.0
_MAX_HARMONIC_HZ = 3800.0


def audio_is_cued(spec: Any) -> bool:
    """True when the voice carries a non-neutral prosody in the window."""
    return spec.label != "neutral" and spec.cue_modality in ("audio", "both")


def cue_prosody(spec: Any) -> dict[str, float]:
    """The prosody a spec voices inside its cue window."""
    return {k: float(getattr(spec, k)) for k in VOICE_ATTRS}


def _envelope(m: int) -> np.ndarray:
    """Syllable envelope: raised-cosine attack (20 %) and decay (30 %), flat between."""
    u = np.linspace(0.0, 1.0, m, dtype=np.float64)
    env = np.ones(m)
    att, dec = u < 0.2, u > 0.7
    env[att] = 0.5 - 0.5 * np.cos(math.pi * u[att] / 0.2)
    env[dec] = 0.5 + 0.5 * np.cos(math.pi * (u[dec] - 0.7) / 0.3)
    return env


def _syllable(rng: np.random.Generator, m: int, t0: float, base_hz: float, p: dict[str, float]) -> np.ndarray:
    """One voiced syllable of m samples starting at t0 seconds."""
    u = np.linspace(0.0, 1.0, m)
    t = t0 + np.arange(m) / SAMPLE_RATE
    f0 = base_hz * p["pitch_level"] * (1 + rng.normal(0, 0.015)) * (1 + p["pitch_slope"] * (u - 0.5))
    wobble = np.sin(2 * math.pi * _TREMOR_HZ * t + rng.uniform(0, 2 * math.pi))
    f0 = f0 * (1 + p["tremor"] * wobble)
    phase = 2 * math.pi * np.cumsum(f0) / SAMPLE_RATE + rng.uniform(0, 2 * math.pi)
    k = np.arange(1, max(2, int(_MAX_HARMONIC_HZ // f0.max())) + 1)
    amps = k.astype(np.float64) ** -p["spectral_tilt"]
    wave = amps @ np.sin(np.outer(k, phase)) / math.sqrt((amps**2).sum() / 2)  # unit RMS
    if p["harshness"] > 0:
        h = p["harshness"]
        wave = wave + rng.normal(0, 0.35 * h, m)
        gain = 1 + 3 * h
        wave = np.tanh(gain * wave) / math.tanh(gain) * (1 + h)
    amp = _AMPLITUDE * p["energy"] * (1 + rng.normal(0, 0.05)) * (1 + 1.5 * p["tremor"] * wobble)
    return wave * amp * _envelope(m)


def _speak(rng: np.random.Generator, out: np.ndarray, start_s: float, end_s: float, base_hz: float, p: dict) -> None:
    """Fill [start_s, end_s) of `out` with syllables of prosody p; none crosses end_s."""
    t = start_s + rng.uniform(0.0, 0.04)
    while t + 0.06 <= end_s:
        period = (1.0 / p["syllable_rate"]) * rng.uniform(0.9, 1.1)
        voiced = min(period * rng.uniform(0.6, 0.75), end_s - t)
        i0 = round(t * SAMPLE_RATE)
        m = min(int(voiced * SAMPLE_RATE), len(out) - i0)
        if m > 0:
            out[i0 : i0 + m] += _syllable(rng, m, t, base_hz, p)
        t += period


def render_voice(spec: Any, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The clip's audio: (duration_s * 16000,) float32 mono in [-1, 1]."""
    assert sample_rate == SAMPLE_RATE, "the voice is synthesised at 16 kHz only"
    rng = np.random.default_rng([int(spec.seed), 2])
    n = round(spec.duration_s * sample_rate)
    out = np.zeros(n, np.float64)
    base = float(spec.base_pitch_hz)
    if audio_is_cued(spec):
        segments = [
            (0.0, spec.cue_start_s, NEUTRAL_VOICE),
            (spec.cue_start_s, spec.cue_end_s, cue_prosody(spec)),
            (spec.cue_end_s, spec.duration_s, NEUTRAL_VOICE),
        ]
    else:
        segments = [(0.0, spec.duration_s, NEUTRAL_VOICE)]
    for a, b, p in segments:
        _speak(rng, out, a, b, base, p)
    out += rng.normal(0, float(spec.noise_floor), n)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
