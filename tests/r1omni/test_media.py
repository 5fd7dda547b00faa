"""r1omni.media: frame sampling, pixels, log-mel features, decoding of good clips and of the real clips."""

from __future__ import annotations

import csv
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (media_factory)
import media_factory as mf  # noqa: E402

from r1omni import media  # noqa: E402
from r1omni.errors import MediaError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / ".." / "shared" / "data" / "real-clips"


# ------------------------------------------------------------------------------------------- frame indices

@pytest.mark.parametrize(
    "n_total, expected",
    [
        (1, [0] * 8),
        (7, [0, 1, 2, 3, 3, 4, 5, 6]),
        (8, [0, 1, 2, 3, 4, 5, 6, 7]),
        (9, [1, 2, 3, 4, 5, 6, 7, 8]),  # exact halves round up
        (100, [6, 19, 31, 43, 56, 68, 80, 93]),
    ],
)
def test_sample_frame_indices_table(n_total, expected):
    assert media.sample_frame_indices(n_total, 8) == expected


def test_sample_frame_indices_other_counts():
    assert media.sample_frame_indices(10, 1) == [5]  # 9/1*0.5 = 4.5 -> 5
    idx = media.sample_frame_indices(1000, 32)
    assert len(idx) == 32 and idx == sorted(idx) and 0 <= idx[0] and idx[-1] <= 999
    with pytest.raises(ValueError):
        media.sample_frame_indices(0, 8)


# ------------------------------------------------------------------------------------------- pixels

def test_pixels_match_siglip_processor_squash():
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    ref = SiglipImageProcessorPil()(images=list(frames), return_tensors="pt")["pixel_values"]
    ours = media.frames_to_pixels(frames, 224, mode="squash")
    assert ours.dtype == torch.float32 and ours.shape == (3, 3, 224, 224)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)


def test_pixels_pad_geometry_wide_and_tall():
    grey = float(media.grey_pixels(1, 1).flatten()[0])
    red = np.zeros((21, 40, 3), np.uint8)
    red[..., 0] = 255
    out = media.frames_to_pixels([red], 40, mode="pad")[0]  # 40x40 square: no resampling blur
    top = (40 - 21) // 2
    assert torch.all(out[:, :top] == grey) and torch.all(out[:, top + 21:] == grey)
    assert torch.all(out[0, top:top + 21] == 1.0) and torch.all(out[1:, top:top + 21] == -1.0)

    tall = np.full((40, 20, 3), 255, np.uint8)
    out = media.frames_to_pixels([tall], 40, mode="pad")[0]
    assert torch.all(out[:, :, :10] == grey) and torch.all(out[:, :, 30:] == grey)
    assert torch.all(out[:, :, 10:30] == 1.0)

    squash = media.frames_to_pixels([red], 40, mode="squash")[0]
    assert not torch.any(squash == grey)  # squash stretches, no padding
    with pytest.raises(ValueError):
        media.frames_to_pixels([red], 40, mode="crop")


def test_grey_pixels_is_pad_colour_normalised():
    g = media.grey_pixels(8, 16)
    assert g.shape == (8, 3, 16, 16) and g.dtype == torch.float32
    grey_frame = np.full((10, 10, 3), 127, np.uint8)
    assert torch.equal(g[:1], media.frames_to_pixels([grey_frame], 16))
    assert torch.allclose(g, torch.tensor((127 / 255 - 0.5) / 0.5), atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------------------- log-mel

def _waveform(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(n) / 16000
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.7 * t)) + 0.05 * rng.standard_normal(n)
    return x.astype(np.float32)


@pytest.mark.parametrize("n", [200000, 480000, 600000])
def test_log_mel_matches_whisper_feature_extractor(n):
    from transformers.models.whisper.feature_extraction_whisper import WhisperFeatureExtractor

    wave = _waveform(n)
    extractor = WhisperFeatureExtractor(feature_size=128)
    ref = extractor(wave, sampling_rate=16000, return_tensors="pt")["input_features"][0]
    ours = media.log_mel(wave)
    assert ours.shape == (128, 3000) and ours.dtype == torch.float32
    assert torch.allclose(ours, ref, atol=1e-4, rtol=0), (ours - ref).abs().max()


def test_log_mel_pad_truncate_and_batch():
    wave = _waveform(40000)
    padded = np.concatenate([wave, np.zeros(8000, np.float32)])
    assert torch.equal(media.log_mel(wave, 48000), media.log_mel(padded, 48000))
    assert torch.equal(media.log_mel(wave, 16000), media.log_mel(wave[:16000], 16000))
    assert media.log_mel(wave, 16000).shape == (128, 100)
    loud, quiet = wave, wave * 0.01  # the -8 clamp is per example: batching must not mix them
    batch = media.log_mel_batch([loud, quiet, torch.from_numpy(wave)], 48000)
    assert batch.shape == (3, 128, 300)
    assert torch.allclose(batch[0], media.log_mel(loud, 48000), atol=1e-6)
    assert torch.allclose(batch[1], media.log_mel(quiet, 48000), atol=1e-6)
    assert torch.allclose(batch[2], batch[0], atol=1e-6)
    assert not torch.allclose(batch[0], batch[1], atol=1e-2)
    many = media.log_mel_batch([wave * (1 + k / 10) for k in range(20)], 16000)  # crosses the chunk size
    assert many.shape == (20, 128, 100)
    assert torch.allclose(many[19], media.log_mel(wave * 2.9, 16000), atol=1e-6)


@pytest.mark.parametrize("n", [16000, 480000])
def test_silence_features(n):
    s = media.silence_features(n)
    assert s.shape == (128, n // 160)
    assert torch.all(s == -1.5)
    assert torch.equal(s, media.log_mel(np.zeros(n, np.float32), n))
    assert torch.equal(s, media.log_mel(np.zeros(5, np.float32), n))


def test_log_mel_batch_speed():
    waves = [_waveform(480000)] * 8
    media.log_mel_batch(waves[:1])
    t0 = time.perf_counter()
    media.log_mel_batch(waves)
    assert time.perf_counter() - t0 < 5.0  # ~0.2 s on 2 CPU cores


# ------------------------------------------------------------------------------------------- downmix

@pytest.fixture(scope="module")
def stereo_pcm(tmp_path_factory):
    path = tmp_path_factory.mktemp("pcm") / "stereo.wav"
    tone = mf.stereo_tone(1.0, 44100)
    mf.write_wav(path, tone, 44100)
    t = np.arange(16000) / 16000
    left, right = 0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)
    return path, left, right


def _fit_lr(x, left, right, lags=range(-30, 31)):
    """Least-squares coefficients of x on (left, right), at the best small lag (decoders delay by ~17)."""
    best = None
    for lag in lags:
        sl = slice(1000 + lag, 15000 + lag)
        a = np.stack([left[1000:15000], right[1000:15000]], 1)
        coef, *_ = np.linalg.lstsq(a, x[sl], rcond=None)
        err = np.abs(a @ coef - x[sl]).max()
        if best is None or err < best[0]:
            best = (err, coef, lag)
    return best


def test_downmix_is_l_plus_r_over_sqrt2_pyav(stereo_pcm):
    path, left, right = stereo_pcm
    mono = media._audio_pyav(str(path))
    assert mono.dtype == np.float32 and mono.shape == (16000,)
    err, coef, _lag = _fit_lr(mono, left, right, lags=[0])
    assert err < 1e-3
    assert np.allclose(coef, [2**-0.5, 2**-0.5], atol=2e-3)  # not 0.5 (a plain average)


def test_downmix_is_l_plus_r_over_sqrt2_decord(stereo_pcm):
    path, left, right = stereo_pcm
    clip = media.decode_clip(path)
    assert clip.decoders == {"audio": "decord"}
    assert clip.audio.shape == (16000,)
    err, coef, _lag = _fit_lr(clip.audio, left, right)
    assert err < 5e-2  # decord runs ~17 samples behind after its first packet (a fractional delay)
    assert np.allclose(coef, [2**-0.5, 2**-0.5], atol=5e-3)  # (L+R)/2 would give 0.5
    expected_rms = np.sqrt(np.mean(((left + right) / np.sqrt(2)) ** 2))
    assert abs(np.sqrt(np.mean(clip.audio**2)) / expected_rms - 1) < 0.02


# ------------------------------------------------------------------------------------------- good clips

@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return mf.make_good_clips(tmp_path_factory.mktemp("good"))


@pytest.mark.parametrize("name", list(mf.GOOD_CLIPS))
def test_good_clip_decodes(good, name, capfd):
    spec = good[name]
    clip = media.decode_clip(spec.path)
    assert clip.path == str(spec.path)
    assert clip.has_video == spec.has_video and clip.has_audio == spec.has_audio
    expected_notices = ([] if spec.has_video else [media.NOTICE_NO_VIDEO]) + (
        [] if spec.has_audio else [media.NOTICE_NO_AUDIO])
    assert clip.notices == expected_notices
    if spec.has_video:
        assert clip.frames.shape == (8, 48, 64, 3) and clip.frames.dtype == np.uint8
        assert clip.num_video_frames == spec.n_frames
        assert clip.frame_indices == media.sample_frame_indices(spec.n_frames, 8)
        levels = clip.frames.reshape(8, -1).mean(axis=1)
        want = [mf.frame_level(i) for i in clip.frame_indices]
        assert np.allclose(levels, want, atol=6), (levels, want)  # the sampled frames, not others
        assert len(clip.frame_times_s) == 8 and clip.frame_times_s == sorted(clip.frame_times_s)
    else:
        assert clip.frames is None and clip.frame_indices == [] and clip.frame_times_s == []
    if spec.has_audio:
        assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1
        assert abs(clip.audio.size / 16000 - spec.seconds) < 0.1
        assert 0.05 < np.abs(clip.audio).max() < 1.0
    else:
        assert clip.audio is None
    if name != "png_still":
        assert abs(clip.duration_s - spec.seconds) < 0.15
    assert capfd.readouterr().err == ""


def test_frame_times_follow_stream_timestamps(good):
    clip = media.decode_clip(good["mp4_h264_aac"].path)
    assert np.allclose(clip.frame_times_s, [i / 10 for i in clip.frame_indices], atol=1e-3)
    assert clip.fps == pytest.approx(10.0)


def test_decoders_used(good):
    assert media.decode_clip(good["mp4_h264_aac"].path).decoders == {"video": "decord", "audio": "decord"}
    assert media.decode_clip(good["gif_animated"].path).decoders == {"video": "pyav"}
    assert media.decode_clip(good["png_still"].path).decoders == {"video": "pyav"}


def _trimmed_rss_mib() -> float:
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_decord_audio_leak_stays_out_of_this_process(good):
    """decord 0.6.0's AudioReader leaks about the track's size per reader (0.25 MiB for these 4 s clips, so
    100 decodes grew this process by ~25 MiB in-process); in its child process this process stays flat."""
    path = str(good["mp4_h264_aac"].path)
    first = media.decode_clip(path).audio
    before = _trimmed_rss_mib()
    for _ in range(100):
        assert np.array_equal(media.decode_clip(path).audio, first)
    assert _trimmed_rss_mib() - before < 8.0


def test_decord_audio_child_is_replaced_when_it_grows_or_dies(good, tmp_path):
    import decord

    path = str(good["mp4_h264_aac"].path)
    reader = decord.AudioReader(path, ctx=decord.cpu(0), sample_rate=16000, mono=True)
    expected = np.asarray(reader._array, dtype=np.float32).reshape(-1)  # decord's own samples, in-process
    worker = media._DecordAudio(max_rss_mib=1.0)  # every child is over this: a fresh one per decode
    try:
        for n in (1, 2, 3):
            assert np.array_equal(worker.decode(path), expected) and worker.started == n
        worker.max_rss_mib = 1e6
        worker.decode(path)
        worker._proc.kill()  # a child that died (say, a native crash on an earlier file)
        worker._proc.wait()
        assert np.array_equal(worker.decode(path), expected) and worker.started == 5
        bad = tmp_path / "not_audio.mp4"
        bad.write_bytes(b"\0" * 4096)
        with pytest.raises(RuntimeError):
            worker.decode(str(bad))
        assert np.array_equal(worker.decode(path), expected) and worker.started == 5  # still the same child
    finally:
        worker.close()
    assert worker._proc is None


@pytest.mark.parametrize("name", ["mp4_h264_aac", "mkv_h264_aac", "webm_vp9_opus", "mp4_short_5_frames"])
def test_pyav_video_path_agrees_with_decord(good, name):
    path = str(good[name].path)
    a = media._video_decord(path, 8)
    b = media._video_pyav(path, 8)
    assert b.indices == a.indices and b.n_total == a.n_total
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 3
    assert np.allclose(a.times, b.times, atol=1e-3)


def test_num_frames_argument(good):
    clip = media.decode_clip(good["mp4_h264_aac"].path, num_frames=16)
    assert clip.frames.shape[0] == 16 and clip.frame_indices == media.sample_frame_indices(12, 16)
    clip = media.decode_clip(good["mp4_h264_aac"].path, num_frames=1)
    assert clip.frame_indices == [6]  # 11/1*0.5 = 5.5 -> 6


def test_full_audio_is_kept(tmp_path):
    path = mf.make_av_clip(tmp_path / "long_audio.wav", video=False, acodec="pcm_s16le", seconds=35.0)
    clip = media.decode_clip(path)
    assert clip.audio.size == 35 * 16000  # longer than the 30 s feature window: not cut
    assert clip.duration_s == pytest.approx(35.0, abs=0.01)


def test_audio_window_reads_only_the_window_and_still_reports_the_length(tmp_path):
    path = mf.make_av_clip(tmp_path / "long.mp4", seconds=70.0, fps=2, size=(16, 16))
    full = media.decode_clip(path)
    clip = media.decode_clip(path, max_audio_s=30.0)
    assert clip.audio.size == 30 * 16000 and clip.decoders["audio"] == "pyav"  # decord would decode all 70 s
    assert clip.audio_duration_s == pytest.approx(70.0, abs=0.1)
    assert clip.duration_s == pytest.approx(70.0, abs=0.1)
    # the same samples as a full PyAV read (decord's differ by a few ms of codec priming, as before)
    assert np.array_equal(clip.audio, media._audio_pyav(str(path))[: clip.audio.size])
    short = media.decode_clip(path, max_audio_s=80.0)  # the track fits the window: the reference decoder
    assert short.decoders["audio"] == "decord" and short.audio.size == full.audio.size


def test_long_clip_is_fast(tmp_path):
    path = mf.make_av_clip(tmp_path / "long.mp4", seconds=60.0, fps=25, size=(32, 32))
    t0 = time.perf_counter()
    clip = media.decode_clip(path)
    elapsed = time.perf_counter() - t0
    assert clip.num_video_frames == 1500 and clip.frame_indices == media.sample_frame_indices(1500)
    assert elapsed < 5.0, elapsed


def test_odd_file_names(tmp_path, monkeypatch):
    for name in mf.ODD_NAMES:
        path = mf.make_av_clip(tmp_path / name, seconds=0.5)
        clip = media.decode_clip(path)
        assert clip.has_video and clip.has_audio and clip.path == str(path)
    monkeypatch.chdir(tmp_path)  # a relative name starting with a dash
    assert media.decode_clip("-dash.mp4").has_video


def test_max_bytes_argument(good):
    path = good["mp4_h264_aac"].path
    with pytest.raises(MediaError, match="file too large"):
        media.decode_clip(path, max_bytes=1000)
    assert media.decode_clip(path, max_bytes=path.stat().st_size).has_video


def test_native_stderr_is_captured_and_logged(capfd, caplog):
    with caplog.at_level(logging.DEBUG, logger="r1omni.media"):
        with media._native_stderr_captured():
            os.write(2, b"[h264 @ 0x0] native noise\n")
    assert capfd.readouterr().err == ""
    assert "native noise" in caplog.text
    os.write(2, b"after\n")  # fd 2 is restored
    assert capfd.readouterr().err == "after\n"


# ------------------------------------------------------------------------------------------- real clips

def _real_rows():
    rows = []
    for manifest in (REAL / "manifest.csv", REAL / "audio_only" / "manifest.csv"):
        if manifest.is_file():
            with open(manifest, newline="") as f:
                rows += [(manifest.parent / r["file"], r) for r in csv.DictReader(f)]
    return rows


REAL_ROWS = _real_rows()


@pytest.mark.skipif(not REAL_ROWS, reason="../shared/data/real-clips not present")
@pytest.mark.parametrize("path,row", REAL_ROWS, ids=[p.name for p, _ in REAL_ROWS] or None)
def test_real_clip_decodes(path, row, capfd):
    t0 = time.perf_counter()
    clip = media.decode_clip(path)
    assert time.perf_counter() - t0 < 10.0
    assert clip.has_video == (row["has_video"] == "yes")
    assert clip.has_audio == (row["has_audio"] == "yes")
    assert abs(clip.duration_s - float(row["duration_s"])) < 0.1
    if clip.has_video:
        assert clip.frames.shape == (8, int(row["height"]), int(row["width"]), 3)
        assert clip.frames.std() > 1.0  # real picture content, not black frames
        assert clip.decoders["video"] == "decord"
        n = clip.num_video_frames
        assert abs(n - float(row["duration_s"]) * float(row["fps"])) <= 2
        assert clip.frame_indices == media.sample_frame_indices(n)
    else:
        assert media.NOTICE_NO_VIDEO in clip.notices
    if clip.has_audio:
        assert abs(clip.audio.size / 16000 - float(row["duration_s"])) < 0.1
        assert np.abs(clip.audio).max() > 0.01
        feats = media.log_mel(clip.audio)
        assert feats.shape == (128, 3000) and torch.isfinite(feats).all()
    else:
        assert media.NOTICE_NO_AUDIO in clip.notices
    assert capfd.readouterr().err == ""


def test_very_large_frames_are_scaled_down_while_decoding(good, monkeypatch):
    monkeypatch.setattr(media, "MAX_FRAME_PIXELS", 32 * 24)  # the 64x48 test clips count as "very large"
    for name, decoder in [("mp4_h264_aac", "decord"), ("gif_animated", "pyav")]:
        clip = media.decode_clip(good[name].path)
        assert clip.decoders["video"] == decoder
        assert clip.frames.shape == (8, 24, 32, 3)
        assert any("scaled to 32x24 when decoded" in n for n in clip.notices)
        levels = clip.frames.reshape(8, -1).mean(axis=1)
        assert np.allclose(levels, [mf.frame_level(i) for i in clip.frame_indices], atol=6)


def test_mp3_cover_art_is_not_video(tmp_path):
    path = mf.make_mp3_with_cover(tmp_path / "song with cover.mp3")
    clip = media.decode_clip(path)
    assert not clip.has_video and clip.has_audio
    assert clip.notices == [media.NOTICE_NO_VIDEO]
