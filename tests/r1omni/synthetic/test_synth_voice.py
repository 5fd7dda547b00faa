"""Voice: prosody follows the label only inside the audio cue window, measured on decoded mp4 audio
(r1omni/synthetic/voice.py)."""

from __future__ import annotations

import numpy as np
import pytest
from synth_probe import decode, prosody_track, split_by_window

from r1omni.synthetic import LABELS, sample_spec, write_clip


def _track(tmp_path, label, modality, k=0):
    spec = sample_spec(np.random.default_rng([31, k, LABELS.index(label)]), label=label, cue_modality=modality)
    _, audio = decode(write_clip(spec, tmp_path / f"{label}_{modality}_{k}.mp4"))
    times, f0, rms = prosody_track(audio)
    inside, outside = split_by_window(times, spec.cue_start_s, spec.cue_end_s)
    return spec, f0, rms, inside, outside


@pytest.mark.parametrize("label", [lab for lab in LABELS if lab != "neutral"])
def test_prosody_changes_only_inside_the_audio_window(tmp_path, label):
    spec, f0, rms, inside, outside = _track(tmp_path, label, "audio")
    base = spec.base_pitch_hz
    f0_out, f0_in = np.nanmedian(f0[outside]), np.nanmedian(f0[inside])
    assert abs(f0_out / base - 1) < 0.07  # the neutral voice at the speaker's base pitch outside the window
    assert abs(f0_in / (base * spec.pitch_level) - 1) < 0.12  # the drawn pitch level inside it
    assert abs(f0_in / f0_out - 1) > 0.1
    voiced_out = f0[outside][~np.isnan(f0[outside])]
    assert len(voiced_out) >= 10 and np.mean(np.abs(voiced_out / base - 1) > 0.1) < 0.1  # no spill either side
    energy_ratio = rms[inside].mean() / rms[outside].mean()
    assert 0.75 < energy_ratio / spec.energy < 1.8
    if label in ("happy", "surprise", "angry"):
        assert energy_ratio > 1.2
    if label == "sad":
        assert energy_ratio < 0.7


@pytest.mark.parametrize("label", ["happy", "surprise", "angry", "sad", "fear"])
def test_voice_stays_neutral_when_only_the_face_carries_the_cue(tmp_path, label):
    spec, f0, rms, inside, outside = _track(tmp_path, label, "video")
    for part in (inside, outside):
        assert abs(np.nanmedian(f0[part]) / spec.base_pitch_hz - 1) < 0.07
    assert 0.75 < rms[inside].mean() / rms[outside].mean() < 1.33


def test_speakers_differ_in_base_pitch(tmp_path):
    pitches = []
    for k in range(3):
        spec, f0, _, _, outside = _track(tmp_path, "neutral", "both", k=k)
        pitches.append(np.nanmedian(f0[outside]))
        assert abs(pitches[-1] / spec.base_pitch_hz - 1) < 0.07
    assert max(pitches) / min(pitches) > 1.1
