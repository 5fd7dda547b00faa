"""Browser playback copies of clips the browser cannot play (FLV, AVI, MPEG-4 Part 2, ...).

The model reads many containers and codecs (decord / PyAV); a browser's <video> plays few. For the players
of the app, `PlaybackCache.playable(path)` gives the clip itself when a browser can play it, and otherwise
an H.264/AAC mp4 copy made once with the ffmpeg binary that imageio-ffmpeg ships. Copies are named by the
SHA-256 of the original's content and kept in the cache's own folder (the app's private folder), never
beside the user's files. Explanations never read a copy: `original_of(path)` maps a copy (also the
byte-identical file a web framework copied it to) back to the clip it was made from.

Whether a clip plays is decided by probing its container and streams with PyAV (`probe` + `browser_plays`):
the extension a browser derives the MIME type from, the container, the video codec and pixel format (8-bit
4:2:0 only: Chromium does not decode High 10 / 4:4:4 H.264) and the audio codec. No gradio here.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from r1omni.errors import MediaError

logger = logging.getLogger(__name__)

# extension -> (PyAV container names it must have, video codecs, audio codecs) a browser plays.
# Chromium plays these without proprietary plug-ins (and so do Firefox and Safari, except where noted).
_MP4 = ({"mov,mp4,m4a,3gp,3g2,mj2"}, {"h264", "av1", "vp9"}, {"aac", "mp3", "opus", "flac"})
BROWSER_FORMATS: dict[str, tuple[set[str], set[str], set[str]]] = {
    ".mp4": _MP4,
    ".m4v": _MP4,
    ".m4a": _MP4,
    ".webm": ({"matroska,webm"}, {"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
    ".ogg": ({"ogg"}, set(), {"opus", "vorbis", "flac"}),
    ".oga": ({"ogg"}, set(), {"opus", "vorbis", "flac"}),
    ".opus": ({"ogg"}, set(), {"opus"}),
    ".mp3": ({"mp3"}, set(), {"mp3"}),
    ".wav": ({"wav"}, set(), {"pcm_s16le", "pcm_u8", "pcm_s24le", "pcm_s32le", "pcm_f32le"}),
    ".flac": ({"flac"}, set(), {"flac"}),
}
BROWSER_PIX_FMTS = {"yuv420p", "yuvj420p"}
COPY_SUFFIX = ".mp4"
_COPY_NAME = re.compile(r"^playback-([0-9a-f]{32})\.mp4$")
CONVERT_TIMEOUT_S = 600
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class MediaProbe:
    """What a browser's decision depends on: container, first video / audio stream codecs, pixel format."""

    container: str
    video_codec: str | None = None  # None: no video stream (a cover picture does not count)
    pix_fmt: str | None = None
    audio_codec: str | None = None  # None: no audio stream


def probe(path: str | os.PathLike) -> MediaProbe:
    """Container and stream codecs of a media file (PyAV); MediaError (one line) when it cannot be opened."""
    import av

    try:
        with av.open(str(path)) as container:
            video = audio = pix = None
            for s in container.streams:
                cc = s.codec_context
                if cc is None:
                    continue  # data / attachment streams
                if s.type == "video" and video is None and not (int(s.disposition) & _attached_pic()):
                    video = cc.codec.canonical_name
                    pix = getattr(getattr(cc, "format", None), "name", None)
                elif s.type == "audio" and audio is None:
                    audio = cc.codec.canonical_name
            return MediaProbe(container.format.name, video, pix, audio)
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise MediaError(f"cannot probe '{Path(path).name}': {err}") from None


def _attached_pic() -> int:
    import av

    return int(av.stream.Disposition.attached_pic)


def browser_plays(p: MediaProbe, suffix: str) -> bool:
    """True when a browser's <video> plays a file with this probe and extension (pure).

    >>> browser_plays(MediaProbe("mov,mp4,m4a,3gp,3g2,mj2", "h264", "yuv420p", "aac"), ".mp4")
    True
    >>> browser_plays(MediaProbe("flv", "vp6f", "yuv420p", "mp3"), ".flv")
    False
    >>> browser_plays(MediaProbe("mov,mp4,m4a,3gp,3g2,mj2", "mpeg4", "yuv420p", None), ".mp4")
    False
    """
    fmt = BROWSER_FORMATS.get(suffix.lower())
    if fmt is None or not (p.video_codec or p.audio_codec):
        return False
    containers, vcodecs, acodecs = fmt
    if p.container not in containers:
        return False
    if p.video_codec is not None and (p.video_codec not in vcodecs or p.pix_fmt not in BROWSER_PIX_FMTS):
        return False
    return p.audio_codec is None or p.audio_codec in acodecs


def ffmpeg_exe() -> str:
    """The ffmpeg binary imageio-ffmpeg ships (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def convert(src: str | os.PathLike, dst: str | os.PathLike, p: MediaProbe | None = None) -> Path:
    """Write an H.264 (yuv420p, even size) / AAC mp4 of `src` to `dst` (moov first, so it seeks at once).
    Streams that already play in an mp4 are copied, not re-encoded. MediaError (one line) on failure."""
    src, dst = Path(src), Path(dst)
    if p is None:
        try:
            p = probe(src)
        except MediaError:
            p = MediaProbe("unknown", "unknown", None, "unknown")  # let ffmpeg try: it reads more than it probes
    video_copy = p.video_codec == "h264" and p.pix_fmt in BROWSER_PIX_FMTS
    audio_copy = p.audio_codec in ("aac", "mp3")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(src),
           "-map", "0:v:0?", "-map", "0:a:0?", "-dn", "-sn", "-map_metadata", "-1"]
    cmd += (["-c:v", "copy"] if video_copy else
            ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
             "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2:out_range=tv,format=yuv420p"])
    cmd += ["-c:a", "copy"] if audio_copy else ["-c:a", "aac", "-b:a", "128k"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(dst)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise MediaError(f"cannot make a playable copy of '{src.name}': ffmpeg took over {CONVERT_TIMEOUT_S} s")
    except OSError as err:
        raise MediaError(f"cannot make a playable copy of '{src.name}': cannot run ffmpeg ({err.strerror})")
    if proc.returncode != 0 or not dst.is_file() or dst.stat().st_size == 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MediaError(f"cannot make a playable copy of '{src.name}': ffmpeg: {last[:200]}")
    return dst


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class PlaybackCache:
    """Playback copies of one app process, in `folder` (the app's private folder; a fresh private temp folder
    when None). Thread-safe; a copy is made once per content (concurrent requests for it wait for the one
    conversion)."""

    def __init__(self, folder: str | os.PathLike | None = None):
        if folder is None:  # a folder of its own, removed when the process exits
            folder = tempfile.mkdtemp(prefix="r1omni-playback-")
            atexit.register(shutil.rmtree, folder, True)
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}  # (path, mtime_ns, size) -> sha256
        self._copies: dict[str, tuple[Path, str]] = {}  # key -> (original, sha256 of the copy)
        self._plays: dict[tuple[str, int, int], bool] = {}
        self.conversions = 0  # copies made by this process (tests read it)

    def _stat_key(self, path: Path) -> tuple[str, int, int]:
        st = path.stat()
        return str(path), st.st_mtime_ns, st.st_size

    def content_hash(self, path: Path) -> str:
        k = self._stat_key(path)
        with self._lock:
            if k in self._hashes:
                return self._hashes[k]
        digest = file_sha256(path)
        with self._lock:
            self._hashes[k] = digest
        return digest

    def needs_copy(self, path: str | os.PathLike) -> bool:
        """True when a browser cannot play `path` as it is (decided by probe; remembered per file version)."""
        p = Path(path).resolve()
        k = self._stat_key(p)
        with self._lock:
            if k in self._plays:
                return not self._plays[k]
        try:
            plays = browser_plays(probe(p), p.suffix)
        except MediaError:
            plays = False
        with self._lock:
            self._plays[k] = plays
        return not plays

    def copy_path(self, path: str | os.PathLike) -> Path:
        """Where the playback copy of `path`'s content lives (made or not)."""
        return self.folder / f"playback-{self.content_hash(Path(path).resolve())[:32]}{COPY_SUFFIX}"

    def playable(self, path: str | os.PathLike) -> Path:
        """`path` itself when a browser plays it, else its playback copy (made now if needed).
        MediaError (one line) when the copy cannot be made."""
        p = Path(path).resolve()
        if not p.is_file():
            raise MediaError(f"cannot play '{p.name}': no such file")
        if not self.needs_copy(p):
            return p
        out = self.copy_path(p)
        key = out.name[len("playback-"):-len(COPY_SUFFIX)]
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if not out.is_file():
                fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".part.mp4")
                os.close(fd)
                try:
                    convert(p, tmp)
                    os.replace(tmp, out)
                finally:
                    Path(tmp).unlink(missing_ok=True)
                self.conversions += 1
                logger.info("playback copy of %s made (%d bytes)", p.name, out.stat().st_size)
            with self._lock:
                if key not in self._copies or not self._copies[key][0].is_file():
                    self._copies[key] = (p, file_sha256(out))
        return out

    def original_of(self, path: str | os.PathLike | None) -> Path | None:
        """The clip a playback copy was made from, for a copy this cache made (or a byte-identical copy of it
        under the same name, as a web framework's file cache holds); None for any other file."""
        if not path:
            return None
        p = Path(path)
        m = _COPY_NAME.match(p.name)
        if not m:
            return None
        with self._lock:
            entry = self._copies.get(m.group(1))
        if entry is None or not p.is_file():
            return None
        original, digest = entry
        if not original.is_file() or file_sha256(p) != digest:
            return None
        return original

    def source_of(self, path: str | os.PathLike) -> str:
        """The file explanations read for a player's value: the original of a playback copy, else the path."""
        original = self.original_of(path)
        return str(original) if original is not None else str(path)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
