"""Library tab: open a folder or manifest under the library root, run the checkpoint over it in batches
(stored per clip, stoppable, resumable, failed clips retried on request), WAR/UAR and confusion matrix, open a
row in the Clip tab, compare two checkpoints on the same clips.

The session state holds the clip list and the results in memory (server side); the browser gets one page of
the filtered table at a time. Results are looked up once per open by file key and checkpoint fingerprint, and
a run updates them batch by batch without rescanning. Handlers report bad input in the status line (and a
toast) instead of raising, so no output is left with a bare error badge.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
import typing
from pathlib import Path

import gradio as gr

from r1omni.errors import R1OmniError, UsageError
from r1omni.library_store import LibraryClip, open_library, resolve_inside
from r1omni.metrics import confusion_matrix, scores_by_dataset
from r1omni.prompts import LABEL_SETS
from r1omni.ui import views
from r1omni.ui.backend import Backend
from r1omni.ui import clip_tab
from r1omni.ui.boundary import bind, guarded, player_file, scrub_paths, warn
from r1omni.ui.clip_tab import MODEL_QUEUE, token_slider

logger = logging.getLogger(__name__)
CORRECT_CHOICES = ["all", "correct", "wrong", "not run"]
PAGE_ROWS = 100


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 clip', '3 clips' (`many` for irregular plurals).

    >>> plural(1, "clip"), plural(0, "clip"), plural(2, "file or row", "files or rows")
    ('1 clip', '0 clips', '2 files or rows')
    """
    return f"{n} {one if n == 1 else (many or one + 's')}"


class _Runs:
    """One browser session's stoppable model work (Run, Retry failed, Send to audit).

    A click arms the session at once (`arm_run`, outside the queue), so a Stop pressed while the work still
    waits for the model is not lost; the work counts itself running while it runs. Stop sets `stop` only
    when something is armed or running; the work checks it between batches (or clips) and clears it when
    it ends, so a later Run starts clean.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pending = 0  # armed, still waiting in the queue
        self.active = 0  # running


_RUNS: dict[str, _Runs] = {}
_RUNS_LOCK = threading.Lock()


def _clips(state: dict) -> list[LibraryClip]:
    if not state or not state.get("clips"):
        raise UsageError("open a library folder or manifest first")
    return state["clips"]


def _load_results(backend: Backend, state: dict, label_set: str) -> dict:
    """{rel: result} from the store for this checkpoint and label set (cached in the state per label set)."""
    if state.get("label_set") != label_set:
        clips = _clips(state)
        stored = backend.store.get_keyed(backend.key, [c.key for c in clips], label_set)
        state["results"] = {c.rel: stored[c.key] for c in clips if c.key in stored}
        state["label_set"] = label_set
    return state["results"]


def _rows(state: dict) -> list[dict]:
    res = state["results"]
    return [views.library_row(c.rel, c.duration_s, c.label, res.get(c.rel)) for c in state["clips"]]


def _page(state: dict, filters: tuple, page: int) -> tuple:
    """(one page of the filtered table, 'page i of n' text, the page number used)."""
    table = views.library_table(_rows(state), *filters)
    pages = max(1, math.ceil(len(table) / PAGE_ROWS))
    page = min(max(1, int(page or 1)), pages)
    part = table.iloc[(page - 1) * PAGE_ROWS: page * PAGE_ROWS]
    matches = f"{plural(len(table), 'clip')} {'matches' if len(table) == 1 else 'match'}"
    return part, f"{matches} · page {page} of {pages}", page


def _metrics(state: dict, label_set: str) -> tuple:
    clips, res = state["clips"], state["results"]
    labels = set(LABEL_SETS[label_set])
    done = [(c, views.prediction_of(res[c.rel])) for c in clips if c.rel in res and not res[c.rel].get("error")]
    scored = [(c, p) for c, p in done if c.label in labels]
    truth, pred = [c.label for c, _ in scored], [p.get("label") for _, p in scored]
    scores = scores_by_dataset(truth, pred, [c.dataset for c, _ in scored]) if scored else {}
    cm = confusion_matrix(truth, pred, list(LABEL_SETS[label_set])) if scored else ([], [], [])
    md = views.metrics_markdown(scores, len(done), len(clips))
    failed = sum(1 for c in clips if (res.get(c.rel) or {}).get("error"))
    outside = sorted({c.label for c in clips if c.label and c.label not in labels})
    if failed:
        them = "it" if failed == 1 else "them"
        md += f"\n\n{plural(failed, 'clip')} failed (see 'flags'); **Retry failed** runs {them} again."
    if outside:
        md += (f"\n\nLabels outside '{label_set}' are not scored: {', '.join(outside)} "
               f"(label set '{_implied(clips) or 'mafw'}' holds them).")
    return md, views.confusion_figure(*cm)


def _implied(clips: list[LibraryClip]) -> str | None:
    sets = {c.label_set for c in clips if c.label_set}
    return sets.pop() if len(sets) == 1 else None


def _label_sources(clips: list[LibraryClip]) -> str:
    counts: dict[str, int] = {}
    for c in clips:
        if c.label:
            name = c.dataset if c.label_set else "manifest"
            counts[name] = counts.get(name, 0) + 1
    unlabelled = sum(1 for c in clips if not c.label)
    parts = [f"{n} labelled by {k}" for k, n in sorted(counts.items())] + ([f"{unlabelled} unlabelled"]
                                                                          if unlabelled else [])
    return ", ".join(parts)


def _fail(err: BaseException) -> str:
    """The one-line message of a refused request, as a toast and as the status line."""
    msg = scrub_paths(str(err)) if isinstance(err, R1OmniError) else "internal error; see the server log"
    gr.Warning(views.html_escape(msg))
    return f"**Cannot open:** {views.html_escape(msg)}"


def open_clips(backend: Backend, path: str, label_set: str):
    """Open a folder or manifest (relative to the library root) and show stored results at once."""
    try:
        lib = open_library(path or ".", backend.library_root, backend.store)
        if not lib.clips:
            raise UsageError(f"no clips found in '{path or '.'}'")
    except Exception as err:  # noqa: BLE001 - this handler reports instead of raising (no bare error badges)
        if not isinstance(err, R1OmniError):
            logger.exception("opening library %r failed", path)
        return {}, gr.skip(), _fail(err), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    state = {"source": str(lib.source), "clips": lib.clips}
    _load_results(backend, state, label_set)
    notes = [scrub_paths(r) for r in lib.reports]
    if lib.skipped:
        notes.append(f"{plural(len(lib.skipped), 'file or row', 'files or rows')} skipped, "
                     f"e.g. {scrub_paths(lib.skipped[0])}")
    warn(notes)
    labels = ["all"] + sorted({c.label for c in lib.clips if c.label})
    implied = _implied(lib.clips)
    status = f"{plural(len(lib.clips), 'clip')}: {_label_sources(lib.clips)}."
    if implied and implied != label_set:
        status += f" Their labels imply label set **{implied}**: choose it in the Clip tab's options."
    status = "  \n".join([status] + [views.html_escape(n) for n in notes])
    table, page_text, page = _page(state, ("all", "all", "all", ""), 1)
    metrics, cm = _metrics(state, label_set)
    return state, table, status, metrics, cm, gr.Dropdown(choices=labels, value="all"), page_text


@guarded
def filter_rows(backend: Backend, state: dict, label_set: str, label: str, predicted: str, correct: str,
                search: str, page: int = 1):
    """One page of the filtered table (the whole table is never sent)."""
    if not state or not state.get("clips"):
        return gr.skip(), "open a library folder or manifest first"
    _load_results(backend, state, label_set)
    table, text, _ = _page(state, (label, predicted, correct, search or ""), page)
    return table, text


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def _runs(request: gr.Request | None) -> _Runs:
    with _RUNS_LOCK:
        return _RUNS.setdefault(_session(request), _Runs())


def arm_run(request: gr.Request = None) -> None:
    """Run / Retry failed / Send to audit clicked: armed before the work waits for the model."""
    runs = _runs(request)
    with runs.lock:
        runs.stop.clear()
        runs.pending += 1


class _running:
    """Context of one stoppable piece of work of a session: counts it running, clears Stop at its end."""

    def __init__(self, request: gr.Request | None):
        self.runs = _runs(request)

    def __enter__(self) -> threading.Event:
        with self.runs.lock:
            self.runs.pending = max(0, self.runs.pending - 1)
            self.runs.active += 1
        return self.runs.stop

    def __exit__(self, *_):
        with self.runs.lock:
            self.runs.active -= 1
            if not self.runs.active and not self.runs.pending:
                self.runs.stop.clear()


def stop_run(request: gr.Request = None) -> str:
    """Stop pressed: the session's run (or send to audit) ends after its current batch (or clip) and then
    says where it stopped; nothing is cancelled mid-batch, so what the store holds is what the page shows."""
    runs = _runs(request)
    with runs.lock:
        if not (runs.active or runs.pending):
            return "nothing is running"
        runs.stop.set()
    return "stopping after the current batch (or the clip being sent to audit)…"


def _scored_in_store(backend: Backend, state: dict, label_set: str) -> tuple[int, int]:
    """(clips with a stored result that is not an error, clips) read again from the store; the state's
    results are replaced by what the store holds."""
    state["label_set"] = None
    res = _load_results(backend, state, label_set)
    return sum(1 for r in res.values() if not r.get("error")), len(state["clips"])


@guarded
def run_batch(backend: Backend, state: dict, label_set: str, max_new_tokens: int, retry_failed: bool = False,
              request: gr.Request = None, progress=gr.Progress()):
    """Predict every clip without a stored result (with `retry_failed`: every failed clip instead) in batches
    of backend.batch_size; each batch is stored in one transaction before the next starts, so Stop (or a
    crash) keeps every finished clip and Run again resumes where it stopped. Yields (state, table, page text,
    metrics, confusion matrix, run status); after a Stop the run status says "stopped after batch N: K of M
    scored", K and M read from the store."""
    with _running(request) as stop:
        clips = _clips(state)
        res = _load_results(backend, state, label_set)
        if retry_failed:
            todo = [c for c in clips if c.rel in res and res[c.rel].get("error")]
        else:
            todo = [c for c in clips if c.rel not in res]
        batches = math.ceil(len(todo) / backend.batch_size)
        if not todo:
            msg = ("no failed clips to retry" + (f" ({plural(len(clips) - len(res), 'clip')} not run yet: "
                                                  "press **Run**)" if len(res) < len(clips) else "")
                   if retry_failed else "every clip already has a stored result for this checkpoint")
            gr.Info(msg.replace("**", ""))
            table, text, _ = _page(state, ("all", "all", "all", ""), 1)
            yield (state, table, text, *_metrics(state, label_set), msg)
            return
        done = n = 0
        for n, start in enumerate(range(0, len(todo), backend.batch_size), 1):
            if stop.is_set():
                n -= 1
                break
            batch = todo[start:start + backend.batch_size]
            progress((done, len(todo)), desc=f"{batch[0].rel} (+{len(batch) - 1})")
            out = backend.predict_clips([c.path for c in batch], label_set=label_set,
                                        max_new_tokens=max_new_tokens)
            backend.store.put_many(backend.key, label_set, [(c.key, r) for c, r in zip(batch, out, strict=True)])
            res.update({c.rel: r for c, r in zip(batch, out, strict=True)})
            done += len(batch)
            table, text, _ = _page(state, ("all", "all", "all", ""), 1)
            yield (state, table, text, *_metrics(state, label_set),
                   f"batch {n} of {batches}: {done} of {plural(len(todo), 'clip')} run")
        if stop.is_set() and done < len(todo):
            scored, total = _scored_in_store(backend, state, label_set)
            where = f"after batch {n}" if n else "before the first batch"
            msg = f"**stopped {where}: {scored} of {total} scored**; **Run** resumes"
        else:
            msg = f"done: {plural(done, 'clip')} run"
        table, text, _ = _page(state, ("all", "all", "all", ""), 1)
        yield (state, table, text, *_metrics(state, label_set), msg)


@guarded
def retry_failed(backend: Backend, state: dict, label_set: str, max_new_tokens: int, request: gr.Request = None,
                 progress=gr.Progress()):
    """Run again every clip whose stored result is an error (clips not run yet are left to Run)."""
    yield from run_batch(backend, state, label_set, max_new_tokens, True, request, progress)


def stoppable(handler, stopped=lambda last: f"**stopped:** {str(last).rstrip('…. ')}"):
    """A generator handler (one yield per unit of work) that the Library's Stop ends between two of its
    yields; its last output is then `stopped(last output)`. Gradio gives it the request (the session)."""
    sig = inspect.signature(handler)
    params = [p for p in sig.parameters.values() if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD]
    n = len(params)

    def run(*args, **kwargs):
        request = args[n] if len(args) > n else kwargs.pop("request", None)  # gradio passes it by position
        with _running(request) as stop:
            last = None
            gen = handler(*args[:n], **kwargs)
            for last in gen:
                yield last
                if stop.is_set():
                    gen.close()
                    yield stopped(last)
                    return

    # gradio injects special arguments by position among the positional parameters: `request` goes last
    req = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    run.__signature__ = sig.replace(parameters=[*params, req])  # type: ignore[attr-defined]
    run.__annotations__ = {**typing.get_type_hints(handler), "request": gr.Request}
    run.__name__ = run.__qualname__ = getattr(handler, "__name__", "stoppable")
    run.__doc__ = handler.__doc__
    return run


@guarded
def pick_row(backend: Backend, state: dict, label_set: str, evt: gr.SelectData):
    """Open the selected row's clip in the Clip tab (only files under the library root), with its stored
    result shown at once (the Clip tab's Explain re-runs it with attributions)."""
    row = evt.row_value if getattr(evt, "row_value", None) else [evt.value]
    path = resolve_inside(backend.library_root, row[0])
    if not path.is_file():
        raise UsageError(f"'{row[0]}' no longer exists")
    stored = None
    if state and state.get("clips"):
        stored = _load_results(backend, state, label_set).get(str(row[0]))
    return (player_file(backend, str(path)), gr.Tabs(selected="clip"), *clip_tab.stored_outputs(stored, label_set, backend.title))


@guarded
def compare(backend: Backend, state: dict, label_set: str, other: str, max_new_tokens: int,
            progress=gr.Progress()):
    """Run a second checkpoint (from a folder allowed at start-up) over the same clips, stored too, and show
    both scores and where they differ."""
    if not other or not str(other).strip():
        raise UsageError("choose the checkpoint to compare with")
    other = str(other).strip()
    clips = _clips(state)
    _, key_b = backend.pipeline_and_key(other)
    stored = backend.store.get_keyed(key_b, [c.key for c in clips], label_set)
    res_b = [stored.get(c.key) for c in clips]
    todo = [i for i, r in enumerate(res_b) if r is None]
    for start in range(0, len(todo), backend.batch_size):
        idx = todo[start:start + backend.batch_size]
        progress((start, len(todo)), desc=f"B: {clips[idx[0]].rel}")
        out = backend.predict_clips([clips[i].path for i in idx], label_set, checkpoint=other,
                                    max_new_tokens=max_new_tokens)
        backend.store.put_many(key_b, label_set, [(clips[i].key, r) for i, r in zip(idx, out, strict=True)])
        for i, r in zip(idx, out, strict=True):
            res_b[i] = r
    results = _load_results(backend, state, label_set)
    res_a = [results.get(c.rel) for c in clips]
    lines = ["| checkpoint | WAR | UAR | n |", "|---|---|---|---|"]
    for name, res in (("A: " + backend.title, res_a), ("B: " + Path(other).name, res_b)):
        pairs = [(c.label, views.prediction_of(r).get("label")) for c, r in zip(clips, res, strict=True)
                 if r and not r.get("error") and c.label]
        s = scores_by_dataset([t for t, _ in pairs], [p for _, p in pairs], ["all"] * len(pairs))["all"]
        lines.append(f"| {name} | {s['WAR']:.3f} | {s['UAR']:.3f} | {s['n']} |")
    if any(r is None for r in res_a):
        lines.append("\nA has not been run on every clip yet: press **Run** for the full comparison.")
    table = views.compare_table([c.rel for c in clips], [c.label for c in clips], res_a, res_b)
    return "\n".join(lines), table


def build(backend: Backend, default_path: str, clip_video: gr.Video, tabs: gr.Tabs, label_set: gr.Dropdown,
          clip_outputs: list | None = None) -> dict:
    """Lay out the Library tab; `clip_outputs` (the Clip tab's result components) show a picked row's stored
    result. Returns what other tabs use, among them `stoppable(button, handler, inputs, outputs, **kw)`,
    which wires a generator handler so that this tab's Stop ends it between two of its yields."""
    state = gr.State({})
    with gr.Row():
        path = gr.Textbox(default_path, label="Folder or manifest (relative to the library folder)", scale=4,
                          elem_id="library-path")
        open_btn = gr.Button("Open", scale=1, elem_id="library-open")
    status = gr.Markdown(elem_id="library-status")
    with gr.Row():
        f_label = gr.Dropdown(["all"], value="all", label="True label")
        f_pred = gr.Dropdown(["all", *LABEL_SETS["mafw"], "calm", "outside set", "error"], value="all",
                             label="Predicted")
        f_correct = gr.Radio(CORRECT_CHOICES, value="all", label="Correct")
        f_search = gr.Textbox(label="File contains")
    with gr.Row():
        run_btn = gr.Button("Run", variant="primary", elem_id="library-run")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="library-stop")
        retry_btn = gr.Button("Retry failed", elem_id="library-retry")
        max_new = token_slider(backend, elem_id="library-max-new")
    run_status = gr.Markdown(elem_id="library-run-status")
    table = gr.Dataframe(headers=views.LIBRARY_COLUMNS, interactive=False, label="Clips (click a row to open it)",
                         elem_id="library-table")
    with gr.Row():
        page = gr.Number(1, label="Page", precision=0, minimum=1, scale=1, elem_id="library-page")
        page_text = gr.Markdown(elem_id="library-page-text")
    with gr.Row():
        metrics = gr.Markdown(elem_id="library-metrics")
        cm = gr.Plot(label="Confusion matrix")
    with gr.Accordion("Compare with another checkpoint", open=False):
        with gr.Row():
            choices = backend.checkpoint_choices()
            other = gr.Dropdown(choices, value=None, label="Checkpoint B (from the folders allowed at start-up)",
                                allow_custom_value=False, scale=4, elem_id="library-other",
                                info=None if choices else "start the app with --checkpoints DIR to compare")
            cmp_btn = gr.Button("Compare", scale=1)
        cmp_md = gr.Markdown()
        cmp_table = gr.Dataframe(headers=["file", "true label", "A", "B"], interactive=False,
                                 label="Clips where A and B disagree")

    filters = [f_label, f_pred, f_correct, f_search]
    open_outputs = [state, table, status, metrics, cm, f_label, page_text]
    hidden = {"api_visibility": "private"}
    open_btn.click(bind(open_clips, backend), [path, label_set], open_outputs, **hidden)
    for f in filters:
        f.change(bind(filter_rows, backend), [state, label_set, *filters], [table, page_text], **hidden)
    page.change(bind(filter_rows, backend), [state, label_set, *filters, page], [table, page_text], **hidden)
    run_outputs = [state, table, page_text, metrics, cm, run_status]

    def stoppable_click(button, handler, inputs, outputs, **kwargs):
        """button -> arm (at once) -> `handler` made stoppable by this tab's Stop."""
        arm = button.click(arm_run, None, None, queue=False, **hidden)
        return arm.then(stoppable(handler), inputs, outputs, **kwargs)

    run_btn.click(arm_run, None, None, queue=False, **hidden).then(
        bind(run_batch, backend), [state, label_set, max_new], run_outputs, concurrency_id=MODEL_QUEUE,
        concurrency_limit=1, **hidden)
    retry_btn.click(arm_run, None, None, queue=False, **hidden).then(
        bind(retry_failed, backend), [state, label_set, max_new], run_outputs, concurrency_id=MODEL_QUEUE,
        concurrency_limit=1, **hidden)
    stop_btn.click(stop_run, None, run_status, queue=False, **hidden)
    table.select(bind(pick_row, backend), [state, label_set], [clip_video, tabs, *(clip_outputs or [])], **hidden)
    cmp_btn.click(bind(compare, backend), [state, label_set, other, max_new], [cmp_md, cmp_table],
                  concurrency_id=MODEL_QUEUE, concurrency_limit=1, **hidden)
    return {"path": path, "open": open_btn, "state": state, "open_outputs": open_outputs, "stop": stop_btn,
            "stoppable": stoppable_click}
