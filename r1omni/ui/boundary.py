"""The one place where library errors become what the user sees in the browser.

`guarded(fn)` wraps every handler (plain or generator): `R1OmniError` -> `gr.Error(one line)`; any other
exception is logged with its traceback under a short id and shown as a generic one-line `gr.Error` naming
that id. `warn(lines)` shows notices as `gr.Warning` toasts. Handlers never build error strings. No message
shown to a user names an absolute server path: `scrub_paths` keeps only the file name.
`player_file(backend, path)` is what every player (Clip, Library -> Clip, Audit) is given: a clip inside the
served folders, or its browser playback copy (r1omni.playback) when a browser cannot play it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import gradio as gr

from r1omni.errors import R1OmniError
from r1omni.ui.backend import scrub_paths

logger = logging.getLogger(__name__)


def to_gr_error(err: BaseException) -> gr.Error:
    """A one-line gr.Error for any exception (library errors verbatim but without server paths, others by
    log id)."""
    if isinstance(err, gr.Error):
        return err
    if isinstance(err, R1OmniError):
        return gr.Error(scrub_paths(str(err)), title="Cannot use this input", print_exception=False)
    ident = uuid.uuid4().hex[:8]
    logger.exception("internal error %s", ident, exc_info=err)
    return gr.Error(f"internal error (id {ident}); the details are in the server log", title="Error",
                    print_exception=False)


def guarded(fn: Callable) -> Callable:
    """Decorate a handler so that no exception escapes it except a one-line gr.Error."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except GeneratorExit:
                raise
            except Exception as err:  # noqa: BLE001 - this is the boundary
                raise to_gr_error(err) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - this is the boundary
            raise to_gr_error(err) from None

    return wrapper


def warn(lines: Iterable[str]) -> None:
    """Show each notice as a gr.Warning toast (called, not raised)."""
    for line in lines:
        text = scrub_paths(" ".join(str(line).split()))
        gr.Warning(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def served_roots(backend) -> list[Path]:
    """The folders players may show files from: the library root, Gradio's upload folder (this run's uploads
    when app.py made it private) and the playback copies' folder."""
    from gradio.utils import get_upload_folder

    roots = [backend.library_root, Path(get_upload_folder()).resolve(), backend.playback.folder]
    return [r for r in roots if r is not None]


def player_file(backend, path: str | None) -> str | None:
    """The file a player shows for `path`: the clip itself when a browser plays it, else its playback copy
    (made once per content, in the app's private folder). Only files inside `served_roots` are shown (None
    otherwise). When no copy can be made, a one-line warning says so and the original is shown."""
    if not path:
        return None
    p = Path(path).resolve()
    if not p.is_file() or not any(p == r or r in p.parents for r in served_roots(backend)):
        return None
    try:
        return backend.playable(p)
    except (R1OmniError, OSError) as err:
        msg = str(err) if isinstance(err, R1OmniError) else f"cannot make a playable copy of '{p.name}'"
        logger.warning("playback copy of %s failed: %s", p.name, err)
        warn([f"{msg}; the player may not show it, explanations still read the clip"])
        return str(p)


def bind(fn: Callable, *bound) -> Callable:
    """`fn` with its leading arguments (the shared backend) fixed, as a real function whose signature and
    resolved type hints gradio can read (it finds gr.SelectData / gr.Progress parameters through them)."""
    if inspect.isgeneratorfunction(fn):

        def bound_fn(*args, **kwargs):
            yield from fn(*bound, *args, **kwargs)
    else:

        def bound_fn(*args, **kwargs):
            return fn(*bound, *args, **kwargs)

    sig = inspect.signature(fn)
    params = list(sig.parameters.values())[len(bound):]
    hints = typing.get_type_hints(fn)
    bound_fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    bound_fn.__annotations__ = {p.name: hints[p.name] for p in params if p.name in hints}
    bound_fn.__name__ = bound_fn.__qualname__ = fn.__name__
    bound_fn.__doc__ = fn.__doc__
    return bound_fn
