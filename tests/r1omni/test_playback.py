"""Browser playback copies (r1omni/playback.py) on real files: probe decisions, the copy itself (H.264/AAC mp4
with the same timing), made once per content in the cache's own folder, mapped back to the original, and a
conversion failure as one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from r1omni.errors import MediaError
from r1omni.media import decode_clip
from r1omni.playback import PlaybackCache, browser_plays, probe
from tests import media_factory as mf
from tests.conftest import REAL_CLIPS

REAL_FLV = REAL_CLIPS / "1001_DFA_ANG_XX.flv"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    names = ["mp4_h264_aac", "webm_vp8_opus", "avi_mjpeg_pcm", "avi_mpeg4_mp3", "mkv_h264_aac", "mov_h264_aac",
             "wav_pcm_stereo", "mp3_audio_only", "mp4_no_audio"]
    return mf.make_good_clips(tmp_path_factory.mktemp("user-clips"), names)


@pytest.mark.parametrize("name,plays", [("mp4_h264_aac", True), ("webm_vp8_opus", True), ("wav_pcm_stereo", True),
                                        ("mp3_audio_only", True), ("mp4_no_audio", True),
                                        ("avi_mjpeg_pcm", False), ("avi_mpeg4_mp3", False),
                                        ("mkv_h264_aac", False), ("mov_h264_aac", False)])
def test_the_probe_decides_by_container_and_codec(clips, name, plays):
    path = clips[name].path
    assert browser_plays(probe(path), path.suffix) is plays


def test_an_mpeg4_part2_stream_in_an_mp4_does_not_play_though_the_container_does(tmp_path):
    clip = mf.make_av_clip(tmp_path / "old.mp4", vcodec="mpeg4", acodec="aac")
    p = probe(clip)
    assert p.container.startswith("mov,mp4") and p.video_codec == "mpeg4"
    assert not browser_plays(p, ".mp4")


def _assert_browser_copy(copy: Path, original: Path, cache: PlaybackCache) -> None:
    p = probe(copy)
    assert copy.suffix == ".mp4" and browser_plays(p, ".mp4")
    assert p.video_codec == "h264" and p.pix_fmt == "yuv420p" and p.audio_codec in ("aac", "mp3")
    assert copy.parent == cache.folder and original.parent != cache.folder
    a, b = decode_clip(str(original)), decode_clip(str(copy))
    assert abs(a.duration_s - b.duration_s) < 0.15  # seek times in the copy are the original's
    assert b.has_video and b.has_audio and b.frames.shape[1:3] == a.frames.shape[1:3]


def test_an_avi_gets_one_playable_copy_in_the_private_folder_made_once_per_content(clips, tmp_path):
    avi = clips["avi_mjpeg_pcm"].path
    beside = sorted(avi.parent.iterdir())
    cache = PlaybackCache(tmp_path / "private" / "playback")
    copy = cache.playable(avi)
    _assert_browser_copy(copy, avi, cache)
    assert sorted(avi.parent.iterdir()) == beside  # nothing written beside the user's files
    assert cache.playable(avi) == copy and cache.conversions == 1  # made once
    renamed = shutil.copy(avi, tmp_path / "same content.avi")
    assert cache.playable(renamed) == copy and cache.conversions == 1  # cached by content, not by name
    assert sorted(p.name for p in cache.folder.iterdir()) == [copy.name]  # no partial files left


def test_a_playable_clip_is_served_as_it_is(clips, tmp_path):
    cache = PlaybackCache(tmp_path / "pb")
    mp4 = clips["mp4_h264_aac"].path
    assert cache.playable(mp4) == mp4.resolve() and cache.conversions == 0 and not list(cache.folder.iterdir())


def test_a_copy_maps_back_to_its_original_and_nothing_else_does(clips, tmp_path):
    avi = clips["avi_mpeg4_mp3"].path
    cache = PlaybackCache(tmp_path / "pb")
    copy = cache.playable(avi)
    assert cache.original_of(copy) == avi.resolve()
    served = tmp_path / "gradio-cache" / "ab12"  # a web framework's file cache: same bytes, same name
    served.mkdir(parents=True)
    served_copy = Path(shutil.copy(copy, served / copy.name))
    assert cache.source_of(served_copy) == str(avi.resolve())
    forged = tmp_path / "forged" / copy.name  # the same name with other bytes is not the copy
    forged.parent.mkdir()
    shutil.copy(clips["mp4_h264_aac"].path, forged)
    assert cache.original_of(forged) is None and cache.source_of(forged) == str(forged)
    assert cache.original_of(clips["mp4_h264_aac"].path) is None
    assert PlaybackCache(tmp_path / "other").original_of(copy) is None  # only copies this cache made


def test_a_file_ffmpeg_cannot_convert_is_a_one_line_media_error(tmp_path):
    bad = tmp_path / "notes.avi"
    bad.write_text("not a video\n" * 50)
    cache = PlaybackCache(tmp_path / "pb")
    with pytest.raises(MediaError) as err:
        cache.playable(bad)
    msg = str(err.value)
    assert "\n" not in msg and "notes.avi" in msg and "playable copy" in msg
    assert not list(cache.folder.iterdir())  # no partial copy left


@pytest.mark.skipif(not REAL_FLV.is_file(), reason="../shared/data/real-clips is absent")
def test_a_real_crema_d_flv_gets_a_playable_copy(tmp_path):
    p = probe(REAL_FLV)
    assert p.container == "flv" and not browser_plays(p, ".flv")
    cache = PlaybackCache(tmp_path / "pb")
    _assert_browser_copy(cache.playable(REAL_FLV), REAL_FLV, cache)
