"""Synthetic clips: specs, balance, manifest, mp4 format and byte-level determinism (r1omni/synthetic/clips.py)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from synth_probe import decode

from r1omni.errors import UsageError
from r1omni.synthetic import (
    BASE_COLUMNS,
    LABELS,
    MANIFEST_COLUMNS,
    ClipSpec,
    balanced_plan,
    generate_clips,
    plan_specs,
    render_clip,
    sample_spec,
)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return generate_clips(tmp_path_factory.mktemp("synth_a"), 4, seed=11)


def test_same_seed_gives_byte_identical_files(generated, tmp_path):
    again = generate_clips(tmp_path / "b", 4, seed=11)
    first, second = _digests(generated.parent), _digests(again.parent)
    assert len(first) == 5 and first == second  # 4 mp4 + manifest


def test_different_seed_gives_different_files(generated, tmp_path):
    other = _digests(generate_clips(tmp_path / "c", 4, seed=12).parent)
    first = _digests(generated.parent)
    assert all(other[name] != first[name] for name in first)


def test_worker_processes_write_the_same_bytes(tmp_path):
    serial = _digests(generate_clips(tmp_path / "one", 2, seed=3).parent)
    parallel = _digests(generate_clips(tmp_path / "two", 2, seed=3, workers=2).parent)
    assert serial == parallel


def test_manifest_columns_paths_and_specs(generated):
    with generated.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames) == MANIFEST_COLUMNS
    assert MANIFEST_COLUMNS[: len(BASE_COLUMNS)] == BASE_COLUMNS
    for attr in (
        "mouth_curve",
        "mouth_open",
        "brow_raise",
        "brow_angle",
        "eye_open",
        "nose_wrinkle",
        "pitch_level",
        "pitch_slope",
        "syllable_rate",
        "energy",
        "tremor",
        "harshness",
        "base_pitch_hz",
    ):
        assert attr in MANIFEST_COLUMNS
    specs = plan_specs(4, seed=11)
    for row, spec in zip(rows, specs, strict=True):
        assert not Path(row["path"]).is_absolute() and (generated.parent / row["path"]).is_file()
        assert ClipSpec.from_row(row) == spec
        assert float(row["duration_s"]) == 4.0 and int(row["seed"]) == spec.seed


def test_mp4_format(generated):
    path = next(generated.parent.glob("*.mp4"))
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "h264" and v.format.name == "yuv420p"
        assert (v.width, v.height) == (128, 128) and v.average_rate == 10
        assert a.codec_context.name == "aac" and a.sample_rate == 16000 and a.channels == 1
    frames, audio = decode(path)
    assert frames.shape == (40, 128, 128, 3)
    assert abs(len(audio) - 64000) <= 1024  # AAC pads the last frame


def test_render_clip_matches_decoded_file(generated):
    row = next(csv.DictReader(generated.open(newline="")))
    frames, audio = render_clip(ClipSpec.from_row(row))
    assert frames.shape == (40, 128, 128, 3) and frames.dtype == np.uint8
    assert audio.shape == (64000,) and audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    decoded_frames, decoded_audio = decode(generated.parent / row["path"])
    blur = [cv2.GaussianBlur(x.astype(np.float32), (0, 0), 2) for x in (decoded_frames[5], frames[5], frames[5][::-1])]
    assert np.abs(blur[0] - blur[1]).mean() < 3 < np.abs(blur[0] - blur[2]).mean()  # lossy, but the same picture
    assert np.corrcoef(decoded_audio[:64000], audio)[0, 1] > 0.9


def test_render_is_deterministic_and_seed_dependent():
    spec = sample_spec(np.random.default_rng(5), label="happy", cue_modality="both")
    f1, a1 = render_clip(spec)
    f2, a2 = render_clip(spec)
    f3, a3 = render_clip(dataclasses.replace(spec, seed=spec.seed + 1))
    assert np.array_equal(f1, f2) and np.array_equal(a1, a2)
    assert not np.array_equal(f1, f3) and not np.array_equal(a1, a3)


def test_cue_window_length_and_coverage_of_sampled_frames():
    rng = np.random.default_rng(0)
    centres = (2 + 5 * np.arange(8)) / 10  # the 8 segment-midpoint frames (2, 7, ..., 37) of 40 at 10 fps
    for _ in range(300):
        s = sample_spec(rng)
        assert 0.0 <= s.cue_start_s < s.cue_end_s <= s.duration_s == 4.0
        assert 1.599 <= s.cue_end_s - s.cue_start_s <= 2.801
        covered = int(((centres >= s.cue_start_s) & (centres < s.cue_end_s)).sum())
        assert 3 <= covered <= 6


def test_balanced_labels_and_modalities():
    plan = balanced_plan(np.random.default_rng(1), 42)
    assert Counter(lab for lab, _ in plan) == {lab: 6 for lab in LABELS}
    assert Counter(mod for _, mod in plan) == {"video": 14, "audio": 14, "both": 14}
    assert set(Counter(plan).values()) == {2}
    only_video = plan_specs(14, seed=2, modalities=("video",))
    assert {s.cue_modality for s in only_video} == {"video"}
    assert Counter(s.label for s in only_video) == {lab: 2 for lab in LABELS}


def test_non_cue_modality_and_neutral_clips_carry_neutral_attributes():
    rng = np.random.default_rng(3)
    video_only = sample_spec(rng, label="angry", cue_modality="video")
    assert (video_only.video_label, video_only.audio_label) == ("angry", "neutral")
    assert video_only.pitch_level == 1.0 and video_only.harshness == 0.0 and video_only.syllable_rate == 3.5
    assert video_only.brow_angle > 0.5
    neutral = sample_spec(rng, label="neutral", cue_modality="both")
    assert (neutral.video_label, neutral.audio_label) == ("neutral", "neutral")
    assert neutral.mouth_curve == 0.0 and neutral.eye_open == 1.0 and neutral.energy == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0, "seed": 1}, {"n": 2, "seed": 1, "modalities": ("face",)}, {"n": 2, "seed": 1, "modalities": ()},
     {"n": 2, "seed": 1, "workers": 0}],
)  # fmt: skip
def test_bad_arguments_raise_usage_error(tmp_path, kwargs):
    with pytest.raises(UsageError):
        generate_clips(tmp_path, **kwargs)


def test_from_row_rejects_foreign_manifest():
    with pytest.raises(UsageError, match="cue_modality"):
        ClipSpec.from_row({"path": "a.mp4", "label": "happy"})


def test_rendering_only_some_frames_gives_the_same_pixels():
    import numpy as np

    from r1omni.synthetic import face, sample_spec

    spec = sample_spec(np.random.default_rng(5), label="happy", cue_modality="video")
    wanted = [2, 7, 12, 17, 22, 27, 32, 37]
    assert np.array_equal(face.render_frames(spec, indices=wanted), face.render_frames(spec)[wanted])
