"""Bad inputs to r1omni.media.decode_clip: one-line MediaError, nothing from the native decoders on fd 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (media_factory)
import media_factory as mf  # noqa: E402

from r1omni import media  # noqa: E402
from r1omni.errors import MediaError, R1OmniError  # noqa: E402

# The reason each bad input must name (part of the one-line message).
REASONS = {
    "empty": "file is empty",
    "truncated_mp4": "not a readable video or audio file",
    "text_as_mp4": "not a readable video or audio file",
    "zero_length_wav": "audio track is empty",
    "random_webm": "not a readable video or audio file",
    "directory": "is a directory",
    "missing": "file not found",
    "oversize": "file too large",
    "subtitle_only_mp4": "no video or audio track (streams found: subtitle)",
    "fake_header_mp4": "not a readable video or audio file",
}


def test_every_bad_input_has_a_reason():
    assert set(REASONS) == set(mf.BAD_INPUTS)


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return mf.make_bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", list(mf.BAD_INPUTS))
def test_bad_input_raises_one_line_media_error(bad, name, capfd):
    path = bad[name]
    with pytest.raises(MediaError) as info:
        media.decode_clip(path)
    msg = str(info.value)
    assert isinstance(info.value, R1OmniError)
    assert "\n" not in msg and "\r" not in msg
    assert msg.startswith(f"cannot read clip '{path}': ")
    assert REASONS[name] in msg
    assert "Traceback" not in msg and ".cc:" not in msg and len(msg) < 400
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_native_decoder_would_print_without_capture(bad, capfd):
    """Guard for the test above: decord really does write to fd 2 on these inputs."""
    import decord

    with pytest.raises((RuntimeError, decord.base.DECORDError)):
        decord.VideoReader(str(bad["truncated_mp4"]), num_threads=1)
    assert "moov atom not found" in capfd.readouterr().err


def test_odd_but_readable_inputs(tmp_path, capfd):
    path = mf.make_bad_input("truncated_faststart_mp4", tmp_path)
    clip = media.decode_clip(path)  # decord refuses it; PyAV reads the frames that are there
    assert clip.has_video and clip.decoders["video"] == "pyav"
    assert 1 <= clip.num_video_frames < 20
    levels = clip.frames.reshape(8, -1).mean(axis=1)
    # Some frames are lost with their packets, so decoded index != source index: the timestamps tell.
    source = [round(t * mf.DEFAULT_FPS) for t in clip.frame_times_s]
    assert np.allclose(levels, [mf.frame_level(i) for i in source], atol=6)

    path = mf.make_bad_input("huge_declared_wav", tmp_path)
    clip = media.decode_clip(path)  # the header claims ~4 GiB; only the 0.5 s present is read
    assert clip.has_audio and not clip.has_video
    assert clip.audio.size == pytest.approx(8000, abs=50)
    assert capfd.readouterr().err == ""


def test_one_frame_video_repeats_the_frame(tmp_path):
    path = mf.make_av_clip(tmp_path / "one.mp4", n_frames=1, audio=False)
    clip = media.decode_clip(path)
    assert clip.frame_indices == [0] * 8
    assert np.array_equal(clip.frames, np.repeat(clip.frames[:1], 8, axis=0))
    assert clip.frames.mean() > 5  # the real frame repeated, never appended black frames
