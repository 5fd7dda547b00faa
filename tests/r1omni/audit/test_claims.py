"""Claim splitting, modality tagging, emotion words and contradiction, table-driven."""

import pytest

from r1omni.audit.claims import (
    contradicts,
    emotion_words,
    extract_claims,
    split_sentences,
    tag_modalities,
    think_span,
)

TAGS = [
    ("The brows pull down into a hard frown.", ("video",)),
    ("Her lips spread in a wide smile.", ("video",)),
    ("He is frowning and his shoulders slump.", ("video",)),
    ("The eyes go wide under slanted brows.", ("video",)),
    ("The voice trembles.", ("audio",)),
    ("The pitch rises in a cheerful tone.", ("audio",)),
    ("The pace is quick and the volume is loud.", ("audio",)),
    ("The speech is fast.", ("audio",)),
    ("Her hands are shaking.", ("video",)),
    ("Her voice is shaking and her brow is furrowed.", ("video", "audio")),
    ("The subtitle says she is fine.", ("text",)),
    ("Overall this looks like anger.", ()),
    ("So the emotion is happy.", ()),
]


@pytest.mark.parametrize(("sentence", "expected"), TAGS)
def test_tag_modalities(sentence, expected):
    assert tag_modalities(sentence) == expected


def test_split_offsets_index_the_completion():
    text = "<think>The face looks sad.  The voice is slow and quiet! So the emotion is sad</think><answer>sad</answer>"
    claims = extract_claims(text)
    assert [c.text for c in claims] == ["The face looks sad.", "The voice is slow and quiet!", "So the emotion is sad"]
    for c in claims:
        assert text[c.start : c.end] == c.text
    assert [c.cites for c in claims] == [("video",), ("audio",), ()]


def test_unclosed_think_and_no_think():
    assert think_span("no tags at all") is None
    assert extract_claims("no tags") == []
    text = "<think>The eyes are wide. <answer>fear</answer>"
    assert [c.text for c in extract_claims(text)] == ["The eyes are wide."]


def test_split_keeps_decimal_and_trailing_text():
    text = "Pitch at 3.5 kHz rises. then stops"
    assert [text[a:b] for a, b in split_sentences(text)] == ["Pitch at 3.5 kHz rises.", "then stops"]


@pytest.mark.parametrize(
    ("sentence", "answer", "emotions", "contra"),
    [
        ("The face looks angry.", "happy", ("angry",), True),
        ("The face looks angry.", "angry", ("angry",), False),
        ("She is not angry at all.", "happy", (), False),
        ("The voice stays neutral.", "happy", ("neutral",), False),
        ("The voice sounds afraid.", "fear", ("fear",), False),
        ("The voice sounds afraid and sad.", "fear", ("fear", "sad"), True),
        ("Happiness shows in the smile.", "sad", ("happy",), True),
    ],
)
def test_emotions_and_contradiction(sentence, answer, emotions, contra):
    claim = extract_claims(f"<think>{sentence}</think><answer>{answer}</answer>")[0]
    assert emotion_words(sentence) == emotions
    assert contradicts(claim, answer) is contra


def test_synthetic_bank_sentences_tag_their_modality():
    from r1omni.synthetic import CONCLUSIONS, LABELS, PHRASES

    for (modality, _cue), sentences in PHRASES.items():
        for s in sentences:
            assert tag_modalities(s) == (modality,), s
    for c in CONCLUSIONS:
        for lab in LABELS:
            assert tag_modalities(c.format(label=lab)) == (), c
