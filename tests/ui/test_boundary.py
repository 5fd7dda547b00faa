"""Every handler error reaches the user as a one-line gr.Error."""

import gradio as gr
import pytest

from r1omni.errors import MediaError
from r1omni.ui.boundary import bind, guarded


@guarded
def _fails(kind):
    if kind == "media":
        raise MediaError("clip 'x.mp4' is empty\n(0 bytes)")
    raise KeyError("internal")


@guarded
def _gen(n):
    yield 1
    if n:
        raise MediaError("broken after one")


def test_library_error_becomes_one_line_gr_error():
    with pytest.raises(gr.Error) as e:
        _fails("media")
    assert e.value.message == "clip 'x.mp4' is empty (0 bytes)"


def test_other_errors_become_generic_error_with_log_id(caplog):
    with pytest.raises(gr.Error) as e:
        _fails("other")
    assert "internal error (id " in e.value.message and "\n" not in e.value.message
    assert "internal error" in caplog.text and "KeyError" in caplog.text


def test_generators_are_guarded_and_bind_keeps_name():
    g = _gen(1)
    assert next(g) == 1
    with pytest.raises(gr.Error, match="broken after one"):
        next(g)
    bound = bind(lambda backend, x: (backend, x), "B")
    assert bound("x") == ("B", "x") and bound.__name__ == "<lambda>"
