"""Live tab: webcam frames and microphone chunks stream into one buffer per browser session; every few
seconds the last window is explained (fast mode) and added to a timeline.

One clock: the buffer's time starts at the first frame or chunk of either device, and every frame and audio
sample is placed on it when it arrives, so a microphone started before the camera (or the reverse) leaves
both in the same window. Frames are kept at the model's input size; audio is 16 kHz mono and nothing older
than MAX_WINDOW_S is kept. The buffer lives on the server (keyed by session, dropped after IDLE_DROP_S), so
the two streams never overwrite each other's state. The tick runs only while a device streams (Start
arms it; it disarms itself when both devices have been silent for STOP_AFTER_S), never queues more than
one prediction per session (trigger_mode "once"), and streams have no time limit.

Start and Stop are server-side facts too: Start restarts the buffer (a new clock and a new timeline; earlier
timelines stay on the plot, faint, until cleared), Stop marks it stopped, so input still on its way is
dropped, a queued tick runs nothing and a window being explained at Stop is not shown. A timeline point
carries the window it explains (`t` = its end, `window` = [start, end], seconds since Start).
"""

from __future__ import annotations

import threading
import time
from math import gcd
from types import SimpleNamespace
from typing import NamedTuple

import gradio as gr
import numpy as np

from r1omni.errors import R1OmniError
from r1omni.ui import views
from r1omni.ui.backend import LIVE_SAMPLE_RATE, Backend, _thumbnail
from r1omni.ui.boundary import bind, guarded

MAX_WINDOW_S = 12.0
TICK_S = 3.0
STOP_AFTER_S = 6.0  # both devices silent this long: the tick disarms itself
IDLE_DROP_S = 600.0  # a session's buffer is dropped after this long without input
HISTORY = 1200  # timeline points kept (an hour at one every 3 s)


class Window(NamedTuple):
    """The last seconds of a session's input as cut for one explanation; `start`/`end` on the buffer's clock
    (seconds since Start), so a timeline point is placed at the window it explains, not when it finished."""

    frames: np.ndarray | None
    times: list[float]  # frame times relative to `start`
    audio: np.ndarray | None
    duration: float
    start: float
    end: float


class LiveBuffer:
    """Camera frames and microphone audio of one session on one clock (seconds since the first input)."""

    def __init__(self, frame_px: int = 384, clock=time.monotonic):
        self.frame_px = int(frame_px)
        self._clock = clock
        self.lock = threading.Lock()
        self.t0: float | None = None
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.audio = np.zeros(0, np.float32)
        self.audio_end: float | None = None  # clock time of the last audio sample
        self.last_input = clock()
        self.run = 0  # Start presses: each starts a new timeline on a new clock
        self.stopped = False  # Stop pressed: input is dropped and nothing is explained until Start

    def restart(self) -> None:
        """Start pressed: an empty buffer on a new clock (a new timeline), accepting input again."""
        with self.lock:
            self.t0 = None
            self.frames, self.times = [], []
            self.audio, self.audio_end = np.zeros(0, np.float32), None
            self.last_input = self._clock()
            self.run += 1
            self.stopped = False

    def stop(self) -> None:
        """Stop pressed: from now on nothing is added or explained (a window already being explained is
        dropped when it finishes) until `restart`."""
        with self.lock:
            self.stopped = True

    def now(self) -> float:
        if self.t0 is None:
            self.t0 = self._clock()
        return self._clock() - self.t0

    def add_frame(self, frame: np.ndarray) -> None:
        with self.lock:
            t = self.now()
            self.last_input = self._clock()
            self.frames.append(_thumbnail(np.asarray(frame, dtype=np.uint8)[..., :3], self.frame_px))
            self.times.append(t)
            self._trim(t)

    def add_audio(self, sr: int, data: np.ndarray) -> None:
        with self.lock:
            t = self.now()
            self.last_input = self._clock()
            x = to_16k_mono(sr, data)
            if self.audio_end is not None and t - self.audio_end > len(x) / LIVE_SAMPLE_RATE + 1.0:
                self.audio = np.zeros(0, np.float32)  # a gap (mic stopped and restarted): old audio is not glued on
            self.audio = np.concatenate([self.audio, x])
            self.audio_end = t
            self._trim(t)

    def _trim(self, t: float) -> None:
        while self.times and self.times[0] < t - MAX_WINDOW_S:
            self.frames.pop(0)
            self.times.pop(0)
        if self.audio_end is not None:
            keep = int(max(0.0, MAX_WINDOW_S - (t - self.audio_end)) * LIVE_SAMPLE_RATE)
            self.audio = self.audio[-keep:] if keep else np.zeros(0, np.float32)

    def window(self, window_s: float) -> tuple[np.ndarray | None, list[float], np.ndarray | None, float]:
        """(frames (T,H,W,3), times relative to the window start, audio, duration) of the last `window_s`
        seconds on the shared clock: only what arrived inside the window, from either device."""
        return self.cut(window_s)[:4]

    def cut(self, window_s: float) -> Window:
        """`window` with the window's start and end on the buffer's clock."""
        with self.lock:
            t = self.now()
            start = t - window_s
            keep = [i for i, ti in enumerate(self.times) if ti >= start]
            frames = None
            if keep:
                first = self.frames[keep[-1]].shape
                keep = [i for i in keep if self.frames[i].shape == first]
                frames = np.stack([self.frames[i] for i in keep])
            audio = None
            if self.audio_end is not None and len(self.audio):
                end = self.audio_end - start  # seconds into the window where the audio ends
                n = int(min(window_s, max(0.0, end)) * LIVE_SAMPLE_RATE)
                audio = self.audio[-n:] if n > 0 else None
            return Window(frames, [self.times[i] - start for i in keep], audio, float(window_s), start, t)

    def streaming(self) -> bool:
        """True while either device has sent something in the last STOP_AFTER_S seconds."""
        return self._clock() - self.last_input < STOP_AFTER_S

    def status(self) -> str:
        """Plain words on what is (not) arriving from the camera and microphone."""
        with self.lock:
            t = self.now() if self.t0 is not None else None
            cam = "camera: no frames received (press Start and allow camera access)"
            mic = "microphone: no audio received (press Start and allow microphone access)"
            if self.times and t is not None and t - self.times[-1] < 5:
                cam = f"camera: {len(self.frames)} frames buffered"
            elif self.times:
                cam = "camera: no new frames for 5 s (camera stopped or missing)"
            if self.audio_end is not None and t is not None and t - self.audio_end < 5:
                mic = f"microphone: {len(self.audio) / LIVE_SAMPLE_RATE:.1f} s buffered"
            elif self.audio_end is not None:
                mic = "microphone: no new audio for 5 s (microphone stopped or missing)"
            return f"{cam}  \n{mic}"


_SESSIONS: dict[str, LiveBuffer] = {}
_SESSIONS_LOCK = threading.Lock()


def buffer_for(request: gr.Request | None, frame_px: int = 384) -> LiveBuffer:
    """This session's buffer (created on first use); buffers idle for IDLE_DROP_S are dropped."""
    key = getattr(request, "session_hash", None) or "local"
    now = time.monotonic()
    with _SESSIONS_LOCK:
        for k in [k for k, b in _SESSIONS.items() if now - b.last_input > IDLE_DROP_S and k != key]:
            del _SESSIONS[k]
        if key not in _SESSIONS:
            _SESSIONS[key] = LiveBuffer(frame_px)
        return _SESSIONS[key]


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


def on_frame(frame_px: int, frame: np.ndarray | None, request: gr.Request = None):
    """A webcam frame: into the session buffer; the first one after silence arms the tick."""
    if frame is None:
        return gr.skip()
    buf = buffer_for(request, frame_px)
    if buf.stopped:  # a frame still on its way when Stop was pressed
        return gr.skip()
    was = buf.streaming() and buf.t0 is not None
    buf.add_frame(frame)
    return gr.skip() if was else gr.Timer(active=True)


def on_audio(frame_px: int, chunk: tuple[int, np.ndarray] | None, request: gr.Request = None):
    """A microphone chunk: into the session buffer; the first one after silence arms the tick."""
    if chunk is None:
        return gr.skip()
    buf = buffer_for(request, frame_px)
    if buf.stopped:  # a chunk still on its way when Stop was pressed
        return gr.skip()
    was = buf.streaming() and buf.t0 is not None
    buf.add_audio(int(chunk[0]), chunk[1])
    return gr.skip() if was else gr.Timer(active=True)


def live_notices(backend: Backend, res: dict, win: Window) -> list[str]:
    """The result's notices, led by the demo checkpoint's honesty notice when the window is real input
    (a camera or microphone is never one of its synthetic training clips)."""
    fps = len(win.times) / win.duration if win.duration else 0.0
    honesty = backend.honesty_notice(SimpleNamespace(frames=win.frames, fps=fps, duration_s=win.duration))
    return ([honesty] if honesty else []) + views.notices(res)


@guarded
def predict_live(backend: Backend, history: list, window_s: float, label_set: str, request: gr.Request = None):
    """Timer tick: explain the last window; disarm the timer when both devices have stopped. After Stop
    nothing is shown (a window being explained when Stop was pressed is dropped). Returns (history, timeline,
    label, reasoning, status, timer, notices)."""
    buf = buffer_for(request, int(getattr(backend.pipeline, "image_size", 384)))
    if buf.stopped:
        return (*[gr.skip()] * 5, gr.Timer(active=False), gr.skip())
    run = buf.run
    status = buf.status()
    if not buf.streaming():
        return (history, gr.skip(), gr.skip(), gr.skip(), status + "  \nstopped: press Start", gr.Timer(active=False),
                gr.skip())
    win = buf.cut(window_s)
    if win.frames is None and win.audio is None:
        return history, gr.skip(), gr.skip(), gr.skip(), status, gr.skip(), gr.skip()
    try:
        res = backend.explain_window(win.frames, win.times, win.audio, win.duration, label_set=label_set,
                                     max_new_tokens=backend.max_new_tokens)  # the checkpoint's limit
    except R1OmniError as err:
        skipped = f"{status}  \nlast window skipped: {err}"
        return history, gr.skip(), gr.skip(), gr.skip(), skipped, gr.skip(), gr.skip()
    if buf.stopped or buf.run != run:  # Stop (or Start again) while this window was explained
        return (*[gr.skip()] * 5, gr.Timer(active=False) if buf.stopped else gr.skip(), gr.skip())
    pred = views.prediction_of(res)
    share = (res.get("modality") or {}).get("share") or {}
    point = {"run": run, "t": round(win.end, 1), "window": [round(max(0.0, win.start), 1), round(win.end, 1)],
             "label": pred.get("label"), "confidence": views.confidence(pred), "video_share": share.get("video"),
             "audio_share": share.get("audio")}
    history = (history or [])[-(HISTORY - 1):] + [point]
    return (history, views.timeline_figure(history), views.label_markdown(res), pred.get("reasoning") or "",
            buf.status(), gr.skip(), views.notices_markdown(live_notices(backend, res, win)))


def start_live(frame_px: int, request: gr.Request = None):
    """Start: a new timeline on a new clock (earlier timelines stay on the plot until cleared)."""
    buffer_for(request, frame_px).restart()
    return gr.Timer(active=True), "starting camera and microphone…"


def stop_live(frame_px: int, request: gr.Request = None):
    """Stop: nothing is explained or shown after it (the server drops what is still on its way)."""
    buffer_for(request, frame_px).stop()
    return gr.Timer(active=False), "stopped: press Start"


def clear_timeline():
    return [], None


# One Start / Stop for both devices: the buttons press the components' own controls (the browser only lets
# a page use the camera and microphone after a user gesture, which the click is).
_START_JS = """() => {
  const cam = document.querySelector('#live-cam');
  const access = cam && [...cam.querySelectorAll('button')].find(b => /access webcam/i.test(b.innerText));
  if (access) access.click();
  setTimeout(() => {
    const rec = cam && cam.querySelector("button[aria-label='capture photo']");
    if (rec) rec.click();
  }, 1500);
  const mic = document.querySelector('#live-mic');
  const record = mic && [...mic.querySelectorAll('button')].find(b => /^record$/i.test(b.innerText.trim()));
  if (record) record.click();
}"""
_STOP_JS = """() => {
  const cam = document.querySelector('#live-cam');
  const stop = cam && cam.querySelector("button[aria-label='stop recording'], button[aria-label='capture photo']");
  if (stop) stop.click();
  const mic = document.querySelector('#live-mic');
  const s = mic && [...mic.querySelectorAll('button')].find(b => /^stop$/i.test(b.innerText.trim()));
  if (s) s.click();
}"""


def build(backend: Backend, label_set: gr.Dropdown) -> dict:
    history = gr.State([])
    frame_px = int(getattr(backend.pipeline, "image_size", 384))
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="live-start")
                stop = gr.Button("Stop", variant="stop", elem_id="live-stop")
            cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="live-cam",
                           webcam_options=gr.WebcamOptions(mirror=True, constraints={"video": {"width": 320}}))
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone",
                           elem_id="live-mic")
            window_s = gr.Slider(2, MAX_WINDOW_S, value=4, step=1, label="Window (s)")
            status = gr.Markdown(LiveBuffer().status(), elem_id="live-status")
        with gr.Column(scale=2):
            label_md = gr.Markdown("Press **Start** (camera, microphone or both)…", elem_id="live-label")
            notices = gr.Markdown(elem_id="live-notices")
            reasoning = gr.Textbox(label="Latest reasoning", lines=3, elem_id="live-reasoning")
            timeline = gr.Plot(label="Timeline", elem_id="live-timeline")
            clear = gr.Button("Clear timeline", size="sm", elem_id="live-clear")
    hidden = {"api_visibility": "private"}
    timer = gr.Timer(TICK_S, active=False)
    cam.stream(bind(on_frame, frame_px), [cam], [timer], stream_every=0.5, time_limit=None, concurrency_limit=8,
               concurrency_id="live-in", show_progress="hidden", **hidden)
    mic.stream(bind(on_audio, frame_px), [mic], [timer], stream_every=0.5, time_limit=None, concurrency_limit=8,
               concurrency_id="live-in", show_progress="hidden", **hidden)
    start.click(bind(start_live, frame_px), None, [timer, status], js=_START_JS, queue=False, **hidden)
    stop.click(bind(stop_live, frame_px), None, [timer, status], js=_STOP_JS, queue=False, **hidden)
    clear.click(clear_timeline, None, [history, timeline], queue=False, **hidden)
    timer.tick(bind(predict_live, backend), [history, window_s, label_set],
               [history, timeline, label_md, reasoning, status, timer, notices], concurrency_id="model",
               concurrency_limit=1, show_progress="hidden", trigger_mode="once", **hidden)
    return {"timer": timer}
