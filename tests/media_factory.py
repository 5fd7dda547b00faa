"""Build small test clips (good and bad) on disk, offline, with imageio-ffmpeg's bundled ffmpeg binary.

Reusable by any test (media, CLI, app). Every builder takes a target folder or path and returns the Path.

Good clips carry a known signal, so decoders can be checked and not just exercised:
- video frame i is a solid grey of level `frame_level(i)` (see FRAME_LEVELS), so a decoded frame tells
  which source frame it came from;
- audio is stereo with different tones left and right (`stereo_tone`), so a downmix can be checked.

    from tests import media_factory as mf          # or: import media_factory (tests/ on sys.path)
    clips = mf.make_good_clips(tmp_path)           # {name: GoodClip(path, has_video, has_audio, ...)}
    bad = mf.make_bad_inputs(tmp_path)             # {name: Path}
"""

from __future__ import annotations

import os
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "ffmpeg_exe",
    "run_ffmpeg",
    "frame_level",
    "stereo_tone",
    "write_wav",
    "make_av_clip",
    "make_mp3_with_cover",
    "GoodClip",
    "GOOD_CLIPS",
    "make_good_clip",
    "make_good_clips",
    "BAD_INPUTS",
    "make_bad_input",
    "make_bad_inputs",
    "ODD_NAMES",
]

DEFAULT_SIZE = (64, 48)  # (width, height): small, even (yuv420p), not square (pad/squash differ)
DEFAULT_FPS = 10
DEFAULT_SECONDS = 1.2  # 12 frames at 10 fps: more than 8, so sampling skips frames


def ffmpeg_exe() -> str:
    """Path of the static ffmpeg binary that imageio-ffmpeg ships (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(*args: str | os.PathLike) -> None:
    """Run ffmpeg quietly; raise RuntimeError with its last stderr lines on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {tail}")


def frame_level(i: int) -> int:
    """Grey level of source frame i: distinct for i < 14, far apart (17 levels) so lossy codecs keep them apart."""
    return 16 + (17 * i) % 238


def stereo_tone(seconds: float, sample_rate: int = 44100, left_hz: float = 440.0, right_hz: float = 660.0,
                left_amp: float = 0.3, right_amp: float = 0.2) -> np.ndarray:
    """(n, 2) float32 stereo test signal: different tones and levels left and right."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    left = left_amp * np.sin(2 * np.pi * left_hz * t)
    right = right_amp * np.sin(2 * np.pi * right_hz * t)
    return np.stack([left, right], axis=1).astype(np.float32)


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = 44100) -> Path:
    """Write float samples in [-1, 1], shape (n,) or (n, channels), as 16-bit PCM WAV (stdlib only)."""
    path = Path(path)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return path


def _write_raw_frames(path: Path, n_frames: int, size: tuple[int, int]) -> None:
    width, height = size
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for i in range(n_frames):
        frames[i] = frame_level(i)
    path.write_bytes(frames.tobytes())


def make_av_clip(path: str | os.PathLike, *, video: bool = True, audio: bool = True,
                 seconds: float = DEFAULT_SECONDS, fps: int = DEFAULT_FPS, size: tuple[int, int] = DEFAULT_SIZE,
                 n_frames: int | None = None, sample_rate: int = 44100, channels: int = 2,
                 vcodec: str | None = "libx264", acodec: str | None = "aac",
                 extra: tuple[str, ...] = ()) -> Path:
    """Encode a clip with the known frame/tone signal. vcodec/acodec None -> ffmpeg's default for the container."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.parts"
    tmp.mkdir(exist_ok=True)
    try:
        args: list[str] = []
        if video:
            n = n_frames if n_frames is not None else max(1, int(round(seconds * fps)))
            raw = tmp / "v.rgb"
            _write_raw_frames(raw, n, size)
            args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", raw]
        if audio:
            tone = stereo_tone(seconds, sample_rate)
            if channels == 1:
                tone = tone[:, :1]
            wav = write_wav(tmp / "a.wav", tone, sample_rate)
            args += ["-i", wav]
        if video:
            args += ["-map", "0:v"]
            if vcodec:
                args += ["-c:v", vcodec]
            if vcodec in ("libx264", "libvpx", "libvpx-vp9", "mpeg4", None) and path.suffix.lower() != ".gif":
                args += ["-pix_fmt", "yuv420p"]
        if audio:
            args += ["-map", f"{1 if video else 0}:a"]
            if acodec:
                args += ["-c:a", acodec]
        args += list(extra)
        run_ffmpeg(*args, path.resolve())
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return path


def make_mp3_with_cover(path: str | os.PathLike, seconds: float = 1.0) -> Path:
    """An MP3 with an embedded PNG cover picture (a video stream flagged attached_pic, not real video)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_wav = write_wav(path.parent / f".{path.stem}.wav", stereo_tone(seconds))
    tmp_png = path.parent / f".{path.stem}.png"
    make_av_clip(tmp_png, vcodec="png", audio=False, n_frames=1, extra=("-frames:v", "1"))
    try:
        run_ffmpeg("-i", tmp_wav, "-i", tmp_png, "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame",
                   "-c:v", "png", "-disposition:v", "attached_pic", "-id3v2_version", "3", path)
    finally:
        tmp_wav.unlink()
        tmp_png.unlink()
    return path


@dataclass(frozen=True)
class GoodClip:
    """A readable clip and what a decoder must report for it."""

    name: str
    path: Path
    has_video: bool
    has_audio: bool
    n_frames: int  # source frames (0 without video)
    fps: float
    seconds: float


# name -> (file name, make_av_clip keyword arguments). Frame counts follow seconds * fps unless n_frames given.
GOOD_CLIPS: dict[str, tuple[str, dict]] = {
    "mp4_h264_aac": ("h264_aac.mp4", dict(vcodec="libx264", acodec="aac")),
    "webm_vp8_opus": ("vp8_opus.webm", dict(vcodec="libvpx", acodec="libopus", sample_rate=48000)),
    "webm_vp9_opus": ("vp9_opus.webm", dict(vcodec="libvpx-vp9", acodec="libopus", sample_rate=48000,
                                            extra=("-deadline", "realtime", "-cpu-used", "8"))),
    "mkv_h264_aac": ("h264_aac.mkv", dict(vcodec="libx264", acodec="aac")),
    "avi_mpeg4_mp3": ("mpeg4_mp3.avi", dict(vcodec="mpeg4", acodec="libmp3lame", extra=("-q:v", "2"))),
    "avi_mjpeg_pcm": ("mjpeg_pcm.avi", dict(vcodec="mjpeg", acodec="pcm_s16le", extra=("-q:v", "3"))),
    "mov_h264_aac": ("h264_aac.mov", dict(vcodec="libx264", acodec="aac")),
    "gif_animated": ("animated.gif", dict(vcodec="gif", audio=False)),
    "png_still": ("still.png", dict(vcodec="png", audio=False, n_frames=1, extra=("-frames:v", "1"))),
    "mp4_no_audio": ("no_audio.mp4", dict(vcodec="libx264", audio=False)),
    "wav_pcm_stereo": ("pcm_stereo.wav", dict(video=False, acodec="pcm_s16le")),
    "mp3_audio_only": ("audio_only.mp3", dict(video=False, acodec="libmp3lame")),
    "m4a_aac_audio_only": ("audio_only.m4a", dict(video=False, acodec="aac")),
    "mp4_one_frame": ("one_frame.mp4", dict(vcodec="libx264", n_frames=1)),
    "mp4_short_5_frames": ("five_frames.mp4", dict(vcodec="libx264", n_frames=5, audio=False)),
}

# Odd but valid file names (spaces, unicode, shell metacharacters, leading dash).
ODD_NAMES = ["clip with spaces.mp4", "émotion ☺ 表情.mp4", "it's (1) & [x].mp4", "-dash.mp4"]


def make_good_clip(name: str, directory: str | os.PathLike, filename: str | None = None) -> GoodClip:
    fname, kw = GOOD_CLIPS[name]
    kw = dict(kw)
    path = make_av_clip(Path(directory) / (filename or fname), **kw)
    video = kw.get("video", True)
    seconds = kw.get("seconds", DEFAULT_SECONDS)
    fps = kw.get("fps", DEFAULT_FPS)
    n = kw.get("n_frames") or max(1, int(round(seconds * fps)))
    if not kw.get("audio", True):  # video only: the clip lasts as long as its frames
        seconds = n / fps
    return GoodClip(name, path, has_video=video, has_audio=kw.get("audio", True),
                    n_frames=n if video else 0, fps=fps, seconds=seconds)


def make_good_clips(directory: str | os.PathLike, names: list[str] | None = None) -> dict[str, GoodClip]:
    return {n: make_good_clip(n, directory) for n in (names or list(GOOD_CLIPS))}


# ---------------------------------------------------------------- bad inputs

def _empty(d: Path) -> Path:
    p = d / "empty.mp4"
    p.write_bytes(b"")
    return p


def _truncated_mp4(d: Path) -> Path:
    """Moov atom at the end (ffmpeg's default), file cut at 40%: no index, nothing decodable."""
    full = make_av_clip(d / ".full_for_truncation.mp4", seconds=2.0)
    data = full.read_bytes()
    full.unlink()
    p = d / "truncated.mp4"
    p.write_bytes(data[: int(len(data) * 0.4)])
    return p


def _truncated_faststart_mp4(d: Path) -> Path:
    """Index at the front (+faststart), media data cut at 40%: opens, most frames missing."""
    full = make_av_clip(d / ".full_for_truncation_fs.mp4", seconds=2.0, extra=("-movflags", "+faststart"))
    data = full.read_bytes()
    full.unlink()
    p = d / "truncated_faststart.mp4"
    p.write_bytes(data[: int(len(data) * 0.4)])
    return p


def _text_as_mp4(d: Path) -> Path:
    p = d / "notes.mp4"
    p.write_text("This is a plain text file, renamed to .mp4.\nSecond line.\n")
    return p


def _zero_length_wav(d: Path) -> Path:
    return write_wav(d / "zero_length.wav", np.zeros((0, 2), np.float32))


def _random_webm(d: Path) -> Path:
    p = d / "random.webm"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def _directory(d: Path) -> Path:
    p = d / "a_folder.mp4"
    p.mkdir(exist_ok=True)
    return p


def _missing(d: Path) -> Path:
    return d / "does_not_exist.mp4"


def _oversize(d: Path, size: int = 600 * 1024 * 1024) -> Path:
    """A sparse file bigger than the default cap (512 MiB); takes no disk space."""
    p = d / "oversize.mp4"
    with open(p, "wb") as f:
        f.truncate(size)
    return p


def _huge_declared_wav(d: Path) -> Path:
    """A WAV whose header claims ~4 GiB of samples but holds 0.5 s."""
    p = write_wav(d / "huge_declared.wav", stereo_tone(0.5))
    data = bytearray(p.read_bytes())
    data[4:8] = (0xFFFFFFF0).to_bytes(4, "little")  # RIFF size
    data[40:44] = (0xFFFFFFE0).to_bytes(4, "little")  # data chunk size
    p.write_bytes(bytes(data))
    return p


def _subtitle_only_mp4(d: Path) -> Path:
    srt = d / ".subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n")
    p = d / "subtitles_only.mp4"
    run_ffmpeg("-i", srt, "-c:s", "mov_text", p)
    srt.unlink()
    return p


def _video_then_garbage(d: Path) -> Path:
    """Not a video at all but starts with an ftyp box: the container sniffers are fooled, the parse fails."""
    p = d / "fake_header.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\xff" * 2000)
    return p


# name -> builder(dir) -> Path. Every one of these must be refused with a one-line MediaError,
# except those in BAD_BUT_READABLE (odd inputs a decoder should still read).
BAD_INPUTS = {
    "empty": _empty,
    "truncated_mp4": _truncated_mp4,
    "text_as_mp4": _text_as_mp4,
    "zero_length_wav": _zero_length_wav,
    "random_webm": _random_webm,
    "directory": _directory,
    "missing": _missing,
    "oversize": _oversize,
    "subtitle_only_mp4": _subtitle_only_mp4,
    "fake_header_mp4": _video_then_garbage,
}
# Damaged or odd, but a careful decoder still gets something usable out of them.
ODD_BUT_READABLE = {
    "truncated_faststart_mp4": _truncated_faststart_mp4,
    "huge_declared_wav": _huge_declared_wav,
}


def make_bad_input(name: str, directory: str | os.PathLike) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    builder = BAD_INPUTS.get(name) or ODD_BUT_READABLE[name]
    return builder(d)


def make_bad_inputs(directory: str | os.PathLike) -> dict[str, Path]:
    return {n: make_bad_input(n, directory) for n in BAD_INPUTS}
