"""Per-checkpoint work done once per process: values cached against the loaded model itself.

Some work depends only on the loaded weights (and a small key), never on the clip: the tower outputs of the
grey frames and of silence, the baseline prompt's KV cache, the gate of a question, the counterfactual bank
read from the checkpoint folder, flag calibration. `cached(pipe, key, compute)` keeps such a value against
the *model* that `pipe` runs (`pipe.model`), not against `pipe`: callers may wrap a Pipeline in an object
of their own per request (the app's progress reporter does), and every such wrapper reaches the same model,
so the value is computed once per process and per model.

    from r1omni.model_cache import cached
    bank = cached(pipe, ("counterfactual bank", folder), lambda: load_bank(folder))

Values live as long as the model (a `WeakKeyDictionary` keyed by the model object): loading a checkpoint
again gives a new model and fresh values; `forget(pipe)` drops a model's values (call it after changing
its weights in place, e.g. after a training step on a model that is also explained). Keys are any
hashable; name the kind of value first (("baselines",), ("gate", question), ...). Values must not be
mutated by the caller unless the caller owns that kind (e.g. the scoring session adds prompt KV to its
baselines). Thread-safe: one value per (model, key), computed by the first caller while the others wait.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_VALUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {key: value}
_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {key: Lock}
_GUARD = threading.Lock()


def model_of(pipe: Any) -> Any:
    """The loaded model behind a Pipeline, a wrapper of one (attribute access reaches `.model`) or a model."""
    model = getattr(pipe, "model", None)
    return pipe if model is None else model


def cached(pipe: Any, key: Hashable, compute: Callable[[], T]) -> T:
    """The value of `key` for the model that `pipe` runs: `compute()` on first use, then the same object."""
    model = model_of(pipe)
    with _GUARD:
        values = _VALUES.setdefault(model, {})
        if key in values:
            return values[key]
        lock = _LOCKS.setdefault(model, {}).setdefault(key, threading.Lock())
    with lock:
        with _GUARD:
            if key in values:
                return values[key]
        value = compute()
        with _GUARD:
            return values.setdefault(key, value)


def peek(pipe: Any, key: Hashable, default: Any = None) -> Any:
    """The cached value of `key` for `pipe`'s model, or `default` (nothing is computed)."""
    with _GUARD:
        return _VALUES.get(model_of(pipe), {}).get(key, default)


def forget(pipe: Any, key: Hashable | None = None) -> None:
    """Drop one cached value (or all of them) of `pipe`'s model."""
    model = model_of(pipe)
    with _GUARD:
        if key is None:
            _VALUES.pop(model, None)
            _LOCKS.pop(model, None)
        else:
            _VALUES.get(model, {}).pop(key, None)
