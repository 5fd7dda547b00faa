"""What the tabs ask of the model, behind one small object shared by every session.

`Backend` holds the one loaded Pipeline (read-only across sessions), the results store and the library
root; it turns UI requests into calls on the public r1omni API and returns plain dicts (DESIGN 3.2 JSON)
plus the decoded clip for drawing. No gradio here, so handlers stay tiny and this is testable directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r1omni.errors import MediaError, UsageError
from r1omni.library_store import LibraryStore

logger = logging.getLogger(__name__)

LIVE_SAMPLE_RATE = 16000


@dataclass
class ClipView:
    """An explain JSON plus the decoded media the figures need (thumbnails, waveform)."""

    result: dict
    thumbnails: list[np.ndarray]
    audio: np.ndarray | None


def checkpoint_title(pipeline) -> str:
    """Human name of the loaded checkpoint ('demo model (synthetic training data)' for the demo)."""
    return str(getattr(pipeline, "display_name", None) or getattr(pipeline, "checkpoint", "?"))


def _as_dict(obj) -> dict:
    d = obj.to_dict()
    if "error" in d and "prediction" not in d and "label" not in d:
        raise MediaError(d["error"])
    return d


class Backend:
    """The shared model-side state of the app: one pipeline, optional second one for comparisons."""

    audit = None  # the AuditStore (r1omni.audit.store), set by app.build; the Audit tab reads and writes it

    def __init__(self, pipeline, store: LibraryStore | None = None, library_root: Path | None = None,
                 loader: Callable[[str], object] | None = None):
        self.pipeline = pipeline
        self.store = store
        self.library_root = Path(library_root).resolve() if library_root else None
        self._loader = loader
        self._others: dict[str, object] = {}
        self._load_lock = threading.Lock()

    @property
    def title(self) -> str:
        return checkpoint_title(self.pipeline)

    @property
    def key(self) -> str:
        """Identity of the loaded checkpoint in the results store."""
        return str(getattr(self.pipeline, "checkpoint", self.title))

    def pipeline_for(self, checkpoint: str | None):
        """The main pipeline, or another checkpoint loaded once on demand (for comparisons)."""
        if not checkpoint or checkpoint == self.key:
            return self.pipeline
        with self._load_lock:
            if checkpoint not in self._others:
                if self._loader is None:
                    raise UsageError("this app cannot load a second checkpoint")
                self._others.clear()  # keep at most one extra model in memory
                self._others[checkpoint] = self._loader(checkpoint)
            return self._others[checkpoint]

    # ------------------------------------------------------------ clips
    def decode(self, path: str | Path):
        from r1omni.media import decode_clip

        return decode_clip(str(path), num_frames=int(getattr(self.pipeline, "num_frames", 8)))

    def explain_clip(self, path: str | Path, label_set: str = "dfew", mode: str = "fast", do_sample: bool = False,
                     max_new_tokens: int = 256) -> ClipView:
        """Decode once, explain, and keep the frames and waveform for the figures."""
        from r1omni.explain import explain

        if not path:
            raise UsageError("no clip given: upload a video, record one, or pick an example")
        clip = self.decode(path)
        (res,) = explain(self.pipeline, [clip], mode=mode, label_set=label_set, do_sample=do_sample,
                         max_new_tokens=int(max_new_tokens))
        thumbs = [] if clip.frames is None else [_thumbnail(f) for f in clip.frames]
        return ClipView(_as_dict(res), thumbs, clip.audio)

    def predict_clips(self, paths: list[Path], label_set: str = "dfew", checkpoint: str | None = None,
                      max_new_tokens: int = 256) -> list[dict]:
        """predict JSON (or {"clip", "error"}) per clip, in order; one bad clip does not stop the others."""
        pipe = self.pipeline_for(checkpoint)
        res = pipe.predict([str(p) for p in paths], label_set_name=label_set, max_new_tokens=int(max_new_tokens))
        return [r.to_dict() for r in res]

    def explain_completions(self, paths: list[Path], completions: list[str], label_set: str = "dfew",
                            mode: str = "full") -> list[dict]:
        """Explain given completions (teacher-forced, e.g. a Library run's stored predictions) for audit."""
        from r1omni.explain import explain

        return [r.to_dict() for r in explain(self.pipeline, [str(p) for p in paths], mode=mode, label_set=label_set,
                                             completions=completions)]

    # ------------------------------------------------------------ live
    def explain_window(self, frames: np.ndarray | None, frame_times_s: list[float], audio: np.ndarray | None,
                       duration_s: float, label_set: str = "dfew", max_new_tokens: int = 128) -> dict:
        """Fast explanation of the last live window (frames (T,H,W,3) uint8, audio 16 kHz float32)."""
        from r1omni.explain import explain
        from r1omni.media import Clip, sample_frame_indices

        has_video = frames is not None and len(frames) > 0
        has_audio = audio is not None and len(audio) > 0
        if not (has_video or has_audio):
            raise UsageError("no camera frames or microphone audio received yet")
        notices = []
        if has_video:
            idx = sample_frame_indices(len(frames), int(getattr(self.pipeline, "num_frames", 8)))
            frames, frame_times_s = frames[idx], [frame_times_s[i] for i in idx]
        else:
            notices.append("no camera frames: video modality absent")
        if not has_audio:
            notices.append("no microphone audio: audio modality absent")
        clip = Clip(path="live", frames=frames if has_video else None, frame_indices=list(range(len(frame_times_s)))
                    if has_video else [], frame_times_s=list(frame_times_s) if has_video else [],
                    audio=audio if has_audio else None, duration_s=duration_s, has_video=has_video,
                    has_audio=has_audio, notices=notices)
        (res,) = explain(self.pipeline, [clip], mode="fast", label_set=label_set, max_new_tokens=int(max_new_tokens))
        return _as_dict(res)


def _thumbnail(frame: np.ndarray, size: int = 160) -> np.ndarray:
    """Nearest-neighbour downscale to at most `size` px on the long side (no extra image library)."""
    h, w = frame.shape[:2]
    scale = min(1.0, size / max(h, w))
    if scale >= 1.0:
        return frame
    ys = (np.arange(int(h * scale)) / scale).astype(int)
    xs = (np.arange(int(w * scale)) / scale).astype(int)
    return frame[ys][:, xs]
