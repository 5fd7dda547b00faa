"""Live tab: webcam frames and microphone chunks stream into small ring buffers (gr.State); every few
seconds the last window is explained (fast mode) and added to a timeline.

Buffers hold only small numpy arrays: frames downscaled to FRAME_PX on the long side, audio resampled to
16 kHz mono and cut to MAX_WINDOW_S.
"""

from __future__ import annotations

import time
from math import gcd

import gradio as gr
import numpy as np

from r1omni.errors import R1OmniError
from r1omni.ui import views
from r1omni.ui.backend import LIVE_SAMPLE_RATE, Backend, _thumbnail
from r1omni.ui.boundary import bind, guarded

FRAME_PX = 128
MAX_WINDOW_S = 12.0
TICK_S = 3.0


def empty_buffer() -> dict:
    return {"t0": None, "frames": [], "times": [], "audio": np.zeros(0, np.float32), "audio_end": None}


def _now(buf: dict) -> float:
    if buf["t0"] is None:
        buf["t0"] = time.monotonic()
    return time.monotonic() - buf["t0"]


def add_frame(frame: np.ndarray | None, buf: dict | None) -> dict:
    """Append one downscaled webcam frame (and its time) to the ring buffer."""
    buf = buf or empty_buffer()
    if frame is None:
        return buf
    t = _now(buf)
    buf["frames"].append(_thumbnail(np.asarray(frame, dtype=np.uint8)[..., :3], FRAME_PX))
    buf["times"].append(t)
    while buf["times"] and buf["times"][0] < t - MAX_WINDOW_S:
        buf["frames"].pop(0)
        buf["times"].pop(0)
    return buf


def to_16k_mono(sr: int, chunk: np.ndarray) -> np.ndarray:
    """int16/float chunk (n,) or (n, ch) at `sr` -> float32 mono at 16 kHz in [-1, 1]."""
    from scipy.signal import resample_poly

    x = np.asarray(chunk)
    scale = 32768.0 if x.dtype == np.int16 else (2.0**31 if x.dtype == np.int32 else 1.0)
    x = x.astype(np.float32) / scale
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sr != LIVE_SAMPLE_RATE and len(x):
        g = gcd(int(sr), LIVE_SAMPLE_RATE)
        x = resample_poly(x, LIVE_SAMPLE_RATE // g, int(sr) // g).astype(np.float32)
    return x


def add_audio(chunk: tuple[int, np.ndarray] | None, buf: dict | None) -> dict:
    """Append one microphone chunk (resampled to 16 kHz) to the ring buffer, keeping MAX_WINDOW_S."""
    buf = buf or empty_buffer()
    if chunk is None:
        return buf
    sr, data = chunk
    buf["audio"] = np.concatenate([buf["audio"], to_16k_mono(sr, data)])[-int(MAX_WINDOW_S * LIVE_SAMPLE_RATE):]
    buf["audio_end"] = _now(buf)
    return buf


def window(buf: dict, window_s: float) -> tuple[np.ndarray | None, list[float], np.ndarray | None, float]:
    """(frames (T,H,W,3), times relative to the window start, audio, duration) of the last `window_s`."""
    t = _now(buf)
    keep = [i for i, ti in enumerate(buf["times"]) if ti >= t - window_s]
    frames = None
    if keep:
        first = buf["frames"][keep[0]].shape
        same = [i for i in keep if buf["frames"][i].shape == first]
        frames = np.stack([buf["frames"][i] for i in same])
        keep = same
    audio = buf["audio"][-int(window_s * LIVE_SAMPLE_RATE):] if len(buf["audio"]) else None
    start = t - window_s
    return frames, [buf["times"][i] - start for i in keep], audio, float(window_s)


def device_status(buf: dict) -> str:
    """Plain words on what is (not) arriving from the camera and microphone."""
    t = _now(buf) if buf.get("t0") is not None else None
    cam = "camera: no frames received (allow camera access and press the webcam's record button)"
    mic = "microphone: no audio received (allow microphone access and press Record)"
    if buf["times"] and t is not None and t - buf["times"][-1] < 5:
        cam = f"camera: {len(buf['frames'])} frames buffered"
    elif buf["times"]:
        cam = "camera: no new frames for 5 s (camera stopped or missing)"
    if buf.get("audio_end") is not None and t is not None and t - buf["audio_end"] < 5:
        mic = f"microphone: {len(buf['audio']) / LIVE_SAMPLE_RATE:.1f} s buffered"
    elif buf.get("audio_end") is not None:
        mic = "microphone: no new audio for 5 s (microphone stopped or missing)"
    return f"{cam}  \n{mic}"


@guarded
def predict_live(backend: Backend, cam: dict, mic: dict, history: list, window_s: float, label_set: str):
    """Timer tick: explain the last window unless nothing arrives or the model is busy with other work."""
    buf = _merge(cam, mic)
    status = device_status(buf)
    frames, times, audio, dur = window(buf, window_s)
    if frames is None and audio is None:
        return history, gr.skip(), gr.skip(), gr.skip(), status
    try:
        res = backend.explain_window(frames, times, audio, dur, label_set=label_set, max_new_tokens=96)
    except R1OmniError as err:
        return history, gr.skip(), gr.skip(), gr.skip(), f"{status}  \nlast window skipped: {err}"
    pred = views.prediction_of(res)
    share = (res.get("modality") or {}).get("share") or {}
    history = (history or [])[-59:] + [{"t": round(_now(buf), 1), "label": pred.get("label"),
                                        "confidence": views.confidence(pred), "video_share": share.get("video"),
                                        "audio_share": share.get("audio")}]
    return (history, views.timeline_figure(history), views.label_markdown(res), pred.get("reasoning") or "",
            status)


def _merge(cam: dict | None, mic: dict | None) -> dict:
    """The camera and microphone buffers share one clock (t0 of whichever started first)."""
    cam, mic = cam or empty_buffer(), mic or empty_buffer()
    t0s = [b["t0"] for b in (cam, mic) if b["t0"] is not None]
    return {"t0": min(t0s) if t0s else None, "frames": cam["frames"], "times": cam["times"],
            "audio": mic["audio"], "audio_end": mic["audio_end"]}


def build(backend: Backend, label_set: gr.Dropdown) -> dict:
    cam_buf, mic_buf, history = gr.State(None), gr.State(None), gr.State([])
    with gr.Row():
        with gr.Column(scale=1):
            cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="live-cam",
                           webcam_options=gr.WebcamOptions(mirror=True, constraints={"video": {"width": 320}}))
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone",
                           elem_id="live-mic")
            window_s = gr.Slider(2, MAX_WINDOW_S, value=4, step=1, label="Window (s)")
            status = gr.Markdown(device_status(empty_buffer()), elem_id="live-status")
        with gr.Column(scale=2):
            label_md = gr.Markdown("Waiting for camera or microphone…", elem_id="live-label")
            reasoning = gr.Textbox(label="Latest reasoning", lines=3, elem_id="live-reasoning")
            timeline = gr.Plot(label="Timeline", elem_id="live-timeline")
    cam.stream(add_frame, [cam, cam_buf], [cam_buf], stream_every=0.5, time_limit=600, concurrency_limit=8,
               concurrency_id="live-in", show_progress="hidden")
    mic.stream(add_audio, [mic, mic_buf], [mic_buf], stream_every=0.5, time_limit=600, concurrency_limit=8,
               concurrency_id="live-in", show_progress="hidden")
    timer = gr.Timer(TICK_S)
    timer.tick(bind(predict_live, backend), [cam_buf, mic_buf, history, window_s, label_set],
               [history, timeline, label_md, reasoning, status], concurrency_id="model", concurrency_limit=1,
               show_progress="hidden", trigger_mode="always_last")
    return {"timer": timer}
