"""Cartoon faces drawn with cv2: the video half of a synthetic clip.

A face is a large head ellipse (60-85 % of the frame height) with brows, eyes, a nose and a mouth. Its
expression is a small set of numbers (`FACE_ATTRS`); `FACE_TARGETS` holds the strong, clearly distinct
geometry of each label and `NEUTRAL_FACE` the resting face. `render_frames` draws every frame of a clip:
inside the video cue window the face takes the clip's drawn attributes, everywhere else the neutral ones.

This module knows nothing about audio, manifests or mp4 files; it reads a `ClipSpec` only through its
attributes (`label`, `cue_modality`, `cue_start_s`, `cue_end_s`, `seed`, the face attributes, `noise_sigma`,
`head_height`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

logger = logging.getLogger(__name__)

FRAME_SIZE = 128
FPS = 10

# mouth_curve: + corners up (smile), - corners down; mouth_open: 0 closed .. 1 wide open; mouth_width: factor;
# mouth_skew: one corner curled up (disgust); brow_raise: + up, - down; brow_angle: + inner ends down (V),
# - inner ends up (worry); brow_asym: the curl side brow pulled down; eye_open: factor on the eye height;
# nose_wrinkle: 0..1 wrinkle lines over the nose bridge.
FACE_ATTRS = (
    "mouth_curve",
    "mouth_open",
    "mouth_width",
    "mouth_skew",
    "brow_raise",
    "brow_angle",
    "brow_asym",
    "eye_open",
    "nose_wrinkle",
)

NEUTRAL_FACE: dict[str, float] = {
    "mouth_curve": 0.0,
    "mouth_open": 0.0,
    "mouth_width": 1.0,
    "mouth_skew": 0.0,
    "brow_raise": 0.0,
    "brow_angle": 0.0,
    "brow_asym": 0.0,
    "eye_open": 1.0,
    "nose_wrinkle": 0.0,
}

# Full-intensity targets; a clip moves from NEUTRAL_FACE towards these by its intensity (0.75-1.15).
FACE_TARGETS: dict[str, dict[str, float]] = {
    "neutral": dict(NEUTRAL_FACE),
    "happy": dict(NEUTRAL_FACE, mouth_curve=1.0, mouth_open=0.35, mouth_width=1.35, brow_raise=0.15, eye_open=0.45),
    "surprise": dict(NEUTRAL_FACE, mouth_open=1.0, mouth_width=0.55, brow_raise=1.0, eye_open=1.75),
    "angry": dict(
        NEUTRAL_FACE, mouth_curve=-0.4, mouth_open=0.12, mouth_width=0.9, brow_raise=-0.7, brow_angle=1.0, eye_open=0.5
    ),
    "disgust": dict(
        NEUTRAL_FACE,
        mouth_curve=-0.3,
        mouth_open=0.15,
        mouth_skew=1.0,
        brow_raise=-0.3,
        brow_asym=1.0,
        eye_open=0.7,
        nose_wrinkle=1.0,
    ),
    "sad": dict(NEUTRAL_FACE, mouth_curve=-1.0, mouth_width=0.9, brow_raise=0.25, brow_angle=-1.0, eye_open=0.5),
    "fear": dict(
        NEUTRAL_FACE, mouth_curve=-0.2, mouth_open=0.6, mouth_width=1.35, brow_raise=0.8, brow_angle=-0.7, eye_open=1.7
    ),
}

_SHIFT = 4  # cv2 sub-pixel precision: coordinates are multiplied by 2**_SHIFT
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA

_SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 155], [224, 172, 128], [198, 134, 96], [141, 85, 56], [95, 60, 40], [250, 210, 170]],
    dtype=np.float64,
)


@dataclass(frozen=True)
class FaceStyle:
    """Per-clip appearance (not emotion): geometry of the head and the colours (RGB)."""

    cx: float
    cy: float
    half_w: float
    half_h: float
    skin: tuple[int, int, int]
    outline: tuple[int, int, int]
    hair: tuple[int, int, int]
    brow: tuple[int, int, int]
    lips: tuple[int, int, int]
    iris: tuple[int, int, int]
    background: np.ndarray  # (H, W, 3) uint8 gradient


def _colour(values: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in np.clip(np.round(values), 0, 255))
    return r, g, b


def _gradient(rng: np.random.Generator, size: int, avoid: np.ndarray) -> np.ndarray:
    """A linear two-colour gradient at a random angle whose colours stay away from the skin colour."""
    cols = []
    while len(cols) < 2:
        c = rng.uniform(0, 255, 3)
        if np.abs(c - avoid).sum() > 140 or rng.random() < 0.05:
            cols.append(c)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    t = (xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = cols[0][None, None, :] * (1 - t[..., None]) + cols[1][None, None, :] * t[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def sample_style(rng: np.random.Generator, head_height: float, size: int = FRAME_SIZE) -> FaceStyle:
    """Draw the head box and the colours; `head_height` is the head ellipse height / frame height."""
    half_h = head_height * size / 2
    half_w = half_h * rng.uniform(0.72, 0.86)
    cx = size / 2 + rng.uniform(-1, 1) * max(size / 2 - half_w - 6, 0)
    cy = size / 2 + rng.uniform(-1, 1) * max(size / 2 - half_h - 2, 0)
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.normal(0, 10, 3)
    shade = 0.55 + 0.15 * rng.random()
    return FaceStyle(
        cx=cx,
        cy=cy,
        half_w=half_w,
        half_h=half_h,
        skin=_colour(skin),
        outline=_colour(skin * shade),
        hair=_colour(rng.uniform(10, 120, 3) * np.array([1.0, 0.8, 0.6])),
        brow=_colour(rng.uniform(10, 70, 3)),
        lips=_colour(np.array([150, 50, 60]) + rng.normal(0, 20, 3)),
        iris=_colour(rng.uniform(20, 160, 3)),
        background=_gradient(rng, size, skin),
    )


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * _ONE), round(y * _ONE)


def _poly(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _thick(value: float) -> int:
    return max(1, round(value))


def _draw_head(img: np.ndarray, s: FaceStyle, cx: float, cy: float) -> None:
    a, b = s.half_w, s.half_h
    cv2.ellipse(img, _pt(cx, cy - 0.12 * b), _pt(a * 1.06, b * 0.98), 0, 180, 360, s.hair, -1, _AA, _SHIFT)
    for side in (-1, 1):  # ears
        cv2.ellipse(img, _pt(cx + side * a * 0.98, cy), _pt(a * 0.12, b * 0.16), 0, 0, 360, s.skin, -1, _AA, _SHIFT)
    cv2.ellipse(img, _pt(cx, cy), _pt(a, b), 0, 0, 360, s.skin, -1, _AA, _SHIFT)
    cv2.ellipse(img, _pt(cx, cy), _pt(a, b), 0, 0, 360, s.outline, _thick(b * 0.03), _AA, _SHIFT)
    # hair fringe over the forehead
    cv2.ellipse(img, _pt(cx, cy - 0.78 * b), _pt(a * 0.85, b * 0.2), 0, 180, 360, s.hair, -1, _AA, _SHIFT)


def _draw_eyes_brows(img: np.ndarray, s: FaceStyle, cx: float, cy: float, p: dict[str, float]) -> None:
    a, b = s.half_w, s.half_h
    eye_y = cy - 0.12 * b
    ew = 0.19 * a
    eh = max(0.075 * b * p["eye_open"], 0.6)
    brow_w = _thick(0.055 * b)
    for side in (-1, 1):
        ex = cx + side * 0.36 * a
        cv2.ellipse(img, _pt(ex, eye_y), _pt(ew, eh), 0, 0, 360, (250, 250, 250), -1, _AA, _SHIFT)
        r = min(0.45 * ew, eh)
        cv2.circle(img, _pt(ex, eye_y), int(r * _ONE), s.iris, -1, _AA, _SHIFT)
        cv2.circle(img, _pt(ex, eye_y), int(0.5 * r * _ONE), (10, 10, 10), -1, _AA, _SHIFT)
        cv2.ellipse(img, _pt(ex, eye_y), _pt(ew, eh), 0, 180, 360, s.outline, _thick(0.025 * b), _AA, _SHIFT)
        # brows: inner end near the nose, outer end above the eye's outer corner
        base = eye_y - 0.2 * b - p["brow_raise"] * 0.11 * b
        if side == 1:  # the side of the disgust curl
            base += p["brow_asym"] * 0.09 * b
        inner_y = base + p["brow_angle"] * 0.1 * b
        outer_y = base - p["brow_angle"] * 0.02 * b
        pts = np.array(
            [[cx + side * 0.1 * a, inner_y], [cx + side * 0.36 * a, base - 0.03 * b], [cx + side * 0.62 * a, outer_y]]
        )
        cv2.polylines(img, [_poly(pts)], False, s.brow, brow_w, _AA, _SHIFT)


def _draw_nose(img: np.ndarray, s: FaceStyle, cx: float, cy: float, p: dict[str, float]) -> None:
    a, b = s.half_w, s.half_h
    pts = np.array([[cx, cy - 0.05 * b], [cx - 0.08 * a, cy + 0.2 * b], [cx + 0.06 * a, cy + 0.23 * b]])
    cv2.polylines(img, [_poly(pts)], False, s.outline, _thick(0.025 * b), _AA, _SHIFT)
    lines = round(3 * p["nose_wrinkle"])
    for k in range(lines):
        y = cy - 0.06 * b + k * 0.065 * b
        pts = np.array([[cx - 0.13 * a, y + 0.02 * b], [cx, y - 0.015 * b], [cx + 0.13 * a, y + 0.02 * b]])
        cv2.polylines(img, [_poly(pts)], False, s.outline, _thick(0.03 * b), _AA, _SHIFT)
    if p["nose_wrinkle"] > 0.3:  # sneer fold beside the nose on the curl side
        pts = np.array([[cx + 0.12 * a, cy + 0.12 * b], [cx + 0.22 * a, cy + 0.3 * b], [cx + 0.24 * a, cy + 0.42 * b]])
        cv2.polylines(img, [_poly(pts)], False, s.outline, _thick(0.03 * b), _AA, _SHIFT)


def _draw_mouth(img: np.ndarray, s: FaceStyle, cx: float, cy: float, p: dict[str, float]) -> None:
    a, b = s.half_w, s.half_h
    my = cy + 0.47 * b
    mw = 0.3 * a * p["mouth_width"]
    x = np.linspace(-1.0, 1.0, 25)
    # centre line: corners up for a positive curve; the right corner curls up with the skew
    centre = my - p["mouth_curve"] * 0.15 * b * x**2 - p["mouth_skew"] * 0.12 * b * np.clip(x, 0, None) ** 1.5
    centre = centre + p["mouth_skew"] * 0.03 * b * np.clip(-x, 0, None)
    bulge = np.sqrt(np.clip(1 - x**2, 0, None))
    upper = centre - p["mouth_open"] * 0.07 * b * bulge
    lower = centre + p["mouth_open"] * 0.32 * b * bulge
    xs = cx + mw * x
    lip_w = _thick(0.05 * b)
    if p["mouth_open"] > 0.08:
        outline = np.concatenate([np.stack([xs, upper], 1), np.stack([xs, lower], 1)[::-1]])
        cv2.fillPoly(img, [_poly(outline)], (60, 15, 25), _AA, _SHIFT)
        if p["mouth_curve"] > 0.4:  # an open smile shows the upper teeth
            teeth = np.concatenate([np.stack([xs, upper], 1), np.stack([xs, upper + 0.5 * (lower - upper)], 1)[::-1]])
            cv2.fillPoly(img, [_poly(teeth)], (245, 245, 240), _AA, _SHIFT)
        cv2.polylines(img, [_poly(outline)], True, s.lips, lip_w, _AA, _SHIFT)
    else:
        cv2.polylines(img, [_poly(np.stack([xs, centre], 1))], False, s.lips, lip_w, _AA, _SHIFT)


def draw_face(style: FaceStyle, params: dict[str, float], dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """One RGB frame (H, W, 3) uint8 of the face with expression `params`, shifted by (dx, dy) pixels."""
    img = style.background.copy()
    cx, cy = style.cx + dx, style.cy + dy
    _draw_head(img, style, cx, cy)
    _draw_eyes_brows(img, style, cx, cy, params)
    _draw_nose(img, style, cx, cy, params)
    _draw_mouth(img, style, cx, cy, params)
    return img


def cue_params(spec: Any) -> dict[str, float]:
    """The face attributes a spec draws inside its cue window."""
    return {k: float(getattr(spec, k)) for k in FACE_ATTRS}


def video_is_cued(spec: Any) -> bool:
    """True when the face shows a non-neutral expression in the window."""
    return spec.label != "neutral" and spec.cue_modality in ("video", "both")


def frame_in_window(index: int, spec: Any, fps: int = FPS) -> bool:
    """Frame `index` (shown at index / fps seconds) lies in [cue_start_s, cue_end_s)."""
    t = index / fps
    return spec.cue_start_s <= t < spec.cue_end_s


def face_style(spec: Any, size: int = FRAME_SIZE) -> FaceStyle:
    """The clip's appearance, as `render_frames` draws it (same random stream)."""
    return sample_style(np.random.default_rng([int(spec.seed), 1]), spec.head_height, size)


def face_regions(spec: Any, size: int = FRAME_SIZE) -> dict[str, tuple[int, int, int, int]]:
    """Pixel boxes (x0, y0, x1, y1) of the "mouth", "eyes" and "brows" areas of the clip's face."""
    s = face_style(spec, size)
    a, b = s.half_w, s.half_h

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (max(0, int(s.cx + x0 * a)), max(0, int(s.cy + y0 * b)),
                min(size, int(s.cx + x1 * a) + 1), min(size, int(s.cy + y1 * b) + 1))  # fmt: skip

    return {
        "mouth": box(-0.5, 0.28, 0.5, 0.85),
        "eyes": box(-0.6, -0.28, 0.6, 0.04),
        "brows": box(-0.7, -0.55, 0.7, -0.18),
    }


def render_frames(spec: Any, fps: int = FPS, size: int = FRAME_SIZE, indices=None) -> np.ndarray:
    """All frames of the clip: (N, size, size, 3) uint8, N = duration_s * fps; or only the frames at
    `indices` (the same pixels, without drawing the others: training uses the 8 sampled frames)."""
    rng = np.random.default_rng([int(spec.seed), 1])
    style = sample_style(rng, spec.head_height, size)  # == face_style(spec); rng then goes on to the jitter
    n = round(spec.duration_s * fps)
    wanted = list(range(n)) if indices is None else [int(i) for i in indices]
    cued = video_is_cued(spec)
    active = cue_params(spec)
    drawn: dict[int, np.ndarray] = {}
    for i in range(n):
        base = active if cued and frame_in_window(i, spec, fps) else NEUTRAL_FACE
        # small per-frame jitter of position and of each attribute (never enough to change the expression)
        params = {k: v + float(rng.normal(0, 0.02)) for k, v in base.items()}  # drawn for every frame: the
        dx, dy = rng.normal(0, 0.3, 2)  # random stream must not depend on `indices`
        if i in wanted and i not in drawn:
            drawn[i] = draw_face(style, params, float(dx), float(dy))
    frames = np.stack([drawn[i] for i in wanted])
    noise = rng.standard_normal((n, size, size, 3), dtype=np.float32)[wanted] * np.float32(spec.noise_sigma)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)
