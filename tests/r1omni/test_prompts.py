import pytest

from r1omni.prompts import (
    AUDIO_TOKEN_INDEX,
    DEFAULT_QUESTION,
    DFEW,
    MAFW,
    VIDEO_TOKEN_INDEX,
    build_input_ids,
    build_prompt,
    label_set,
    normalize_label,
    parse_response,
)
from r1omni.errors import UsageError


@pytest.mark.parametrize(
    "text, think, answer, label, well_formed",
    [
        ("<think>Smile.</think><answer>happy</answer>", "Smile.", "happy", "happy", True),
        ("<think>a\nb</think>\n<answer> Fearful </answer>", "a\nb", "Fearful", "fear", True),
        ("  <think>x</think> <answer>Surprised</answer>  ", "x", "Surprised", "surprise", True),
        ("<answer>sad</answer>", None, "sad", "sad", False),
        ("sad", None, "sad", "sad", False),
        ("<think>x</think><answer>bored</answer>", "x", "bored", None, True),
        ("<think>x</think><answer>angry", "x", "angry", "angry", False),
        ("<think>unfinished reasoning", "unfinished reasoning", None, None, False),
        ("", None, None, None, False),
        # the paper's format regex (DOTALL, lazy) accepts repeated answer tags: we keep its exact semantics
        ("<think>x</think><answer>sad</answer><answer>happy</answer>", "x", "sad", "sad", True),
        ("<think>x</think><answer>happy</answer> trailing", "x", "happy", "happy", False),
    ],
)
def test_parse_response_table(text, think, answer, label, well_formed):
    p = parse_response(text, DFEW)
    assert (p.think, p.answer, p.label, p.well_formed) == (think, answer, label, well_formed)


def test_parse_response_notices_for_broken_tags():
    assert any("not closed" in n for n in parse_response("<think>x</think><answer>sad").notices)
    assert any("no <think>" in n for n in parse_response("<answer>sad</answer>").notices)
    assert any("outside the label set" in n for n in parse_response("<think>x</think><answer>calm</answer>").notices)
    assert any("2 <answer>" in n for n in parse_response("<answer>a</answer><answer>b</answer>").notices)
    assert parse_response("<think>x</think><answer>sad</answer>").notices == []


def test_think_span_offsets():
    text = "<think>The brow is low.</think><answer>angry</answer>"
    start, end = parse_response(text).think_span()
    assert text[start:end] == "The brow is low."


@pytest.mark.parametrize(
    "raw, labels, expected",
    [("HAPPY", DFEW, "happy"), ("fearful", DFEW, "fear"), ("surprised", DFEW, "surprise"),
     ("anxious", DFEW, None), ("anxious", MAFW, "anxious"), ("calm", label_set("ravdess"), "calm"),
     (None, DFEW, None), ("disgusted!", DFEW, "disgust")],
)
def test_normalize_label(raw, labels, expected):
    assert normalize_label(raw, labels) == expected


def test_label_sets():
    assert len(DFEW) == 7 and len(MAFW) == 11 and MAFW[:7] == DFEW
    with pytest.raises(UsageError, match="dfew"):
        label_set("nope")


class _CharTokenizer:
    def __call__(self, text, add_special_tokens=False):
        assert add_special_tokens is False
        return {"input_ids": [ord(c) for c in text]}


def test_prompt_layout_matches_reference():
    prompt = build_prompt()
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<vi_start><video><vi_end>\n<au_start><audio><au_end>\n" + DEFAULT_QUESTION + "<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert "expert;" in DEFAULT_QUESTION and "?  Output" in DEFAULT_QUESTION


@pytest.mark.parametrize("expand, nv, na", [(True, 5, 3), (False, 1, 1)])
def test_build_input_ids_places_placeholders(expand, nv, na):
    ids = build_input_ids(_CharTokenizer(), "a<video>b<audio>c", 5, 3, expand=expand)
    assert ids == [ord("a")] + [VIDEO_TOKEN_INDEX] * nv + [ord("b")] + [AUDIO_TOKEN_INDEX] * na + [ord("c")]
