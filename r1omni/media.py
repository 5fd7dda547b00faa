"""Media pipeline: decode a clip, sample frames, and build the model's pixel and audio features.

Reference behaviour reproduced (shared/reference/r1omni.md 1.3-1.5 and 9):
- frames: decord `VideoReader(num_threads=1)`; indices are segment midpoints over all N frames,
  index_i = round_half_up((N-1)/T * (i+0.5)); clips shorter than T frames repeat indices.
- audio: decord `AudioReader(sample_rate=16000, mono=True)`, whose resampler downmixes stereo as
  (L+R)/sqrt(2); the PyAV fallback uses the same libswresample downmix (float output, no normalisation).
  The reader runs in a small child process (`_DecordAudio`): decord 0.6.0 leaks each reader's output.
- pixels: PIL bicubic resize to S x S (squash, or pad to square with (127,127,127) first), (u/255-0.5)/0.5.
- audio features: Whisper log-mel, 128 slaney mel bins, n_fft 400, hop 160, float32 torch STFT.

Improvements over the reference (DESIGN 5): a missing or undecodable track is reported in `Clip.notices`
instead of being replaced by silence or black frames without a word, and every failure is a one-line
`MediaError`. decord's native library writes its own errors to file descriptor 2; those are captured
(and logged at DEBUG) so a command-line tool's stderr stays one line.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .errors import MediaError

logger = logging.getLogger(__name__)

__all__ = [
    "Clip",
    "decode_clip",
    "sample_frame_indices",
    "frames_to_pixels",
    "grey_pixels",
    "log_mel",
    "log_mel_batch",
    "silence_features",
    "mel_filters",
    "MAX_CLIP_BYTES",
    "MAX_FRAME_PIXELS",
    "SAMPLE_RATE",
    "N_FFT",
    "HOP_LENGTH",
    "N_MELS",
    "NUM_SAMPLES",
    "PAD_COLOR",
    "NOTICE_NO_VIDEO",
    "NOTICE_NO_AUDIO",
]

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 128
NUM_SAMPLES = 480000  # 30 s at 16 kHz -> 3000 feature frames
PAD_COLOR = (127, 127, 127)  # expand2square background; also the video-mask baseline
MAX_CLIP_BYTES = 512 * 1024 * 1024
MAX_FRAME_PIXELS = 4096 * 4096  # larger frames are scaled down while decoding (8 RGB frames <= 400 MB)
NOTICE_NO_VIDEO = "no video track: video masked"
NOTICE_NO_AUDIO = "no audio track: audio masked (silence)"
_LOG_MEL_CHUNK = 16  # windows per STFT call in log_mel_batch (bounds peak memory, ~80 MB at 30 s)


@dataclass
class Clip:
    """A decoded clip: the sampled frames and the full 16 kHz mono audio.

    frames: (T, H, W, 3) uint8 RGB at `frame_indices` (T = num_frames), or None without video.
    frame_times_s: start time of each sampled frame, seconds from the start of the video stream.
    audio: (n,) float32, 16 kHz mono, the whole track, or only its first `max_audio_s` when decode_clip was
        asked for a window (a long track is then never decoded in full), or None without audio.
    audio_duration_s: length of the whole audio track (from the container when only a window was read).
    duration_s: the longest of the decoded streams.
    notices: plain-language remarks for the user (missing track -> which modality is masked).
    """

    path: str
    frames: np.ndarray | None
    frame_indices: list[int]
    frame_times_s: list[float]
    audio: np.ndarray | None
    duration_s: float
    has_video: bool
    has_audio: bool
    notices: list[str] = field(default_factory=list)
    num_video_frames: int = 0  # frames in the whole video stream (N of the sampling formula)
    fps: float = 0.0
    decoders: dict[str, str] = field(default_factory=dict)  # {"video": "decord"|"pyav", "audio": ...}
    audio_duration_s: float = 0.0


# ---------------------------------------------------------------------------------------------- frames

def sample_frame_indices(n_total: int, num_frames: int = 8) -> list[int]:
    """Segment midpoints over n_total frames: round_half_up((n_total-1)/num_frames * (i+0.5)), i < num_frames.

    The reference adds 1e-6 before rounding, so exact halves round up (n_total=9 -> 1..8).
    Fewer frames than num_frames give repeated indices (n_total=1 -> all 0).
    """
    if n_total < 1 or num_frames < 1:
        raise ValueError(f"need n_total >= 1 and num_frames >= 1, got {n_total}, {num_frames}")
    seg = (n_total - 1) / num_frames
    return [min(n_total - 1, int(round(seg * (i + 0.5) + 1e-6))) for i in range(num_frames)]


def _expand_to_square(img, color=PAD_COLOR):
    from PIL import Image

    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new(img.mode, (side, side), color)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def _normalize_uint8(arr: np.ndarray) -> np.ndarray:
    """(u/255 - 0.5)/0.5 in float32, the SigLIP rescale + normalise."""
    x = arr.astype(np.float32) * np.float32(1.0 / 255.0)
    return (x - np.float32(0.5)) / np.float32(0.5)


def frames_to_pixels(frames: np.ndarray | Sequence[np.ndarray], image_size: int, mode: str = "squash") -> torch.Tensor:
    """RGB uint8 frames (T,H,W,3) -> float32 (T,3,S,S) in [-1,1]: PIL bicubic resize, SigLIP normalisation.

    mode "squash" resizes straight to S x S (reference inference); "pad" first pads to a centred square
    with (127,127,127) (reference training, `image_aspect_ratio="pad"`).
    """
    from PIL import Image

    if mode not in ("squash", "pad"):
        raise ValueError(f"mode must be 'squash' or 'pad', got {mode!r}")
    frames = list(frames)
    out = np.empty((len(frames), 3, image_size, image_size), dtype=np.float32)
    for t, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H,W,3) uint8, got {frame.shape} {frame.dtype}")
        img = Image.fromarray(frame, "RGB")
        if mode == "pad":
            img = _expand_to_square(img)
        img = img.resize((image_size, image_size), resample=Image.BICUBIC)
        out[t] = _normalize_uint8(np.asarray(img)).transpose(2, 0, 1)
    return torch.from_numpy(out)


def grey_pixels(num_frames: int, image_size: int) -> torch.Tensor:
    """The video-mask baseline: frames of the pad colour (127) through the same normalisation, (T,3,S,S)."""
    value = _normalize_uint8(np.array(PAD_COLOR[0], dtype=np.uint8))
    return torch.full((num_frames, 3, image_size, image_size), float(value), dtype=torch.float32)


# ---------------------------------------------------------------------------------------------- audio features

def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mel / 200 Hz), logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / log_step)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp(log_step * (m - 15.0)))


@lru_cache(maxsize=4)
def _mel_filters_np(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_freqs[None, :] - lo) / (mid - lo)
    falling = (hi - fft_freqs[None, :]) / (hi - mid)
    tri = np.maximum(0.0, np.minimum(rising, falling))
    tri *= (2.0 / (hi - lo))  # slaney area normalisation
    return tri  # (n_mels, n_fft//2+1) float64


def mel_filters() -> torch.Tensor:
    """(128, 201) float32 slaney mel filterbank for 16 kHz, n_fft 400 (Whisper large-v3)."""
    return torch.from_numpy(_mel_filters_np()).to(torch.float32)


_WINDOW_CACHE: dict[str, torch.Tensor] = {}
_FILTER_CACHE: dict[str, torch.Tensor] = {}


def _as_float32_1d(audio) -> np.ndarray:
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().to("cpu", torch.float32).numpy()
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"audio must be 1-D mono samples, got shape {arr.shape}")
    return arr


def _fit_length(arr: np.ndarray, num_samples: int) -> np.ndarray:
    if arr.shape[0] >= num_samples:
        return arr[:num_samples]
    out = np.zeros(num_samples, dtype=np.float32)
    out[: arr.shape[0]] = arr
    return out


def _log_mel_tensor(waves: torch.Tensor) -> torch.Tensor:
    """(B, n) float32 -> (B, 128, n//160) Whisper log-mel, per-example max clamp."""
    device = waves.device
    key = str(device)
    if key not in _WINDOW_CACHE:
        _WINDOW_CACHE[key] = torch.hann_window(N_FFT, device=device)
        _FILTER_CACHE[key] = mel_filters().to(device)
    spec = torch.stft(waves, N_FFT, HOP_LENGTH, window=_WINDOW_CACHE[key], return_complex=True)
    power = spec[..., :-1].abs() ** 2  # (B, 201, frames); the last STFT frame is dropped, as Whisper does
    mel = _FILTER_CACHE[key] @ power  # (B, 128, frames)
    logspec = torch.clamp(mel, min=1e-10).log10()
    peak = logspec.amax(dim=(1, 2), keepdim=True)
    logspec = torch.maximum(logspec, peak - 8.0)
    return (logspec + 4.0) / 4.0


@torch.no_grad()
def log_mel_batch(
    audios: Sequence, num_samples: int = NUM_SAMPLES, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Whisper features for many waveforms: each right-padded with zeros / truncated to num_samples.

    Returns float32 (B, 128, num_samples // 160). Computed in chunks of 16 so memory stays bounded.
    """
    if num_samples < N_FFT:
        raise ValueError(f"num_samples must be at least {N_FFT}, got {num_samples}")
    fitted = [_fit_length(_as_float32_1d(a), num_samples) for a in audios]
    n_frames = num_samples // HOP_LENGTH
    if not fitted:
        return torch.empty((0, N_MELS, n_frames), dtype=torch.float32)
    outs = []
    for start in range(0, len(fitted), _LOG_MEL_CHUNK):
        waves = torch.from_numpy(np.stack(fitted[start : start + _LOG_MEL_CHUNK])).to(device)
        outs.append(_log_mel_tensor(waves).cpu())
    return torch.cat(outs, dim=0)


def log_mel(audio, num_samples: int = NUM_SAMPLES) -> torch.Tensor:
    """Whisper log-mel features (128, num_samples // 160) of 16 kHz mono audio (padded/truncated first)."""
    return log_mel_batch([audio], num_samples)[0]


def silence_features(num_samples: int = NUM_SAMPLES) -> torch.Tensor:
    """The audio-mask baseline: log_mel of zeros, which is -1.5 everywhere: (128, num_samples // 160)."""
    return torch.full((N_MELS, num_samples // HOP_LENGTH), -1.5, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------- decoding

_FD2_LOCK = threading.RLock()


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[None]:
    """Send whatever native code writes to fd 2 into a temp file (logged at DEBUG), not the terminal.

    decord (and FFmpeg under it) print errors with fprintf(stderr); Python cannot catch those, so fd 2
    itself is swapped with dup2. Process-wide: a lock serialises it, and other threads' stderr writes
    during a decode end up in the debug log.
    """
    with _FD2_LOCK:
        try:
            sys.stderr.flush()
        except Exception:  # pragma: no cover - a closed or odd sys.stderr
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all (rare daemons): nothing to protect
            yield
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read(4000).decode("utf-8", "replace").strip()
                if text:
                    logger.debug("native decoder stderr: %s", text)


def _short(err: BaseException) -> str:
    """The first meaningful line of a library error, without decord's '[time] /path/file.cc:123:' prefix."""
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    line = str(text).strip().splitlines()[0] if str(text).strip() else type(err).__name__
    if ".cc:" in line:
        line = line.split(".cc:", 1)[1].split(":", 1)[-1].strip()
    return line[:160]


@dataclass
class _Probe:
    ok: bool
    error: str = ""
    video: bool = False
    audio: bool = False
    other_streams: tuple[str, ...] = ()
    container_duration_s: float = 0.0
    audio_duration_s: float = 0.0  # the first audio stream's declared length (0 when unknown)
    width: int = 0
    height: int = 0


def _is_real_video(stream) -> bool:
    import av

    return not bool(stream.disposition & av.stream.Disposition.attached_pic)  # cover art is not video


def _probe(path: str) -> _Probe:
    import av

    try:
        with _native_stderr_captured(), av.open(path) as container:
            kinds = [s.type for s in container.streams]
            video = any(s.type == "video" and _is_real_video(s) for s in container.streams)
            audio = any(s.type == "audio" for s in container.streams)
            dur = container.duration / 1e6 if container.duration else 0.0
            other = tuple(k for k in kinds if k not in ("video", "audio"))
            vs = [s for s in container.streams.video if _is_real_video(s)]
            width = int(vs[0].codec_context.width or 0) if vs else 0
            height = int(vs[0].codec_context.height or 0) if vs else 0
            a = container.streams.audio[0] if container.streams.audio else None
            a_dur = float(a.duration * a.time_base) if a is not None and a.duration and a.time_base else 0.0
            return _Probe(True, video=video, audio=audio, other_streams=other, container_duration_s=dur,
                          audio_duration_s=a_dur or (dur if audio else 0.0), width=width, height=height)
    except Exception as err:  # av.error.* (InvalidDataError, ...), OSError
        return _Probe(False, error=_short(err))


@dataclass
class _Video:
    frames: np.ndarray
    indices: list[int]
    times: list[float]
    n_total: int
    fps: float
    duration_s: float
    decoder: str


def _decode_size(width: int, height: int) -> tuple[int, int] | None:
    """None when frames are decoded at their own size, else the smaller (even) size to decode them at."""
    if width <= 0 or height <= 0 or width * height <= MAX_FRAME_PIXELS:
        return None
    scale = math.sqrt(MAX_FRAME_PIXELS / (width * height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _video_decord(path: str, num_frames: int, size: tuple[int, int] | None = None) -> _Video:
    import decord

    with _native_stderr_captured():
        if size is None:
            vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        else:
            vr = decord.VideoReader(path, ctx=decord.cpu(0), width=size[0], height=size[1], num_threads=1)
        n = len(vr)
        if n < 1:
            raise RuntimeError("no frames")
        indices = sample_frame_indices(n, num_frames)
        unique = sorted(set(indices))
        batch = vr.get_batch(unique).asnumpy()
        stamps = np.asarray(vr.get_frame_timestamp(unique), dtype=np.float64)
        end = float(np.asarray(vr.get_frame_timestamp([n - 1]), dtype=np.float64)[0, 1])
        fps = float(vr.get_avg_fps())
    pos = {idx: k for k, idx in enumerate(unique)}
    frames = np.ascontiguousarray(batch[[pos[i] for i in indices]], dtype=np.uint8)
    times = [round(float(stamps[pos[i], 0]), 6) for i in indices]
    return _Video(frames, indices, times, n, fps, end, "decord")


def _video_pyav(path: str, num_frames: int, size: tuple[int, int] | None = None) -> _Video | None:
    """Sequential decode; only the sampled frames are converted to RGB. None if no frame decodes.

    The first pass trusts the frame count the container declares (if any); when the decode disagrees,
    a second pass picks the sampled frames using the true count.
    """
    import av

    def one_pass(n_expected: int | None):
        got: dict[int, tuple[np.ndarray, float]] = {}
        count, last_end, fps = 0, 0.0, 0.0
        with _native_stderr_captured(), av.open(path) as container:
            streams = [s for s in container.streams.video if _is_real_video(s)]
            if not streams:
                return 0, got, 0.0, 0.0
            stream = streams[0]
            if n_expected is None:
                n_expected = int(stream.frames or 0)
            wanted = set(sample_frame_indices(n_expected, num_frames)) if n_expected > 0 else set()
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            tb = float(stream.time_base) if stream.time_base else 0.0
            start = stream.start_time or 0
            try:
                for frame in container.decode(stream):
                    if frame.pts is not None and tb:
                        t = (frame.pts - start) * tb
                    else:
                        t = count / fps if fps else 0.0
                    step = (frame.duration * tb) if (frame.duration and tb) else (1.0 / fps if fps else 0.0)
                    last_end = max(last_end, t + step)
                    if count in wanted:
                        if size is not None:
                            frame = frame.reformat(width=size[0], height=size[1])
                        got[count] = (frame.to_ndarray(format="rgb24"), t)
                    count += 1
            except av.error.FFmpegError as err:  # damaged stream: keep what decoded
                logger.debug("pyav stopped decoding %s after %d frames: %s", path, count, _short(err))
        return count, got, fps, last_end

    count, got, fps, end = one_pass(None)
    if count and not set(sample_frame_indices(count, num_frames)) <= set(got):
        count, got, fps, end = one_pass(count)
    if count == 0 or not set(sample_frame_indices(count, num_frames)) <= set(got):
        return None
    indices = sample_frame_indices(count, num_frames)
    try:
        frames = np.stack([got[i][0] for i in indices]).astype(np.uint8, copy=False)
    except ValueError:  # frame size changes mid-stream: use the first sampled frame's size
        from PIL import Image

        h, w = got[indices[0]][0].shape[:2]
        frames = np.stack([np.asarray(Image.fromarray(got[i][0]).resize((w, h), Image.BICUBIC)) for i in indices])
    times = [round(float(got[i][1]), 6) for i in indices]
    return _Video(frames, indices, times, count, fps, end, "pyav")


class _DecordAudio:
    """decord's AudioReader, run in a child process (`_decord_audio_worker.py`) that is replaced once it grows.

    decord 0.6.0 leaks each reader's resampled output (about the decoded track's size: 0.25 MiB for a 4 s
    clip, dmlc/decord#189), which made a long-running app grow without bound. The samples are decord's own
    (the reference decoder), only the leak stays in the child: it is replaced when its resident memory passes
    `max_rss_mib`. One decode at a time; a child that dies on a file (a native crash) costs that decode
    (the caller falls back to PyAV) and the next call starts a fresh one. A forked process starts its own.
    """

    SCRIPT = Path(__file__).with_name("_decord_audio_worker.py")

    def __init__(self, max_rss_mib: float = 64.0):
        self.max_rss_mib = max_rss_mib
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._proc = None
        self._pid = os.getpid()
        self.started = 0  # children started by this process (for tests and benchmarks)
        self.last_rss_mib = 0.0

    def _start(self):
        import subprocess

        self._proc = subprocess.Popen([sys.executable, "-I", str(self.SCRIPT)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.started += 1
        return self._proc

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for f in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                f.close()  # the child ends on end of input
        try:
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a stuck child is killed
            proc.kill()
            proc.wait()

    def decode(self, path: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        import json

        with self._lock:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
            try:
                proc.stdin.write(json.dumps({"path": path, "sample_rate": sample_rate}).encode() + b"\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError("the decord audio process ended while decoding this file")
                head = json.loads(line)
                data = _read_exactly(proc.stdout, 4 * int(head.get("n", 0))) if head.get("ok") else b""
            except (OSError, ValueError, RuntimeError):
                self._stop()
                raise
            self.last_rss_mib = float(head.get("rss_mib") or 0.0)
            if self.last_rss_mib > self.max_rss_mib:
                self._stop()  # the next decode starts a fresh child
        if head.get("stderr"):
            logger.debug("native decoder stderr: %s", head["stderr"])
        if not head.get("ok"):
            raise RuntimeError(head.get("error") or "decord could not read the audio")
        return np.frombuffer(data, dtype="<f4").astype(np.float32)


def _read_exactly(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            raise RuntimeError("the decord audio process ended while sending samples")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


_DECORD_AUDIO = _DecordAudio()
atexit.register(_DECORD_AUDIO.close)


def _audio_decord(path: str) -> np.ndarray:
    """16 kHz mono float32 by decord's AudioReader (in its child process; see `_DecordAudio`)."""
    return _DECORD_AUDIO.decode(path, SAMPLE_RATE)


def _audio_pyav(path: str, max_samples: int | None = None) -> np.ndarray | None:
    """Decode the first audio stream to 16 kHz mono float32 with libswresample (same downmix as decord).

    With `max_samples`, decoding stops once that many samples are out (memory bounded by the window).
    """
    import av

    chunks: list[np.ndarray] = []
    got = 0
    with _native_stderr_captured(), av.open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        # Float output: swresample does not renormalise the (L+R)/sqrt(2) mono matrix for float formats.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    got += chunks[-1].size
                if max_samples is not None and got >= max_samples:
                    break
        except av.error.FFmpegError as err:
            logger.debug("pyav stopped decoding audio of %s: %s", path, _short(err))
        if max_samples is None or got < max_samples:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:  # the stream exists but holds no samples
        return np.zeros(0, dtype=np.float32)
    audio = np.concatenate(chunks).astype(np.float32, copy=False)
    return audio if max_samples is None else audio[:max_samples].copy()


def _check_file(path: Path, shown: str, max_bytes: int) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError(f"cannot read clip '{shown}': file not found") from None
    except PermissionError:
        raise MediaError(f"cannot read clip '{shown}': permission denied") from None
    except OSError as err:
        raise MediaError(f"cannot read clip '{shown}': {err.strerror or err}") from None
    if path.is_dir():
        raise MediaError(f"cannot read clip '{shown}': is a directory, not a file")
    if not path.is_file():
        raise MediaError(f"cannot read clip '{shown}': not a regular file")
    if st.st_size == 0:
        raise MediaError(f"cannot read clip '{shown}': file is empty")
    if st.st_size > max_bytes:
        raise MediaError(
            f"cannot read clip '{shown}': file too large ({st.st_size / 2**20:.1f} MiB; the limit is "
            f"{max_bytes / 2**20:.0f} MiB)"
        )
    if not os.access(path, os.R_OK):
        raise MediaError(f"cannot read clip '{shown}': permission denied")


def decode_clip(path: str | os.PathLike, num_frames: int = 8, max_bytes: int | None = None,
                max_audio_s: float | None = None) -> Clip:
    """Decode `num_frames` midpoint frames and the 16 kHz mono audio of a clip (all of it, or the first
    `max_audio_s` seconds: the model's window; the whole track's length is still in `audio_duration_s`).

    decord first (as the reference), PyAV for what decord cannot open (GIF, stills, odd containers) and
    for audio decord cannot read. decord decodes a whole track at once, so a track declared longer than
    the window (or of unknown length) is read by PyAV up to the window only. A missing track yields a
    notice; no usable track at all -> MediaError.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    shown = os.fspath(path)
    p = Path(shown)
    _check_file(p, shown, MAX_CLIP_BYTES if max_bytes is None else max_bytes)
    spath = str(p)

    probe = _probe(spath)
    want_video = probe.video or not probe.ok
    want_audio = probe.audio or not probe.ok
    notices: list[str] = []

    video: _Video | None = None
    video_err = ""
    size = _decode_size(probe.width, probe.height)
    if want_video:
        try:
            video = _video_decord(spath, num_frames, size)
        except Exception as err:  # decord raises DECORDError / RuntimeError with multi-line C++ text
            video_err = _short(err)
            logger.debug("decord could not read video of %s: %s", spath, video_err)
        if video is None and probe.ok:
            try:
                video = _video_pyav(spath, num_frames, size)
            except Exception as err:
                video_err = _short(err)
                logger.debug("pyav could not read video of %s: %s", spath, video_err)

    audio: np.ndarray | None = None
    audio_decoder = ""
    audio_err = ""
    window = None if max_audio_s is None else int(round(max_audio_s * SAMPLE_RATE))
    # a track known to fit the window (1 s slack for codec padding) goes through decord as the reference does
    fits = window is None or 0 < probe.audio_duration_s <= max_audio_s + 1.0
    if want_audio and not fits and probe.ok:
        try:
            audio, audio_decoder = _audio_pyav(spath, window), "pyav"
        except Exception as err:
            audio_err = _short(err)
            logger.debug("pyav could not read audio of %s: %s", spath, audio_err)
    elif want_audio:
        try:
            audio = _audio_decord(spath)
            audio_decoder = "decord"
        except Exception as err:
            audio_err = _short(err)
            logger.debug("decord could not read audio of %s: %s", spath, audio_err)
        if (audio is None or audio.size == 0) and probe.ok:
            try:
                pa = _audio_pyav(spath, window)
            except Exception as err:
                audio_err = _short(err)
                pa = None
                logger.debug("pyav could not read audio of %s: %s", spath, audio_err)
            if pa is not None and (audio is None or pa.size > 0):
                audio, audio_decoder = pa, "pyav"
    if audio is not None:
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    has_video = video is not None
    has_audio = audio is not None and audio.size > 0

    if not probe.ok and not has_video and not has_audio:
        raise MediaError(f"cannot read clip '{shown}': not a readable video or audio file ({probe.error})")
    if not has_video and not has_audio:
        if not probe.video and not probe.audio:
            found = ", ".join(sorted(set(probe.other_streams))) or "none"
            raise MediaError(f"cannot read clip '{shown}': no video or audio track (streams found: {found})")
        parts = []
        if probe.video:
            parts.append("the video track could not be decoded")
        if probe.audio:
            parts.append("the audio track is empty" if audio is not None else "the audio track could not be decoded")
        if not probe.video:
            parts.append("there is no video track")
        if not probe.audio:
            parts.append("there is no audio track")
        raise MediaError(f"cannot read clip '{shown}': " + " and ".join(parts))

    if has_video and size is not None:
        notices.append(f"very large frames ({probe.width}x{probe.height}) scaled to {size[0]}x{size[1]} when decoded")
    if not has_video:
        notices.append(NOTICE_NO_VIDEO if not probe.video else "video track could not be decoded: video masked")
    if not has_audio:
        if not probe.audio:
            notices.append(NOTICE_NO_AUDIO)
        elif audio is not None:
            notices.append("audio track is empty: audio masked (silence)")
        else:
            notices.append("audio track could not be decoded: audio masked (silence)")

    audio_s = audio.size / SAMPLE_RATE if has_audio else 0.0
    if has_audio and window is not None and audio.size >= window:  # keep only the window; length from the container
        audio = audio[:window]
        audio_s = max(audio_s, probe.audio_duration_s)
    video_s = video.duration_s if has_video else 0.0
    duration = max(audio_s, video_s) or probe.container_duration_s
    decoders = {}
    if has_video:
        decoders["video"] = video.decoder
    if has_audio:
        decoders["audio"] = audio_decoder
    return Clip(
        path=shown,
        frames=video.frames if has_video else None,
        frame_indices=list(video.indices) if has_video else [],
        frame_times_s=list(video.times) if has_video else [],
        audio=audio if has_audio else None,
        duration_s=float(duration),
        has_video=has_video,
        has_audio=has_audio,
        notices=notices,
        num_video_frames=video.n_total if has_video else 0,
        fps=video.fps if has_video else 0.0,
        decoders=decoders,
        audio_duration_s=float(audio_s),
    )
