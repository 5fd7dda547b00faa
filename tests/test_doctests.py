"""Run the doctest examples of the pure modules (rewards, parsing, metrics)."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["r1omni.prompts", "r1omni.metrics", "training.rewards", "r1omni.audit.claims",
                                    "r1omni.explain.shapley", "r1omni.explain.temporal", "r1omni.explain.faithfulness",
                                    "training.grounding"])
def test_doctests(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
