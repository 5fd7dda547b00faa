"""Table-driven tests of the GRPO rewards (paper semantics) and the reward registry."""

from __future__ import annotations

import doctest

import pytest

from r1omni.errors import UsageError
from training import rewards
from training.rewards import REWARDS, accuracy_reward, format_reward, get_rewards, label_accuracy_reward

ACCURACY_CASES = [
    # (completion, solution, expected)
    ("<think>mouth up</think>\n<answer>happy</answer>", "<answer> happy </answer>", 1.0),
    ("<think>x</think><answer> happy </answer>", "happy", 1.0),
    ("<think>x</think><answer>Happy</answer>", "<answer>happy</answer>", 0.0),  # case-sensitive
    ("<answer>sad</answer><answer>happy</answer>", "<answer>happy</answer>", 0.0),  # first tag wins
    ("<answer>happy\n</answer>", "<answer>happy</answer>", 0.0),  # not DOTALL: whole text compared
    ("happy", "<answer>happy</answer>", 1.0),  # no tag: whole stripped completion
    ("  happy \n", "<answer>happy</answer>", 1.0),
    ("", "<answer>happy</answer>", 0.0),  # empty
    ("<think>the face shows hap", "<answer>happy</answer>", 0.0),  # truncated
    ("<answer>happy", "<answer>happy</answer>", 0.0),  # unclosed
    ("<answer></answer>", "<answer>happy</answer>", 0.0),
    ("\x00\ufffd<answer>happy</answer>", "<answer>happy</answer>", 1.0),  # junk before the tag
]

FORMAT_CASES = [
    ("<think>a</think><answer>b</answer>", 1.0),
    ("<think>line1\nline2</think>\n\n<answer>b</answer>", 1.0),
    ("<think></think><answer></answer>", 1.0),
    ("<think>a</think> text <answer>b</answer>", 0.0),
    (" <think>a</think><answer>b</answer>", 0.0),  # leading space: no strip, as the paper
    ("<think>a</think><answer>b</answer>\n", 0.0),
    ("<answer>b</answer>", 0.0),
    ("<think>a</think>", 0.0),
    ("<think>a", 0.0),  # truncated
    ("", 0.0),
    ("<think>a</think><answer>b</answer><answer>c</answer>", 1.0),  # .*? still spans to the last tag
]


@pytest.mark.parametrize(("completion", "solution", "expected"), ACCURACY_CASES)
def test_accuracy_reward_table(completion: str, solution: str, expected: float) -> None:
    assert accuracy_reward([completion], solution=[solution]) == [expected]
    conversational = [[{"role": "assistant", "content": completion}]]
    assert accuracy_reward(conversational, solution=[solution], prompts=["p"], trainer_state=None) == [expected]


@pytest.mark.parametrize(("completion", "expected"), FORMAT_CASES)
def test_format_reward_table(completion: str, expected: float) -> None:
    assert format_reward([completion]) == [expected]
    assert format_reward([[{"role": "assistant", "content": completion}]], solution=["x"]) == [expected]


def test_accuracy_uses_label_column_and_none_without_reference() -> None:
    assert accuracy_reward(["<answer>sad</answer>", "<answer>sad</answer>"], label=["sad", "fear"]) == [1.0, 0.0]
    assert accuracy_reward(["<answer>sad</answer>"], label=[None]) == [None]
    assert accuracy_reward(["<answer>sad</answer>"]) == [None]


@pytest.mark.parametrize("odd", [None, 3, {"content": None}, [], [{"role": "assistant"}], b"bytes"])
def test_rewards_never_raise_on_odd_completions(odd: object) -> None:
    assert accuracy_reward([odd], solution=["sad"]) == [0.0]
    assert format_reward([odd]) == [0.0]
    assert label_accuracy_reward([odd], label=["sad"]) == [0.0]


def test_label_accuracy_normalises() -> None:
    out = label_accuracy_reward(["<answer> Sadness </answer>", "<answer>happy</answer>", "x"], label=["sad"] * 3)
    assert out == [1.0, 0.0, 0.0]


def test_registry_names_match_functions() -> None:
    for name, func in REWARDS.items():
        assert func.__name__ == name  # TRL logs rewards/<function name>/mean
    assert get_rewards(["format_reward", "accuracy_reward"]) == [format_reward, accuracy_reward]


def test_get_rewards_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UsageError) as err:
        get_rewards(["accuracy_reward", "acuracy"])
    message = str(err.value)
    assert "'acuracy'" in message and "format_reward" in message and "\n" not in message
    with pytest.raises(UsageError):
        get_rewards([])


def test_doctests() -> None:
    result = doctest.testmod(rewards, raise_on_error=False)
    assert result.attempted >= 6 and result.failed == 0


def test_claims_reward_against_synthetic_truth() -> None:
    import numpy as np

    from r1omni.synthetic import build_reasoning, false_claim
    from r1omni.synthetic.clips import plan_specs
    from training.rewards import claims_reward

    spec = next(s for s in plan_specs(21, seed=3) if s.cue_modality == "video" and s.label != "neutral")
    rng = np.random.default_rng(0)
    truthful = build_reasoning(spec, rng)
    lie = truthful.replace("<think>", "<think>" + false_claim(spec, "audio", rng) + " ")
    row = {"label": spec.label, "cue_modality": spec.cue_modality}
    cols = {k: [v] * 4 for k, v in row.items()}
    out = claims_reward([truthful, lie, "<answer>sad</answer>", "<think>Hello there.</think>"], **cols)
    assert out[0] == 1.0 and 0.0 < out[1] < 1.0 and out[2] == 0.0 and out[3] is None
    assert claims_reward([truthful], label=["sad"]) == [None]  # no synthetic ground truth in the row
