"""Clip tab: one clip (upload, webcam recording, example or a Library pick) -> prediction and explanation.

The Explain button streams (`explain_stream`): the request's place in the queue while it waits, the reasoning
token by token while it is generated, the answer and class distribution, then the modality shares and the
gate, then the timelines, with each stage's progress and an estimate from measured throughput.
The API event keeps api_name="explain" (video file in, final explain JSON (DESIGN 3.2) among the same
outputs); `/explain_stream` is its streaming twin. Both are admitted by one `ModelGate` (bounded FIFO wait;
beyond it a clear "Busy: ... retry in a moment" refusal).
"""

from __future__ import annotations

import atexit
import collections
import functools
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import asyncio
import time

import anyio
import gradio as gr
import numpy as np
from PIL import Image

from r1omni.prompts import LABEL_SETS
from r1omni.ui import views
from r1omni.ui.admission import Busy, ModelGate
from r1omni.ui.backend import Backend
from r1omni.ui.boundary import bind, guarded, player_file

MODEL_QUEUE = "model"  # the other events that run the model share this concurrency id (limit 1)
EXPLAIN_ADMISSION = "explain"  # /explain: admitted by its ModelGate, not by Gradio's queue
logger = logging.getLogger(__name__)


@guarded
def explain_clip(backend: Backend, video: str | None, label_set: str, decoding: str, max_new_tokens: int, mode: str,
                 audio: str | None = None, progress=gr.Progress(), on_event=None):
    """Unpack -> explain (progress by stage) -> views. An audio file alone is explained; with a video, its
    sound replaces the video's own (one clip from two files)."""
    view = backend.explain_clip(video, audio=audio, label_set=label_set, mode=mode, do_sample=decoding == "sampled",
                                max_new_tokens=max_new_tokens, progress=lambda f, stage: progress(f, desc=stage),
                                on_event=on_event)
    return final_outputs(view, label_set)


def final_outputs(view, label_set: str) -> tuple:
    """The 11 outputs of /explain (the raw explain JSON last). Notices go to the notices panel only."""
    res = view.result
    notes = views.notices(res, LABEL_SETS.get(label_set))
    pred = views.prediction_of(res)
    return (
        views.label_markdown(res),
        views.probs_figure(pred),
        gr.HighlightedText(value=views.reasoning_highlights(res), color_map=views.COLOR_MAP),
        gr.HighlightedText(value=views.claim_highlights(res), color_map=views.claims_color_map(res)),
        views.modality_figure(res),
        views.gate_figure(res.get("gate")),
        views.frame_gallery(THUMBNAILS.paths(view.thumbnails), res.get("frames") or []),
        views.frame_figure(res.get("frames") or []),
        views.audio_figure(view.audio, 16000, res.get("audio_segments") or []),
        views.notices_markdown(notes),
        res,
    )


# --- Library hook (branch libclip): a Library row opened here shows its stored result at once. Keep the
# tuple in the order of `outputs` in build(); Explain re-runs the clip with attributions.
STORED_NOTICE = ("stored Library result ({checkpoint}, label set '{label_set}'): label, class distribution "
                 "and reasoning only; press **Explain** to run it again with attributions")


def stored_outputs(result: dict | None, label_set: str, checkpoint: str) -> tuple:
    """The Clip tab's outputs for a Library row: its stored predict result, or, when the row has none, the
    empty panels (so no other clip's result stays next to it)."""
    if not result:
        return ("Not run in the Library yet: press **Explain**.", None, [], [], None, None, [], None, None,
                "no notices", None)
    pred = views.prediction_of(result)
    head = (f"## error\n\n{views.html_escape(result['error'])}" if result.get("error")
            else views.label_markdown(result))
    first = STORED_NOTICE.format(checkpoint=views.html_escape(checkpoint), label_set=views.html_escape(label_set))
    notes = "\n".join([f"- {first}"] + [f"- {views.html_escape(n)}" for n in views.notices(result)])
    return (head, views.probs_figure(pred), views.reasoning_highlights(result), [], None, None, [], None, None,
            notes, result)
# --- end of the Library hook


class ThumbnailFiles:
    """Gallery thumbnails as PNG files named by their content's hash, each written once (temp name, rename).

    Gradio saves an in-memory image into its cache by rewriting the same hash-named file on every request,
    so a client still downloading that file from an earlier answer (the same clip's frames) could get it
    cut short ("Too little data for declared Content-Length"); a file path is copied into Gradio's cache
    under a staging name and renamed instead. At most `keep` files stay here (the oldest go first).
    """

    def __init__(self, keep: int = 512):
        self.keep = keep
        self._folder: Path | None = None
        self._files: collections.OrderedDict[str, Path] = collections.OrderedDict()
        self._lock = threading.Lock()

    def paths(self, images) -> list[str]:
        return [self.path(img) for img in images]

    def path(self, img: np.ndarray) -> str:
        arr = np.ascontiguousarray(img, dtype=np.uint8)
        key = hashlib.sha1(arr.tobytes() + repr(arr.shape).encode()).hexdigest()[:20]
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="r1omni-thumbnails-"))
                atexit.register(shutil.rmtree, self._folder, True)
            path = self._folder / f"frame-{key}.png"
            if key in self._files and path.is_file():
                self._files.move_to_end(key)
                return str(path)
            fd, staging = tempfile.mkstemp(dir=self._folder, suffix=".png.part")
            with os.fdopen(fd, "wb") as fh:
                Image.fromarray(arr).save(fh, format="PNG")
            os.replace(staging, path)
            self._files[key] = path
            while len(self._files) > self.keep:
                _, old = self._files.popitem(last=False)
                old.unlink(missing_ok=True)
            return str(path)


THUMBNAILS = ThumbnailFiles()


def token_slider(backend: Backend, **kw) -> gr.Slider:
    """The new-token limit: the checkpoint's (generation_config.json, else 2048) by default, and the maximum."""
    limit = backend.max_new_tokens
    return gr.Slider(16, max(16, limit), value=limit, step=1, label="Max new tokens",
                     info=f"the checkpoint's limit is {limit}; fewer tokens can cut the reasoning before its answer",
                     **kw)


def example_clips(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.mp4"))[:6] if folder.is_dir() else []


def admitted(handler, gate: ModelGate):
    """The explain handler behind the gate: waits its turn (shown as progress), or is refused at once with
    "Busy: N requests are queued for the model; retry in a moment". The model work runs in a worker thread."""

    async def explain(video: str | None, label_set: str, decoding: str, max_new_tokens: int, mode: str,
                      audio: str | None = None, progress=gr.Progress()):
        try:
            async with gate.admit() as ahead:
                if ahead:
                    logger.info("explain admitted after %d waiting ahead", ahead)
                return await anyio.to_thread.run_sync(
                    functools.partial(handler, video, label_set, decoding, max_new_tokens, mode, audio,
                                      progress=progress))
        except Busy as busy:
            logger.info("explain refused: %s", busy)
            raise gr.Error(str(busy), title="Busy", print_exception=False) from None

    explain.__doc__ = handler.__doc__
    return explain


# ------------------------------------------------------------------ streaming (issue 17 item 3)
STREAMED = ("progress", "label", "probs", "reasoning", "claims", "modality", "gate", "gallery", "frames", "audio",
            "notices", "raw")  # the streaming event's outputs: the progress line, then /explain's 11


def _update(**values) -> tuple:
    return tuple(values.get(name, gr.skip()) for name in STREAMED)


def _show_event(kind: str, info: dict, limit: int, mode: str) -> dict:
    """The outputs one backend event changes (ClipEvents kinds)."""
    if kind == "decoded":
        return {"progress": "**1/2 Generating**: the model reads the clip"}
    if kind == "tokens":
        return {"progress": views.generating_markdown(info["n"], info["s_per_token"], limit),
                "reasoning": gr.HighlightedText(value=[(info["text"], None)] if info["text"] else [])}
    if kind == "predicted":
        pred = info["prediction"]
        stage = "modality coalitions" + (", frames and audio windows" if mode == "full" else "")
        return {"progress": views.scoring_markdown(stage, 0, info["total"], info["s_per_variant"]),
                "label": views.label_markdown({"prediction": pred}), "probs": views.probs_figure(pred),
                "reasoning": gr.HighlightedText(value=views.reasoning_highlights({"prediction": pred}),
                                                color_map=views.COLOR_MAP)}
    if kind == "scored":
        nxt = {"coalitions": "frames", "frames": "audio windows"}.get(info["stage"], "")
        out = {"progress": views.scoring_markdown(nxt, info["done"], info["total"], info["s_per_variant"])}
        if "modality" in info:
            out["modality"] = views.modality_figure({"modality": info["modality"]})
        return out
    if kind == "contrast":
        return {"progress": "**2/2 Attribution**: every variant scored; checking the claims against alternatives"}
    return {}


def streamed(backend: Backend, gate: ModelGate):
    """The Explain button's handler: an async generator behind the same gate as /explain, showing results as
    they come (see the module docstring). The model work runs in a worker thread; its events are coalesced
    into at most about ten page updates a second."""

    async def explain_stream(video: str | None, label_set: str, decoding: str, max_new_tokens: int, mode: str,
                             audio: str | None = None):
        try:
            ticket = gate.ticket()
        except Busy as busy:
            logger.info("explain refused: %s", busy)
            raise gr.Error(str(busy), title="Busy", print_exception=False) from None
        work = None
        try:
            while not await ticket.wait(timeout=1.0):
                place = ticket.place()
                yield _update(progress=views.waiting_markdown(place, gate.estimate_s(place), gate.seconds_per_request))
            loop = asyncio.get_running_loop()
            events: asyncio.Queue = asyncio.Queue()

            def on_event(kind: str, info: dict) -> None:
                loop.call_soon_threadsafe(events.put_nowait, (kind, info))

            limit = int(max_new_tokens)
            work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(
                explain_clip, backend, video, label_set, decoding, limit, mode, audio,
                progress=lambda *a, **k: None, on_event=on_event)))
            work.add_done_callback(lambda _: events.put_nowait(("done", {})))
            yield _update(progress="**Starting**: decoding the clip", label="working…", reasoning=[], claims=[],
                          probs=None, modality=None, gate=None, gallery=None, frames=None, audio=None,
                          notices="", raw=None)  # the previous clip's results go
            finished = False
            while not finished:
                batch = [await events.get()]
                t0 = time.monotonic()
                while time.monotonic() - t0 < 0.1:  # coalesce a burst of tokens into one page update
                    try:
                        batch.append(events.get_nowait())
                    except asyncio.QueueEmpty:
                        await asyncio.sleep(0.02)
                        if events.empty():
                            break
                shown: dict = {}
                for kind, info in batch:
                    if kind == "done":
                        finished = True
                    else:
                        shown.update(_show_event(kind, info, limit, mode))
                if shown and not finished:
                    yield _update(**shown)
            final = await work  # raises the handler's one-line gr.Error
            yield ("**Done** in " + views.duration_text(time.monotonic() - ticket.started_at).replace("about ", ""),
                   *final)
        finally:
            if work is not None and not work.done():  # the client went away: free the gate when the work ends
                work.add_done_callback(lambda _: ticket.release())
            else:
                ticket.release()

    return explain_stream


def build(backend: Backend, examples_dir: Path, model_gate: ModelGate | None = None) -> dict:
    """Lay out the Clip tab inside the current Blocks context; returns the components other tabs use.
    `model_gate` bounds how many /explain requests may wait for the model (64 if not given)."""
    model_gate = model_gate or ModelGate(64)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            video = gr.Video(sources=["upload", "webcam"], label="Clip", include_audio=True, elem_id="clip-video")
            # A separate audio file: alone it is the clip; with a video, its sound is used with that video's frames.
            audio_file = gr.Audio(sources=["upload"], type="filepath", elem_id="clip-audio",
                                  label="…or an audio file (alone, or as the sound of the video above)")
            clips = example_clips(examples_dir)
            if clips:
                gr.Examples(clips, inputs=[video], label="Synthetic example clips")
            with gr.Accordion("Options", open=False):
                label_set = gr.Dropdown(["dfew", "mafw", "ravdess"], value="dfew", label="Label set")
                decoding = gr.Radio(["greedy", "sampled"], value="greedy", label="Decoding")
                max_new = token_slider(backend, elem_id="clip-max-new")
                mode = gr.Radio(["fast", "full"], value=backend.explain_mode, label="Explanation", elem_id="clip-mode",
                                info="fast: modality Shapley + gate; full: adds frame and audio occlusion")
            run = gr.Button("Explain", variant="primary", elem_id="explain-button")
            api_run = gr.Button("Explain (API)", visible=False, elem_id="explain-api-button")
        with gr.Column(scale=2):
            label_md = gr.Markdown("Upload or pick a clip, then press **Explain**.", elem_id="clip-label")
            progress_md = gr.Markdown("", elem_id="clip-progress")
            probs = gr.Plot(label="Class distribution", elem_id="probs-plot")
            reasoning = gr.HighlightedText(label="Reasoning (token colour = modality that supports it)",
                                           color_map=views.COLOR_MAP, show_legend=True, elem_id="reasoning")
            claims = gr.HighlightedText(label="Claims", show_legend=True, elem_id="claims")
            with gr.Row():
                modality = gr.Plot(label="Modality share", elem_id="modality-plot")
                gate = gr.Plot(label="Gate", elem_id="gate-plot")
            gr.Markdown(views.LEGEND, elem_id="clip-legend")
    gallery = gr.Gallery(label="Sampled frames (caption: time, occlusion score)", columns=8, height=200,
                         elem_id="clip-frames")
    with gr.Row():
        frames = gr.Plot(label="Frames", elem_id="frames-plot")
        audio_plot = gr.Plot(label="Audio", elem_id="audio-plot")
    notices = gr.Markdown(elem_id="clip-notices")
    with gr.Accordion("Raw explain JSON", open=False):
        raw = gr.JSON(label="explain JSON", elem_id="clip-raw")
    outputs = [label_md, probs, reasoning, claims, modality, gate, gallery, frames, audio_plot, notices, raw]
    handler = admitted(bind(explain_clip, backend), model_gate)
    # An upload the browser cannot play (FLV, AVI, old codecs) is shown as its playback copy; Explain reads
    # the original behind it (Backend.source_of).
    video.upload(guarded(bind(player_file, backend)), video, video, api_visibility="private")
    # No Gradio concurrency limit: the gate admits (FIFO, bounded) and refuses with its own busy message.
    # The page streams; the API keeps /explain (the video slot takes any file, audio-only included).
    event = run.click(streamed(backend, model_gate), [video, label_set, decoding, max_new, mode, audio_file],
                      [progress_md, *outputs], api_name="explain_stream", concurrency_id=EXPLAIN_ADMISSION,
                      concurrency_limit=None, show_progress="hidden")
    api_run.click(handler, [video, label_set, decoding, max_new, mode], outputs, api_name="explain",
                  concurrency_id=EXPLAIN_ADMISSION, concurrency_limit=None)
    return {"video": video, "audio": audio_file, "inputs": [video, label_set, decoding, max_new, mode],
            "outputs": outputs, "handler": handler, "event": event, "label_set": label_set,
            "model_gate": model_gate}
