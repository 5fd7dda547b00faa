"""Counterfactuals from the claim itself: the rewrite lexicon per modality and label set, the span offsets,
claims with nothing to rewrite, and the contrast plan built from them."""

import pytest

from r1omni.audit.claims import extract_claims
from r1omni.explain import contrast
from r1omni.explain.rewrite import SLOTS, find_expressions, rewrite_claim
from r1omni.prompts import DFEW, MAFW, RAVDESS


@pytest.mark.parametrize(
    ("text", "modality", "own", "label", "expected"),
    [
        # audio: voice, emotion nouns, pitch, pace, volume, crying / laughter / sighs
        ("His voice is filled with joy.", "audio", "happy", "angry", "His voice is filled with anger."),
        ("She spoke with a hint of anger in her tone.", "audio", "angry", "sad",
         "She spoke with a hint of sadness in her tone."),
        ("Her voice trembles as she speaks.", "audio", "fear", "sad", "Her voice breaks as she speaks."),
        ("The pitch drops at the end.", "audio", "sad", "surprise", "The pitch shoots up at the end."),
        ("He spoke in a slow, halting manner.", "audio", "sad", "fear", "He spoke in a rushed, hurried manner."),
        ("He raised his voice.", "audio", "angry", "sad", "He lowered his voice."),
        ("She is still crying.", "audio", "sad", "happy", "She is still laughing."),
        ("He sighed heavily before answering.", "audio", "sad", "angry", "He shouted heavily before answering."),
        ("The laughter in the background is clear.", "audio", "happy", "fear",
         "The whimpering in the background is clear."),
        # video: mouth, brows, eyes, tears, posture, gestures, whole-face adjectives, emotion adjectives
        ("The corners of his mouth lift slightly.", "video", "happy", "sad",
         "The corners of his mouth turn down slightly."),
        ("His brows furrowed.", "video", "angry", "surprise", "His brows shot up."),
        ("He raised his eyebrows.", "video", "surprise", "angry", "He furrowed his eyebrows."),
        ("Her eyes widened when she heard it.", "video", "surprise", "angry", "Her eyes narrowed when she heard it."),
        ("She wiped away tears of joy.", "video", "happy", "sad", "She wiped away tears of sadness."),
        ("His shoulders slumped.", "video", "sad", "angry", "His shoulders tense."),
        ("He smiled at the camera.", "video", "happy", "disgust", "He sneered at the camera."),
        ("She looked worried.", "video", "fear", "happy", "She looked happy."),
        ("His face turned pale.", "video", "fear", "angry", "His face turned stern."),
    ],
)
def test_rewrites_keep_the_rest_of_the_unit(text, modality, own, label, expected):
    r = rewrite_claim(text, (modality,), DFEW)
    assert own in r.own
    a, z = r.span
    alt = r.alternatives[label][0]
    assert text[:a] + alt + text[z:] == expected
    assert own not in r.alternatives  # no alternative voices the claim's own emotion


def test_span_offsets_cover_first_to_last_expression():
    text = "He spoke faster and raised his voice, clearly furious."
    r = rewrite_claim(text, ("audio",), DFEW)
    a, z = r.span
    assert text[a:z] == "faster and raised his voice, clearly furious"
    assert [text[m.start : m.end] for m in r.matches] == ["faster", "raised", "furious"]
    for alts in r.alternatives.values():  # every expression rewritten, the words between kept
        assert " and " in alts[0] and "his voice, clearly " in alts[0]


def test_capitals_and_verb_forms_follow_the_original():
    assert rewrite_claim("Smiling, she waits.", ("video",)).alternatives["angry"][0] == "Scowling"
    assert rewrite_claim("her brows furrow", ("video",)).alternatives["surprise"][0] == "shoot up"
    assert rewrite_claim("his brows are furrowing", ("video",)).alternatives["surprise"][0] == "shooting up"


def test_modality_selects_the_slot():
    """The same words are a brow cue in a video unit and a volume cue in an audio unit; the nearest anchor
    decides between slots of one modality."""
    assert find_expressions("He raised his eyebrows and his voice.", ("video",))[0].slot == "brows"
    assert find_expressions("He raised his eyebrows and his voice.", ("audio",))[0].slot == "volume"
    assert find_expressions("his brows lift while the corners of his mouth lift", ("video",))[1].slot == "mouth"


@pytest.mark.parametrize(
    "text",
    ["In an indoor setting, a man sits at a table.", "He said that his friend is pregnant.",
     "The subtitle reads 'come here'.", "Her voice is clear."],
)
def test_nothing_to_rewrite(text):
    r = rewrite_claim(text, ("video", "audio"), DFEW)
    assert r.empty and r.span is None and r.own == ()


def test_nothing_to_rewrite_gives_no_contrast_test_and_says_so():
    text = "<think>He sits at the table with his hands folded.</think><answer>sad</answer>"
    claim = extract_claims(text)[0]
    pl = contrast.plan(claim, "video", DFEW)
    assert not pl.testable and pl.source == contrast.NOTHING_TO_REWRITE == "none: nothing to rewrite"


def test_plan_offsets_index_the_completion():
    text = "<think>The face is calm. His brows furrowed in anger.</think><answer>angry</answer>"
    claim = extract_claims(text)[1]
    pl = contrast.plan(claim, "video", DFEW)
    assert pl.source == "rewrite" and pl.own == ("angry",)
    assert text[pl.start : pl.end] == pl.candidates[0] == "furrowed in anger"
    assert "shot up in surprise" in pl.candidates


def test_label_sets_map_fine_labels():
    """'worried' is fear in DFEW and anxious in MAFW; RAVDESS's calm and neutral are told apart."""
    assert rewrite_claim("She looked worried.", ("video",), DFEW).own == ("fear",)
    r = rewrite_claim("She looked worried.", ("video",), MAFW)
    assert r.own == ("anxious",) and r.alternatives["fear"][0] == "afraid"
    assert r.alternatives["contemptuous"][0] == "contemptuous"
    r = rewrite_claim("Her voice sounds calm.", ("audio",), RAVDESS)
    assert r.own == ("calm",) and r.alternatives["neutral"][0] == "neutral"
    assert rewrite_claim("Her voice sounds calm.", ("audio",), DFEW).own == ("neutral",)


def test_every_slot_covers_every_dfew_label_in_some_kind():
    for slot in SLOTS:
        covered = {lab for by_label in slot.entries.values() for lab in by_label}
        missing = set(DFEW) - covered
        assert not missing, (slot.name, missing)
        for kind, by_label in slot.entries.items():
            for entries in by_label.values():
                for e in entries:
                    assert (len(e.split("|")) == 4) == (kind == "verb"), (slot.name, e)
