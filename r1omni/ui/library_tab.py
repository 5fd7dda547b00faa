"""Library tab: open a folder or manifest under the library root, run the checkpoint over it (stored per
clip, cancellable, resumable), WAR/UAR and confusion matrix, open a row in the Clip tab, compare two
checkpoints on the same clips.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from r1omni.errors import UsageError
from r1omni.library_store import LibraryClip, open_library, resolve_inside
from r1omni.metrics import confusion_matrix, scores_by_dataset
from r1omni.prompts import LABEL_SETS
from r1omni.ui import views
from r1omni.ui.backend import Backend
from r1omni.ui.boundary import bind, guarded, warn
from r1omni.ui.clip_tab import MODEL_QUEUE

CORRECT_CHOICES = ["all", "correct", "wrong", "not run"]


def _clips(state: dict) -> list[LibraryClip]:
    if not state or not state.get("clips"):
        raise UsageError("open a library folder or manifest first")
    return [LibraryClip(Path(c["path"]), c["rel"], c["label"], c["dataset"], c["duration_s"]) for c in state["clips"]]


def _results(backend: Backend, clips: list[LibraryClip], label_set: str, checkpoint: str | None = None) -> list:
    stored = backend.store.get_many(checkpoint or backend.key, [c.path for c in clips], label_set)
    return [stored.get(str(c.path)) for c in clips]


def _summary(backend: Backend, state: dict, label_set: str, label: str, predicted: str, correct: str, search: str):
    """Table, metrics markdown and confusion figure from what the store holds for these clips."""
    clips = _clips(state)
    results = _results(backend, clips, label_set)
    rows = [views.library_row(c.rel, c.duration_s, c.label, r) for c, r in zip(clips, results, strict=True)]
    done = [(c, views.prediction_of(r)) for c, r in zip(clips, results, strict=True) if r and not r.get("error")]
    scored = [(c, p) for c, p in done if c.label]
    truth, pred = [c.label for c, _ in scored], [p.get("label") for _, p in scored]
    scores = scores_by_dataset(truth, pred, [c.dataset for c, _ in scored]) if scored else {}
    cm = confusion_matrix(truth, pred, list(LABEL_SETS[label_set])) if scored else ([], [], [])
    return (views.library_table(rows, label, predicted, correct, search),
            views.metrics_markdown(scores, len(done), len(clips)), views.confusion_figure(*cm))


@guarded
def open_clips(backend: Backend, path: str, label_set: str):
    """Open a folder or manifest (relative to the library root) and show stored results at once."""
    lib = open_library(path or ".", backend.library_root)
    if lib.skipped:
        warn([f"{len(lib.skipped)} rows skipped, e.g. {lib.skipped[0]}"])
    state = {"source": str(lib.source), "clips": [
        {"path": str(c.path), "rel": c.rel, "label": c.label, "dataset": c.dataset, "duration_s": c.duration_s}
        for c in lib.clips]}
    if not lib.clips:
        raise UsageError(f"no clips found in '{path}'")
    labels = ["all"] + sorted({c.label for c in lib.clips if c.label})
    table, metrics, cm = _summary(backend, state, label_set, "all", "all", "all", "")
    return state, table, metrics, cm, gr.Dropdown(choices=labels, value="all")


@guarded
def filter_rows(backend: Backend, state: dict, label_set: str, label: str, predicted: str, correct: str, search: str):
    return _summary(backend, state, label_set, label, predicted, correct, search)[0]


@guarded
def run_batch(backend: Backend, state: dict, label_set: str, max_new_tokens: int, progress=gr.Progress()):
    """Predict every clip not yet stored, one at a time, storing each result as it comes (so Stop and Run
    again resumes where it stopped); the table and metrics refresh after every clip."""
    clips = _clips(state)
    todo = [c for c, r in zip(clips, _results(backend, clips, label_set), strict=True) if r is None]
    if not todo:
        gr.Info("every clip already has a stored result for this checkpoint")
    for i, clip in enumerate(todo):
        progress((i, len(todo)), desc=f"{clip.rel}")
        result = backend.predict_clips([clip.path], label_set=label_set, max_new_tokens=max_new_tokens)[0]
        backend.store.put(backend.key, clip.path, label_set, result)
        yield _summary(backend, state, label_set, "all", "all", "all", "")
    yield _summary(backend, state, label_set, "all", "all", "all", "")


@guarded
def pick_row(backend: Backend, state: dict, evt: gr.SelectData):
    """Open the selected row's clip in the Clip tab (only files under the library root)."""
    row = evt.row_value if getattr(evt, "row_value", None) else [evt.value]
    path = resolve_inside(backend.library_root, row[0])
    if not path.is_file():
        raise UsageError(f"'{row[0]}' no longer exists")
    return str(path), gr.Tabs(selected="clip")


@guarded
def compare(backend: Backend, state: dict, label_set: str, other: str, max_new_tokens: int,
            progress=gr.Progress()):
    """Run a second checkpoint over the same clips (stored too) and show both scores and where they differ."""
    if not other or not other.strip():
        raise UsageError("give the path of the checkpoint to compare with")
    other = other.strip()
    clips = _clips(state)
    pipe_b = backend.pipeline_for(other)
    key_b = str(getattr(pipe_b, "checkpoint", other))
    res_b = _results(backend, clips, label_set, key_b)
    for i, (clip, r) in enumerate(zip(clips, res_b, strict=True)):
        if r is None:
            progress((i, len(clips)), desc=f"B: {clip.rel}")
            res_b[i] = backend.predict_clips([clip.path], label_set, checkpoint=other,
                                             max_new_tokens=max_new_tokens)[0]
            backend.store.put(key_b, clip.path, label_set, res_b[i])
    res_a = _results(backend, clips, label_set)
    lines = ["| checkpoint | WAR | UAR | n |", "|---|---|---|---|"]
    for name, res in (("A: " + backend.title, res_a), ("B: " + other, res_b)):
        pairs = [(c.label, views.prediction_of(r).get("label")) for c, r in zip(clips, res, strict=True)
                 if r and not r.get("error") and c.label]
        s = scores_by_dataset([t for t, _ in pairs], [p for _, p in pairs], ["all"] * len(pairs))["all"]
        lines.append(f"| {name} | {s['WAR']:.3f} | {s['UAR']:.3f} | {s['n']} |")
    if any(r is None for r in res_a):
        lines.append("\nA has not been run on every clip yet: press **Run** for the full comparison.")
    table = views.compare_table([c.rel for c in clips], [c.label for c in clips], res_a, res_b)
    return "\n".join(lines), table


def build(backend: Backend, default_path: str, clip_video: gr.Video, tabs: gr.Tabs, label_set: gr.Dropdown) -> dict:
    state = gr.State({})
    with gr.Row():
        path = gr.Textbox(default_path, label=f"Folder or manifest (under {backend.library_root})", scale=4,
                          elem_id="library-path")
        open_btn = gr.Button("Open", scale=1, elem_id="library-open")
    with gr.Row():
        f_label = gr.Dropdown(["all"], value="all", label="True label")
        f_pred = gr.Dropdown(["all", *LABEL_SETS["mafw"], "outside set", "error"], value="all", label="Predicted")
        f_correct = gr.Radio(CORRECT_CHOICES, value="all", label="Correct")
        f_search = gr.Textbox(label="File contains")
    with gr.Row():
        run_btn = gr.Button("Run", variant="primary", elem_id="library-run")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="library-stop")
        max_new = gr.Slider(16, 512, value=256, step=16, label="Max new tokens")
    table = gr.Dataframe(headers=views.LIBRARY_COLUMNS, interactive=False, label="Clips (click a row to open it)",
                         elem_id="library-table")
    with gr.Row():
        metrics = gr.Markdown(elem_id="library-metrics")
        cm = gr.Plot(label="Confusion matrix")
    with gr.Accordion("Compare with another checkpoint", open=False):
        with gr.Row():
            other = gr.Textbox(label="Checkpoint B (folder)", scale=4)
            cmp_btn = gr.Button("Compare", scale=1)
        cmp_md = gr.Markdown()
        cmp_table = gr.Dataframe(headers=["file", "true label", "A", "B"], interactive=False,
                                 label="Clips where A and B disagree")

    filters = [f_label, f_pred, f_correct, f_search]
    open_outputs = [state, table, metrics, cm, f_label]
    open_btn.click(bind(open_clips, backend), [path, label_set], open_outputs)
    for f in filters:
        f.change(bind(filter_rows, backend), [state, label_set, *filters], table)
    run_evt = run_btn.click(bind(run_batch, backend), [state, label_set, max_new], [table, metrics, cm],
                            concurrency_id=MODEL_QUEUE, concurrency_limit=1)
    stop_btn.click(None, cancels=[run_evt])
    table.select(bind(pick_row, backend), [state], [clip_video, tabs])
    cmp_btn.click(bind(compare, backend), [state, label_set, other, max_new], [cmp_md, cmp_table],
                  concurrency_id=MODEL_QUEUE, concurrency_limit=1)
    return {"path": path, "open": open_btn, "state": state, "open_outputs": open_outputs}
