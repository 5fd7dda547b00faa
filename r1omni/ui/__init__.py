"""The Gradio app: the only package that imports gradio.

`build_app(backend, settings)` composes the tabs (Clip, Library, Live, Audit) around one shared Backend;
`launch_options(settings)` gives the launch() keywords (theme, CSS, allowed paths, upload cap, auth).
The model runs one request at a time (Backend.model_lock). /explain is admitted by a ModelGate: at most
`settings.queue_size` requests wait, in order, and one more is refused at once with "Busy: N requests are
queued for the model; retry in a moment" (admission.py). The other model events share Gradio's concurrency
id "model" (limit 1). Gradio's queue bound (queue_size + GRADIO_BACKSTOP) is a backstop for everything
queued at once; beyond it Gradio refuses with its own "Queue is full".
Served files: the app's assets, the library root and the playback copies' folder only (plus Gradio's own
upload folder, which app.py makes private to the run); the results database and the auth file are blocked
even inside the root.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from r1omni.ui import audit_tab, clip_tab, library_tab, live_tab
from r1omni.ui.admission import ModelGate
from r1omni.ui.backend import Backend
from r1omni.ui.boundary import bind

ASSETS = Path(__file__).resolve().parents[2] / "assets"
QUEUE_MAX = 64
# Gradio's own queue bound is only a backstop: every /explain passes through Gradio's queue on its way to
# the gate, and a burst of arrivals sits there for a moment, so a bound near --queue-size would refuse part
# of a burst with Gradio's fixed "Queue is full" before the gate could answer with its own message.
GRADIO_BACKSTOP = 256
CACHE_DELETE = (3600, 24 * 3600)  # (every, older than) in seconds: Gradio's delete_cache


def header_markdown(backend: Backend, queue_size: int = QUEUE_MAX) -> str:
    return (f"# R1-Omni Explain\nCheckpoint: **{backend.title}**  ·  model work runs one request at a time; "
            f"when busy, your request waits its turn (up to {queue_size} wait; beyond that it is refused "
            "with \"Busy\": retry in a moment).")


OPEN_BANNER = ("This app is open to anyone who can reach it ({where}): no login, so anyone can read the "
               "library's files, run the model and write audit verdicts under any name. Restart it with "
               "--auth-file to require logins.")


def build_app(backend: Backend, settings) -> gr.Blocks:
    """The whole UI around one loaded pipeline. `settings` needs `.library_path` (str, may be '')."""
    queue_size = getattr(settings, "queue_size", QUEUE_MAX)
    auth_on = bool(getattr(settings, "auth", None))
    # Gradio keeps every file it caches (uploads, gallery images) on disk and in a set in memory until the
    # server stops; delete_cache drops those older than a day, once an hour.
    with gr.Blocks(title="R1-Omni Explain", delete_cache=CACHE_DELETE) as demo:
        if getattr(settings, "open_to_network", False):  # above every tab: the one page of the app
            where = f"{settings.host}:{settings.port}"
            gr.HTML(f'<div role="alert" style="background:#fde2e1;border:2px solid #c0392b;padding:8px 12px;'
                    f'border-radius:6px;font-weight:600">⚠ {OPEN_BANNER.format(where=where)}</div>',
                    elem_id="open-banner")
        with gr.Row():
            gr.Markdown(header_markdown(backend, queue_size), elem_id="app-header")
            if auth_on:  # Gradio's /logout clears this session's login cookie and returns to the login page
                gr.Button("Log out", link="logout?all_session=false", size="sm", scale=0, elem_id="logout")
        with gr.Tabs() as tabs:
            with gr.Tab("Clip", id="clip"):
                clip = clip_tab.build(backend, ASSETS / "examples", ModelGate(queue_size))
                audit_tab.clip_sender(backend, clip)
            with gr.Tab("Library", id="library"):
                lib = library_tab.build(backend, settings.library_path or ".", clip["video"], tabs,
                                        clip["label_set"], clip["outputs"])
                audit_tab.library_sender(backend, lib, clip["label_set"])
            with gr.Tab("Live", id="live"):
                live_tab.build(backend, clip["label_set"])
            with gr.Tab("Audit", id="audit") as audit_page:
                audit = audit_tab.build(backend, auth_on=auth_on, roles=getattr(settings, "roles", None))
        refresh = (audit["refresh"], audit["refresh_inputs"], audit["refresh_outputs"])
        audit_page.select(*refresh, api_visibility="private")
        demo.load(*refresh, api_visibility="private")
        if settings.library_path:
            demo.load(bind(library_tab.open_clips, backend), [lib["path"], clip["label_set"]], lib["open_outputs"],
                      api_visibility="private")
    demo.r1omni_backend = backend  # for tests and scripts that drive handlers directly
    demo.r1omni_gate = clip["model_gate"]  # /explain's admission (tests and benchmarks read its counters)
    return demo.queue(max_size=queue_size + GRADIO_BACKSTOP, default_concurrency_limit=4)


def launch_options(settings, backend: Backend | None = None) -> dict:
    """Keywords for demo.launch(): theme/CSS (Gradio 6 takes them here), served paths, upload cap, auth.
    With the `backend`, its playback copies' folder is served too (r1omni.playback)."""
    allowed = [str(ASSETS)]
    if settings.library_root:
        allowed.append(str(Path(settings.library_root).resolve()))
    if backend is not None:
        allowed.append(str(backend.playback.folder))
    blocked = [str(Path(settings.db).resolve()) + sfx for sfx in ("", "-wal", "-shm", "-journal")]
    if getattr(settings, "auth_file", None):
        blocked.append(str(Path(settings.auth_file).resolve()))
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "theme": gr.themes.Soft(),
        "css_paths": [ASSETS / "app.css"],
        "allowed_paths": allowed,
        "blocked_paths": blocked,
        "max_file_size": f"{settings.max_upload_mb}mb",
        "auth": settings.auth,
        "auth_message": "Log in to use the app (annotation requires an account)." if settings.auth else None,
        "ssr_mode": False,
        "show_error": True,
    }
