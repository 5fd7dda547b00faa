"""Cue-controlled synthetic clips: the clip spec, sampling, rendering, mp4 writing and the manifest.

A clip (DESIGN 3.5) is 4.0 s of a drawn face (128x128, 10 fps) and a synthetic voice (16 kHz mono). Its
label shows only inside one contiguous cue window (1.6-2.8 s long, placed at random), and only in the cue
modality (`video`, `audio` or `both`); outside the window, and in the other modality, everything is neutral.

Convention for neutral-label clips: they are drawn like the others (a `cue_modality` and a window are
sampled and recorded), but nothing differs inside the window; `video_label` and `audio_label` say what each
modality actually shows ("neutral" for both here).

Every random choice of a clip comes from `ClipSpec.seed` and the spec's attributes, which the manifest
records; `ClipSpec.from_row(row)` rebuilds the spec, and the same spec always gives the same bytes.
This module knows nothing about models, tokenizers or reasoning texts.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import av
import numpy as np

from r1omni.errors import UsageError
from r1omni.synthetic.face import FACE_TARGETS, FPS, FRAME_SIZE, NEUTRAL_FACE, render_frames
from r1omni.synthetic.voice import NEUTRAL_VOICE, SAMPLE_RATE, VOICE_TARGETS, render_voice

logger = logging.getLogger(__name__)

LABELS = ("happy", "surprise", "neutral", "angry", "disgust", "sad", "fear")  # DFEW order
MODALITIES = ("video", "audio", "both")
DURATION_S = 4.0
WINDOW_S = (1.6, 2.8)
INTENSITY = (0.75, 1.15)
MANIFEST_NAME = "manifest.csv"
# One encoder thread (x264 output then depends on nothing but the input); crf 18 keeps the decoded frames
# close to the in-memory ones that training may use; veryfast is 3x cheaper than medium at this size.
_X264_OPTIONS = {"crf": "18", "preset": "veryfast", "threads": "1", "x264-params": "threads=1:lookahead-threads=1"}
BASE_COLUMNS = ("path", "label", "cue_modality", "cue_start_s", "cue_end_s", "duration_s", "seed")


@dataclass(frozen=True)
class ClipSpec:
    """Everything that decides a clip. Face/voice attributes are the values inside the cue window (the
    neutral values when that modality carries no cue); outside the window both modalities are neutral."""

    label: str
    cue_modality: str
    cue_start_s: float
    cue_end_s: float
    seed: int
    duration_s: float
    intensity: float
    mouth_curve: float
    mouth_open: float
    mouth_width: float
    mouth_skew: float
    brow_raise: float
    brow_angle: float
    brow_asym: float
    eye_open: float
    nose_wrinkle: float
    pitch_level: float
    pitch_slope: float
    syllable_rate: float
    energy: float
    tremor: float
    harshness: float
    spectral_tilt: float
    base_pitch_hz: float
    head_height: float
    noise_sigma: float
    noise_floor: float

    @property
    def window(self) -> tuple[float, float]:
        return self.cue_start_s, self.cue_end_s

    @property
    def video_label(self) -> str:
        """What the face shows inside the window."""
        return self.label if self.cue_modality in ("video", "both") else "neutral"

    @property
    def audio_label(self) -> str:
        """What the voice carries inside the window."""
        return self.label if self.cue_modality in ("audio", "both") else "neutral"

    def to_row(self) -> dict[str, object]:
        """Manifest row without `path`: base columns, then video_label/audio_label, then attributes."""
        row = asdict(self)
        return {"video_label": self.video_label, "audio_label": self.audio_label, **row}

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> ClipSpec:
        """Rebuild a spec from a manifest row (strings or numbers); extra columns are ignored."""
        kw: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in row:
                raise UsageError(f"manifest row lacks column {f.name!r}; not a synthetic-clip manifest")
            value = row[f.name]
            kw[f.name] = value if f.type == "str" else int(value) if f.type == "int" else float(value)
        return cls(**kw)


ATTRIBUTE_COLUMNS = tuple(f.name for f in fields(ClipSpec) if f.name not in BASE_COLUMNS)
MANIFEST_COLUMNS = BASE_COLUMNS + ("video_label", "audio_label") + ATTRIBUTE_COLUMNS


def _towards(neutral: dict[str, float], target: dict[str, float], k: float, rng: np.random.Generator) -> dict:
    """neutral + k * (target - neutral), with a little per-clip jitter on the attributes that move."""
    out = {}
    for name, n in neutral.items():
        delta = target[name] - n
        jitter = rng.normal(0, 0.04 * abs(delta)) if delta else 0.0
        out[name] = round(n + k * delta + jitter, 4)
    return out


def sample_spec(
    rng: np.random.Generator,
    *,
    label: str | None = None,
    cue_modality: str | None = None,
    modalities: Sequence[str] = MODALITIES,
    window_s: tuple[float, float] = WINDOW_S,
    duration_s: float = DURATION_S,
) -> ClipSpec:
    """Draw one clip spec; `label` / `cue_modality` fixed when given, else uniform."""
    _check_modalities(modalities)
    label = label if label is not None else str(rng.choice(LABELS))
    cue_modality = cue_modality if cue_modality is not None else str(rng.choice(list(modalities)))
    if label not in LABELS:
        raise UsageError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    _check_modalities([cue_modality])
    lo, hi = window_s
    if not 0 < lo <= hi <= duration_s:
        raise UsageError(f"cue window length {window_s} must satisfy 0 < min <= max <= {duration_s}")
    length = rng.uniform(lo, hi)
    start = round(rng.uniform(0.0, duration_s - length), 3)
    end = round(min(start + length, duration_s), 3)
    intensity = round(rng.uniform(*INTENSITY), 4)
    emotive = label != "neutral"
    face = _towards(NEUTRAL_FACE, FACE_TARGETS[label], intensity, rng)
    voice = _towards(NEUTRAL_VOICE, VOICE_TARGETS[label], intensity, rng)
    if not (emotive and cue_modality in ("video", "both")):
        face = dict(NEUTRAL_FACE)
    if not (emotive and cue_modality in ("audio", "both")):
        voice = dict(NEUTRAL_VOICE)
    return ClipSpec(
        label=label,
        cue_modality=cue_modality,
        cue_start_s=start,
        cue_end_s=end,
        seed=int(rng.integers(0, 2**31 - 1)),
        duration_s=float(duration_s),
        intensity=intensity,
        **face,
        **voice,
        base_pitch_hz=round(rng.uniform(100.0, 240.0), 1),
        head_height=round(rng.uniform(0.62, 0.84), 4),
        noise_sigma=round(rng.uniform(2.0, 12.0), 3),
        noise_floor=round(rng.uniform(0.001, 0.005), 5),
    )


def render_clip(spec: ClipSpec) -> tuple[np.ndarray, np.ndarray]:
    """In-memory clip: frames (N, 128, 128, 3) uint8 at 10 fps and audio (n,) float32 at 16 kHz."""
    return render_frames(spec, FPS, FRAME_SIZE), render_voice(spec, SAMPLE_RATE)


def write_mp4(
    path: str | Path, frames: np.ndarray, audio: np.ndarray, fps: int = FPS, sample_rate: int = SAMPLE_RATE
) -> Path:
    """Write H.264 yuv420p + AAC mono mp4 deterministically (bit-exact muxing, one encoder thread)."""
    path = Path(path)
    n, h, w, _ = frames.shape
    with av.open(str(path), "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        video = container.add_stream(
            "libx264",
            rate=fps,
            options=_X264_OPTIONS,
        )
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        sound = container.add_stream("aac", rate=sample_rate, layout="mono")
        sound.bit_rate = 64000
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        chunk = 1024  # the AAC frame size
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        for i in range(0, len(samples), chunk):
            frame = av.AudioFrame.from_ndarray(samples[None, i : i + chunk], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = sample_rate, i
            container.mux(sound.encode(frame))
        container.mux(sound.encode())
    return path


def write_clip(spec: ClipSpec, path: str | Path) -> Path:
    """Render `spec` and write it as an mp4 at `path`."""
    frames, audio = render_clip(spec)
    return write_mp4(path, frames, audio)


def _check_modalities(modalities: Iterable[str]) -> None:
    mods = list(modalities)
    bad = [m for m in mods if m not in MODALITIES]
    if bad or not mods:
        raise UsageError(f"cue modalities {mods} invalid; choose from {', '.join(MODALITIES)}")


def balanced_plan(rng: np.random.Generator, n: int, modalities: Sequence[str] = MODALITIES) -> list[tuple[str, str]]:
    """n (label, cue_modality) pairs: every combination once per shuffled block, so counts stay balanced."""
    combos = [(lab, mod) for lab in LABELS for mod in modalities]
    plan: list[tuple[str, str]] = []
    while len(plan) < n:
        plan.extend(combos[i] for i in rng.permutation(len(combos)))
    return plan[:n]


def plan_specs(n: int, seed: int, modalities: Sequence[str] = MODALITIES) -> list[ClipSpec]:
    """The n specs `generate_clips(out, n, seed)` writes (clip i draws from its own stream [seed, i])."""
    _check_modalities(modalities)
    plan = balanced_plan(np.random.default_rng([seed, 0xC11F]), n, modalities)
    return [
        sample_spec(np.random.default_rng([seed, i]), label=lab, cue_modality=mod, modalities=modalities)
        for i, (lab, mod) in enumerate(plan)
    ]


def _write_job(job: tuple[ClipSpec, str]) -> str:
    spec, path = job
    write_clip(spec, path)
    return path


def generate_clips(
    out_dir: str | Path, n: int, seed: int, *, modalities: Sequence[str] = MODALITIES, workers: int = 1
) -> Path:
    """Write n clips + `manifest.csv` into out_dir; returns the manifest path. Same seed -> same bytes."""
    if n < 1:
        raise UsageError(f"number of clips must be at least 1, got {n}")
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = plan_specs(n, seed, modalities)
    names = [f"synth_{i:05d}.mp4" for i in range(n)]
    jobs = [(spec, str(out / name)) for spec, name in zip(specs, names, strict=True)]
    logger.info("writing %d synthetic clips to %s (seed %d, %d worker(s))", n, out, seed, workers)
    if workers == 1:
        for job in jobs:
            _write_job(job)
    else:
        # fork: a spawned child would re-import `r1omni` (torch, transformers: ~10 s each); the children only
        # run numpy/cv2/PyAV on their own specs, so forking a parent that has torch loaded is safe here.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            list(pool.map(_write_job, jobs, chunksize=max(1, n // (4 * workers))))
    manifest = out / MANIFEST_NAME
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for spec, name in zip(specs, names, strict=True):
            writer.writerow({"path": name, **spec.to_row()})
    return manifest
