"""Clip tab: one clip (upload, webcam recording, example or a Library pick) -> prediction and explanation.

The main event has api_name="explain": video file in, explain JSON (DESIGN 3.2) among the outputs. It is
admitted by a `ModelGate` (bounded FIFO wait; beyond it a clear "Busy: ... retry in a moment" refusal).
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

import anyio
import gradio as gr
import numpy as np
from PIL import Image

from r1omni.prompts import LABEL_SETS
from r1omni.ui import views
from r1omni.ui.admission import Busy, ModelGate
from r1omni.ui.backend import Backend
from r1omni.ui.boundary import bind, guarded, warn

MODEL_QUEUE = "model"  # the other events that run the model share this concurrency id (limit 1)
EXPLAIN_ADMISSION = "explain"  # /explain: admitted by its ModelGate, not by Gradio's queue
logger = logging.getLogger(__name__)


@guarded
def explain_clip(backend: Backend, video: str | None, label_set: str, decoding: str, max_new_tokens: int, mode: str,
                 audio: str | None = None, progress=gr.Progress()):
    """Unpack -> explain (progress by stage) -> views. Without a video, the audio-only upload is explained."""
    view = backend.explain_clip(video or audio, label_set=label_set, mode=mode, do_sample=decoding == "sampled",
                                max_new_tokens=max_new_tokens, progress=lambda f, stage: progress(f, desc=stage))
    res = view.result
    notes = views.notices(res, LABEL_SETS.get(label_set))
    warn(notes)
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


def build(backend: Backend, examples_dir: Path, model_gate: ModelGate | None = None) -> dict:
    """Lay out the Clip tab inside the current Blocks context; returns the components other tabs use.
    `model_gate` bounds how many /explain requests may wait for the model (64 if not given)."""
    model_gate = model_gate or ModelGate(64)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            video = gr.Video(sources=["upload", "webcam"], label="Clip", include_audio=True, elem_id="clip-video")
            audio = gr.Audio(sources=["upload"], type="filepath", label="…or an audio file (no video)",
                             elem_id="clip-audio")
            audio_path = gr.State(None)  # not an /explain API input: the API takes the video slot for any file
            clips = example_clips(examples_dir)
            if clips:
                gr.Examples(clips, inputs=[video], label="Synthetic example clips")
            with gr.Accordion("Options", open=False):
                label_set = gr.Dropdown(["dfew", "mafw", "ravdess"], value="dfew", label="Label set")
                decoding = gr.Radio(["greedy", "sampled"], value="greedy", label="Decoding")
                max_new = gr.Slider(16, 512, value=256, step=16, label="Max new tokens")
                mode = gr.Radio(["fast", "full"], value="full", label="Explanation",
                                info="fast: modality Shapley + gate; full: adds frame and audio occlusion")
            run = gr.Button("Explain", variant="primary", elem_id="explain-button")
        with gr.Column(scale=2):
            label_md = gr.Markdown("Upload or pick a clip, then press **Explain**.", elem_id="clip-label")
            probs = gr.Plot(label="Class distribution", elem_id="probs-plot")
            reasoning = gr.HighlightedText(label="Reasoning (token colour = modality that supports it)",
                                           color_map=views.COLOR_MAP, show_legend=True, elem_id="reasoning")
            claims = gr.HighlightedText(label="Claims", show_legend=True, elem_id="claims")
            with gr.Row():
                modality = gr.Plot(label="Modality share")
                gate = gr.Plot(label="Gate")
    gallery = gr.Gallery(label="Sampled frames (caption: occlusion score)", columns=8, height=200)
    with gr.Row():
        frames = gr.Plot(label="Frames")
        audio = gr.Plot(label="Audio")
    notices = gr.Markdown(elem_id="clip-notices")
    with gr.Accordion("Raw explain JSON", open=False):
        raw = gr.JSON(label="explain JSON")
    outputs = [label_md, probs, reasoning, claims, modality, gate, gallery, frames, audio, notices, raw]
    handler = admitted(bind(explain_clip, backend), model_gate)
    audio.change(lambda a: a, audio, audio_path, api_visibility="private", queue=False)
    # No Gradio concurrency limit: the gate admits (FIFO, bounded) and refuses with its own busy message.
    event = run.click(handler, [video, label_set, decoding, max_new, mode, audio_path], outputs, api_name="explain",
                      concurrency_id=EXPLAIN_ADMISSION, concurrency_limit=None)
    return {"video": video, "inputs": [video, label_set, decoding, max_new, mode], "outputs": outputs,
            "handler": handler, "event": event, "label_set": label_set, "model_gate": model_gate}
