"""The one place where library errors become what the user sees in the browser.

`guarded(fn)` wraps every handler (plain or generator): `R1OmniError` -> `gr.Error(one line)`; any other
exception is logged with its traceback under a short id and shown as a generic one-line `gr.Error` naming
that id. `warn(lines)` shows notices as `gr.Warning` toasts. Handlers never build error strings. No message
shown to a user names an absolute server path: `scrub_paths` keeps only the file name.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
import uuid
from collections.abc import Callable, Iterable

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
