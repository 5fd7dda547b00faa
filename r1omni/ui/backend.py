"""What the tabs ask of the model, behind one small object shared by every session.

`Backend` holds the one loaded Pipeline (read-only across sessions), the results store and the library
root; it turns UI requests into calls on the public r1omni API and returns plain dicts (DESIGN 3.2 JSON)
plus the decoded clip for drawing. No gradio here, so handlers stay tiny and this is testable directly.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r1omni.errors import MediaError, R1OmniError, UsageError
from r1omni.library_store import LibraryStore, checkpoint_fingerprint, resolve_inside
from r1omni.playback import PlaybackCache

logger = logging.getLogger(__name__)

LIVE_SAMPLE_RATE = 16000
EXPLAIN_MODE_CHOICES = ("auto", "fast", "full")
# The default explain mode is 'full' when a full explanation is expected within FULL_BUDGET_S seconds, judged
# from the warm-up prediction (WARMUP_TOKENS new tokens) times FULL_COST_RATIO: full explain / predict measured
# at 64 new tokens on the full-size model (bench/results/explain_cost_full.json: 9.2x; 5.3x on the demo).
WARMUP_TOKENS = 64
FULL_COST_RATIO = 9.2
FULL_BUDGET_S = 45.0


@dataclass
class ClipView:
    """An explain JSON plus the decoded media the figures need (thumbnails, waveform)."""

    result: dict
    thumbnails: list[np.ndarray]
    audio: np.ndarray | None


def default_explain_mode(predict_s: float | None, budget_s: float = FULL_BUDGET_S,
                         full_cost_ratio: float = FULL_COST_RATIO) -> str:
    """'full' when a full explanation is expected within `budget_s` from the measured seconds of one prediction,
    else 'fast' (also when nothing was measured). Pure, so the choice is tested without timing.

    >>> default_explain_mode(1.0), default_explain_mode(20.0), default_explain_mode(None)
    ('full', 'fast', 'fast')
    """
    if predict_s is None or predict_s < 0:
        return "fast"
    return "full" if predict_s * full_cost_ratio <= budget_s else "fast"


def checkpoint_title(pipeline) -> str:
    """Human name of the loaded checkpoint ('demo model (synthetic training data)' for the demo)."""
    return str(getattr(pipeline, "display_name", None) or getattr(pipeline, "checkpoint", "?"))


def checkpoint_folder(pipeline) -> Path | None:
    """The folder a pipeline was loaded from (the demo's own folder for the demo), or None if unknown."""
    from r1omni.inference import DEMO_CHECKPOINT, DEMO_DISPLAY_NAME

    if getattr(pipeline, "display_name", None) == DEMO_DISPLAY_NAME:
        return DEMO_CHECKPOINT
    p = Path(str(getattr(pipeline, "checkpoint", "")))
    return p.resolve() if p.is_dir() else None


def _public_name(pipeline) -> None:
    """Outputs name the checkpoint by its folder name, never by an absolute server path."""
    name = str(getattr(pipeline, "display_name", "") or "")
    if name.startswith(("/", "~", ".")) or "/" in name.rstrip("/"):
        pipeline.display_name = Path(name).name or name


def _as_dict(obj) -> dict:
    d = obj.to_dict()
    if "error" in d and "prediction" not in d and "label" not in d:
        raise MediaError(d["error"])
    return d


class Backend:
    """The shared model-side state of the app: one pipeline, optional second one for comparisons."""

    audit = None  # the AuditStore (r1omni.audit.store), set by app.build; the Audit tab reads and writes it

    def __init__(self, pipeline, store: LibraryStore | None = None, library_root: Path | None = None,
                 loader: Callable[[str], object] | None = None, checkpoint_dirs: tuple[Path, ...] = (),
                 batch_size: int = 8, playback_dir: Path | None = None, explain_mode: str = "auto",
                 predict_s: float | None = None):
        self.pipeline = pipeline
        self.store = store
        self.library_root = Path(library_root).resolve() if library_root else None
        self.checkpoint_dirs = tuple(Path(d).resolve() for d in checkpoint_dirs)
        self.batch_size = max(1, int(batch_size))
        self._loader = loader
        self._others: dict[str, tuple[object, str]] = {}
        self._load_lock = threading.Lock()
        # One model call at a time, whichever event asks: /explain is admitted by its own gate, the other
        # model events by Gradio's "model" concurrency group; this lock keeps the two from overlapping.
        self.model_lock = threading.RLock()
        self.rates: dict[str, float] = {}  # measured s per generated token / scored variant / explain (ClipEvents)
        _public_name(pipeline)
        self.key = self._identity(pipeline)
        # Browser playback copies (r1omni.playback), in the app's private folder; players get `playable`.
        self.playback = PlaybackCache(playback_dir)
        if explain_mode not in EXPLAIN_MODE_CHOICES:
            raise UsageError(f"explain mode must be one of {', '.join(EXPLAIN_MODE_CHOICES)}, got '{explain_mode}'")
        self.explain_mode_setting = explain_mode
        self.predict_s = predict_s  # seconds of the warm-up prediction (None: not measured)

    # ------------------------------------------------------------ defaults from the checkpoint
    @property
    def max_new_tokens(self) -> int:
        """The checkpoint's new-token limit: its generation_config.json max_new_tokens, else 2048. Every tab's
        default (and its slider's maximum)."""
        return int(self.pipeline.max_new_tokens())

    def warm_up(self, clip: str | Path) -> float | None:
        """Predict one clip (at most WARMUP_TOKENS new tokens, the token count the explain-cost ratios were
        measured at) and keep its seconds in `predict_s`; None (logged) when the clip cannot be used."""
        try:
            t0 = time.perf_counter()
            with self.model_lock:
                (res,) = self.pipeline.predict([str(clip)], max_new_tokens=min(WARMUP_TOKENS, self.max_new_tokens))
            if "error" in res.to_dict():
                raise MediaError(res.to_dict()["error"])
        except R1OmniError as err:
            logger.warning("warm-up prediction failed (%s); the explain mode defaults to 'fast'", err)
            return None
        self.predict_s = time.perf_counter() - t0
        logger.info("warm-up prediction: %.2f s -> default explain mode '%s'", self.predict_s, self.explain_mode())
        return self.predict_s

    def explain_mode(self) -> str:
        """The default explanation mode of the Clip tab and of the Library's 'send to audit': the start-up
        setting when it is 'fast' or 'full', else chosen from the measured warm-up prediction."""
        if self.explain_mode_setting in ("fast", "full"):
            return self.explain_mode_setting
        return default_explain_mode(self.predict_s)

    # ------------------------------------------------------------ playback
    def playable(self, path: str | Path) -> str:
        """The file a player shows for a clip: the clip itself when a browser plays it, else its playback copy
        (made once per content). MediaError (one line) when no copy can be made."""
        return str(self.playback.playable(path))

    def source_of(self, path: str | Path | None) -> str | None:
        """The clip file behind a player's value (the original of a playback copy): what explanations read."""
        return None if not path else self.playback.source_of(path)

    @property
    def title(self) -> str:
        return checkpoint_title(self.pipeline)

    def _identity(self, pipeline) -> str:
        """Results-store key of a pipeline: its checkpoint's fingerprint (config + weights), not its path."""
        folder = checkpoint_folder(pipeline)
        if folder is None:
            return str(getattr(pipeline, "checkpoint", checkpoint_title(pipeline)))
        return checkpoint_fingerprint(folder, self.store)

    def checkpoint_choices(self) -> list[str]:
        """Checkpoint folders (names relative to an allowed --checkpoints folder) the Compare box offers."""
        out = []
        for d in self.checkpoint_dirs:
            cands = [d] if (d / "config.json").is_file() else sorted(p for p in d.iterdir()
                                                                      if (p / "config.json").is_file())
            out += [p.name for p in cands]
        return out

    def _allowed_checkpoint(self, name: str) -> Path:
        """The folder of checkpoint `name` inside an allowed --checkpoints folder; UsageError otherwise."""
        if not self.checkpoint_dirs:
            raise UsageError("comparing needs a checkpoint folder allowed at start-up (app.py --checkpoints DIR)")
        for d in self.checkpoint_dirs:
            if name == d.name and (d / "config.json").is_file():
                return d
            try:
                p = resolve_inside(d, name)
            except UsageError:
                continue
            if (p / "config.json").is_file():
                return p
        raise UsageError(f"checkpoint '{Path(name).name}' is not in the checkpoint folders allowed at start-up; "
                         f"choose one of: {', '.join(self.checkpoint_choices()) or 'none found'}")

    def pipeline_for(self, checkpoint: str | None):
        """The main pipeline, or another allowed checkpoint loaded once on demand (for comparisons)."""
        return self.pipeline_and_key(checkpoint)[0]

    def pipeline_and_key(self, checkpoint: str | None) -> tuple[object, str]:
        if not checkpoint or checkpoint == self.key:
            return self.pipeline, self.key
        folder = self._allowed_checkpoint(checkpoint)
        with self._load_lock:
            if str(folder) not in self._others:
                if self._loader is None:
                    raise UsageError("this app cannot load a second checkpoint")
                self._others.clear()  # keep at most one extra model in memory
                pipe = self._loader(str(folder))
                _public_name(pipe)
                self._others[str(folder)] = (pipe, checkpoint_fingerprint(folder, self.store))
            return self._others[str(folder)]

    # ------------------------------------------------------------ clips
    def decode(self, path: str | Path):
        from r1omni.media import decode_clip

        return decode_clip(self.source_of(path), num_frames=int(getattr(self.pipeline, "num_frames", 8)))

    def explain_clip(self, path: str | Path | None, label_set: str = "dfew", mode: str = "fast",
                     do_sample: bool = False, max_new_tokens: int | None = None,
                     progress: Callable[[float, str], None] | None = None, audio: str | Path | None = None,
                     on_event: Callable[[str, dict], None] | None = None) -> ClipView:
        """Decode once, explain, and keep the frames and waveform for the figures. `progress(fraction, stage)`
        is told each stage as it starts: decode, predict, attribution.

        `audio`: a separate audio file; alone it is the clip, with a video `path` it replaces the video's own
        sound (one clip: these frames, that audio). `on_event(kind, info)` is told results as they come (see
        `ClipEvents`): "decoded", "tokens" (the completion so far, while it is generated), "predicted",
        "scored" (variants done / total, the modality shares after the first stage), "contrast"."""
        from r1omni.explain import explain

        report = progress or (lambda frac, stage: None)
        if not path and not audio:
            raise UsageError("no clip given: upload a video or an audio file, record one, or pick an example")
        report(0.0, "decode")
        clip = self.decode(path) if path else self.decode_audio(audio)
        if path and audio:
            clip = combine(clip, self.decode_audio(audio))
        events = ClipEvents(self, on_event) if on_event else None
        if events:
            events("decoded", {"has_video": clip.has_video, "has_audio": clip.has_audio})
        staged = _Staged(self.pipeline, report, events)
        with self.model_lock:
            t0 = time.perf_counter()
            (res,) = explain(staged, [clip], mode=mode, label_set=label_set, do_sample=do_sample,
                             max_new_tokens=int(max_new_tokens or self.max_new_tokens),
                             on_progress=events.progress if events else None)
            if events:
                events.finished(time.perf_counter() - t0)
        result = _without_server_paths(_as_dict(res))
        honesty = self.honesty_notice(clip)
        if honesty:
            result.setdefault("notices", []).insert(0, honesty)
        thumbs = [] if clip.frames is None else [_thumbnail(f) for f in clip.frames]
        return ClipView(result, thumbs, clip.audio)

    def decode_audio(self, path: str | Path):
        """An audio file as a clip of its sound alone (a cover picture or any video in it is not used)."""
        from r1omni.media import NOTICE_NO_VIDEO

        clip = self.decode(path)
        if not clip.has_audio:
            raise UsageError(f"'{Path(str(path)).name}' in the audio box has no audio track: upload an audio file")
        if clip.has_video:
            clip = dataclasses.replace(clip, frames=None, frame_indices=[], frame_times_s=[], has_video=False,
                                       num_video_frames=0, fps=0.0, duration_s=clip.audio_duration_s,
                                       notices=[n for n in clip.notices if "video" not in n] + [NOTICE_NO_VIDEO])
        return clip

    def honesty_notice(self, clip) -> str | None:
        """With the demo checkpoint on a clip unlike its synthetic training clips, say the answer is meaningless."""
        from r1omni.inference import DEMO_DISPLAY_NAME

        if getattr(self.pipeline, "display_name", None) != DEMO_DISPLAY_NAME or looks_synthetic(clip):
            return None
        return DEMO_NOT_REAL

    def predict_clips(self, paths: list[Path], label_set: str = "dfew", checkpoint: str | None = None,
                      max_new_tokens: int | None = None) -> list[dict]:
        """predict JSON (or {"clip", "error"}) per clip, in order; one bad clip does not stop the others."""
        pipe = self.pipeline_for(checkpoint)
        with self.model_lock:
            res = pipe.predict([str(p) for p in paths], label_set_name=label_set,
                               max_new_tokens=int(max_new_tokens or self.max_new_tokens), batch_size=self.batch_size)
        return [_without_server_paths(r.to_dict()) for r in res]

    def explain_completions(self, paths: list[Path], completions: list[str], label_set: str = "dfew",
                            mode: str = "full") -> list[dict]:
        """Explain given completions (teacher-forced, e.g. a Library run's stored predictions) for audit."""
        from r1omni.explain import explain

        with self.model_lock:
            res = explain(self.pipeline, [str(p) for p in paths], mode=mode, label_set=label_set,
                          completions=completions)
        return [r.to_dict() for r in res]

    # ------------------------------------------------------------ live
    def explain_window(self, frames: np.ndarray | None, frame_times_s: list[float], audio: np.ndarray | None,
                       duration_s: float, label_set: str = "dfew", max_new_tokens: int | None = None) -> dict:
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
        with self.model_lock:
            (res,) = explain(self.pipeline, [clip], mode="fast", label_set=label_set,
                             max_new_tokens=int(max_new_tokens or self.max_new_tokens))
        return _as_dict(res)


_ABS_PATH = re.compile(r"(?<![\w.:/])(?:~|/)(?:[^\s'\"/]+/)+([^\s'\"/]*)")


def scrub_paths(text: str) -> str:
    """Absolute paths in a message reduced to their last part (the file name the user knows).

    >>> scrub_paths("cannot read clip '/tmp/gradio/ab12/notes.mp4': file is empty")
    "cannot read clip 'notes.mp4': file is empty"
    """
    return _ABS_PATH.sub(lambda m: m.group(1) or "…", str(text))


DEMO_NOT_REAL = ("the demo checkpoint knows drawn synthetic faces and voices only: this clip is not one of "
                 "those, so its answer on this recording means nothing (load a real R1-Omni checkpoint)")


def looks_synthetic(clip) -> bool:
    """True when a decoded clip has the format of the synthetic generator's clips (128 px square frames at
    10 fps, about 4 s); a real recording or an audio-only file is not."""
    from r1omni.synthetic.clips import DURATION_S
    from r1omni.synthetic.face import FPS, FRAME_SIZE

    frames = getattr(clip, "frames", None)
    if frames is None or not len(frames):
        return False
    return (tuple(frames.shape[1:3]) == (FRAME_SIZE, FRAME_SIZE) and abs(float(clip.fps or 0) - FPS) < 0.5
            and abs(float(clip.duration_s or 0) - DURATION_S) < 0.5)


def combine(video, sound):
    """One clip from the frames of `video` and the audio of `sound` (both decoded `media.Clip`s); the video's
    own audio track, if any, is not used. A notice says which file gave what."""
    keep = [n for n in video.notices if "audio" not in n]
    vname, aname = Path(str(video.path)).name, Path(str(sound.path)).name
    return dataclasses.replace(
        video, audio=sound.audio, has_audio=True, audio_duration_s=sound.audio_duration_s,
        duration_s=max(float(video.duration_s), float(sound.audio_duration_s)),
        decoders={**video.decoders, "audio": sound.decoders.get("audio", "")},
        notices=keep + [n for n in sound.notices if "video" not in n]
        + [f"one clip from two files: the frames of '{vname}' and the audio of '{aname}'"])


class ClipEvents:
    """Results of one explain as they come, for a caller's `on_event(kind, info)`; keeps the throughput the
    estimates use (seconds per generated token and per scored variant, moving averages on the Backend).

    kinds: "decoded" {has_video, has_audio}; "tokens" {text, n, s_per_token}; "predicted" {prediction,
    total, s_per_variant}; "scored" {stage, done, total, s_per_variant, modality?}; "contrast" {}."""

    EWMA = 0.3

    def __init__(self, backend: Backend, on_event: Callable[[str, dict], None]):
        self.backend = backend
        self.on_event = on_event
        self.ids: list[int] = []
        self._t_step: float | None = None
        self._t_first: float | None = None
        self._t_scored: float | None = None
        self._last_sent = 0.0
        self._done = 0

    def __call__(self, kind: str, info: dict) -> None:
        self.on_event(kind, info)

    def _rate(self, key: str, value: float) -> None:
        rates = self.backend.rates
        rates[key] = value if key not in rates else (1 - self.EWMA) * rates[key] + self.EWMA * value

    def step(self, ids: list[int]) -> None:
        """One decoding step (batch of one clip here); the text is re-decoded at most 10 times a second."""
        now = time.perf_counter()
        if self._t_first is None:
            self._t_first = now
        self.ids.append(ids[0])
        self._t_step = now
        if now - self._last_sent >= 0.1:
            self._send_tokens()

    def _send_tokens(self) -> None:
        self._last_sent = time.perf_counter()
        tok = self.backend.pipeline.tokenizer
        n = len(self.ids)
        per = (self._t_step - self._t_first) / (n - 1) if n > 1 and self._t_first is not None else None
        self.on_event("tokens", {"text": tok.decode(self.ids, skip_special_tokens=True), "n": n,
                                 "s_per_token": per if per is not None else self.backend.rates.get("token")})

    def generated(self) -> None:
        if self.ids:
            self._send_tokens()
            if len(self.ids) > 1 and self._t_first is not None:
                self._rate("token", (self._t_step - self._t_first) / (len(self.ids) - 1))

    def progress(self, kind: str, info: dict) -> None:
        """explain()'s on_progress: predictions, then variants scored stage by stage."""
        now = time.perf_counter()
        if kind == "predicted":
            self._t_scored, self._done = now, 0
            pred = _without_server_paths(dict(next(iter(info["predictions"].values()))))
            self.on_event("predicted", {"prediction": pred, "total": info["total"],
                                        "s_per_variant": self.backend.rates.get("variant")})
        elif kind == "scored":
            n = info["done"] - self._done
            if n > 0 and self._t_scored is not None:
                self._rate("variant", (now - self._t_scored) / n)
            self._t_scored, self._done = now, info["done"]
            out = {k: info[k] for k in ("stage", "done", "total")}
            out["s_per_variant"] = self.backend.rates.get("variant")
            if "modality" in info:
                out["modality"] = next(iter(info["modality"].values()))
            self.on_event("scored", out)
        else:
            self.on_event(kind, dict(info))

    def finished(self, seconds: float) -> None:
        self._rate("explain", seconds)


class _Staged:
    """The pipeline as `explain` sees it, reporting when generation starts and when attribution starts
    (and, with `events`, each decoding step)."""

    def __init__(self, pipeline, report: Callable[[float, str], None], events: ClipEvents | None = None):
        self._pipeline = pipeline
        self._report = report
        self._events = events

    def predict(self, *args, **kwargs):
        self._report(0.15, "predict")
        if self._events is None:
            out = self._pipeline.predict(*args, **kwargs)
        else:
            with self._pipeline.streaming(self._events.step):
                out = self._pipeline.predict(*args, **kwargs)
            self._events.generated()
        self._report(0.5, "attribution")
        return out

    def __getattr__(self, name):
        return getattr(self._pipeline, name)


def _without_server_paths(d: dict) -> dict:
    """A stored/shown result names its clip by file name, not by its absolute server path (also inside an
    explain JSON's prediction, and in notices)."""
    if "clip" in d:
        d["clip"] = Path(str(d["clip"])).name
    if "error" in d:
        d["error"] = scrub_paths(d["error"])
    if isinstance(d.get("prediction"), dict):
        d["prediction"] = _without_server_paths(dict(d["prediction"]))
    if isinstance(d.get("notices"), list):
        d["notices"] = [scrub_paths(n) for n in d["notices"]]
    return d


def _thumbnail(frame: np.ndarray, size: int = 160) -> np.ndarray:
    """Nearest-neighbour downscale to at most `size` px on the long side (no extra image library)."""
    h, w = frame.shape[:2]
    scale = min(1.0, size / max(h, w))
    if scale >= 1.0:
        return frame
    ys = (np.arange(int(h * scale)) / scale).astype(int)
    xs = (np.arange(int(w * scale)) / scale).astype(int)
    return frame[ys][:, xs]
