"""Faces: the expression sits inside the video cue window, measured on decoded mp4 files (r1omni/synthetic/face.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from synth_probe import decode, frame_mask, region_change

from r1omni.synthetic import FACE_TARGETS, LABELS, NEUTRAL_FACE, sample_spec, write_clip
from r1omni.synthetic.face import face_regions

# Face areas whose pixels must move for each label (the label's strong geometry).
MOVING = {
    "happy": ("mouth",),
    "surprise": ("mouth", "brows"),
    "angry": ("brows", "eyes"),
    "disgust": ("mouth", "brows", "eyes"),
    "sad": ("mouth", "brows"),
    "fear": ("mouth", "brows"),
}


def _clip(tmp_path, label, modality, k=0):
    spec = sample_spec(np.random.default_rng([21, k, LABELS.index(label)]), label=label, cue_modality=modality)
    frames, _ = decode(write_clip(spec, tmp_path / f"{label}_{modality}_{k}.mp4"))
    return spec, frames, frame_mask(len(frames), spec.cue_start_s, spec.cue_end_s)


@pytest.mark.parametrize("label", sorted(MOVING))
def test_expression_changes_only_inside_the_video_window(tmp_path, label):
    spec, frames, inside = _clip(tmp_path, label, "video")
    assert 3 <= inside.sum() <= 29 and (~inside).sum() >= 11
    for region in MOVING[label]:
        change = region_change(frames, face_regions(spec)[region], inside)
        # every frame in the window differs from the neutral face more than any frame outside it
        assert change[inside].min() > 1.2 * change[~inside].max(), (label, region, change.round(1))


@pytest.mark.parametrize("label", ["happy", "surprise", "angry", "sad", "neutral"])
def test_face_stays_neutral_when_only_the_voice_carries_the_cue(tmp_path, label):
    spec, frames, inside = _clip(tmp_path, label, "audio")
    for region, box in face_regions(spec).items():
        change = region_change(frames, box, inside)
        assert change[inside].min() < change[~inside].max(), (label, region, change.round(1))


def test_neutral_label_face_stays_neutral_in_both_modality_clips(tmp_path):
    spec, frames, inside = _clip(tmp_path, "neutral", "both", k=1)
    for box in face_regions(spec).values():
        change = region_change(frames, box, inside)
        assert change[inside].min() < change[~inside].max()


def test_label_geometry_is_clearly_distinct():
    scale = {k: max(abs(t[k] - NEUTRAL_FACE[k]) for t in FACE_TARGETS.values()) or 1.0 for k in NEUTRAL_FACE}
    for a, b in itertools.combinations(LABELS, 2):
        dist = sum(abs(FACE_TARGETS[a][k] - FACE_TARGETS[b][k]) / scale[k] for k in NEUTRAL_FACE)
        assert dist >= 1.5, (a, b, dist)


def test_large_face_and_varied_appearance():
    rng = np.random.default_rng(4)
    specs = [sample_spec(rng, label="neutral") for _ in range(20)]
    assert all(0.6 <= s.head_height <= 0.85 for s in specs)
    boxes = [face_regions(s)["mouth"] for s in specs]
    assert len(set(boxes)) > 10  # position and scale jitter
    assert len({s.noise_sigma for s in specs}) == 20
