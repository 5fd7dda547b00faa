"""Run the doctest examples of the pure modules (rewards, parsing, metrics)."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["r1omni.prompts", "r1omni.metrics", "training.rewards"])
def test_doctests(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
