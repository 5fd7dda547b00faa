"""Claim flags on crafted cases: absent/masked modality, unsupported, contradiction, cue not present."""

import pytest

from r1omni.audit.claims import extract_claims
from r1omni.explain.flags import FLAG_ORDER, FlagThresholds, claim_flags, claim_row


def _claim(sentence: str, answer: str = "fear"):
    return extract_claims(f"<think>{sentence}</think><answer>{answer}</answer>")[0]


@pytest.mark.parametrize(
    ("sentence", "phi", "kw", "expected"),
    [
        ("The voice trembles.", {"video": 0.0, "audio": 1.5}, {}, []),
        ("The voice trembles.", {"video": 1.5, "audio": 0.02}, {}, ["unsupported"]),
        ("The voice trembles.", {"video": 0.0, "audio": -0.4}, {}, ["unsupported"]),
        ("The voice trembles.", {"video": 0.0, "audio": 0.05}, {}, ["unsupported"]),  # below abs eps
        ("The voice trembles.", {"video": 4.0, "audio": 0.5}, {}, ["unsupported"]),  # share 0.11 < 0.2
        ("The voice trembles.", {"video": 0.0, "audio": 0.0}, {"absent": ["audio"]}, ["cites absent modality"]),
        ("The voice trembles.", {"video": 0.0, "audio": 0.0}, {"masked": ["audio"]}, ["cites masked modality"]),
        ("The eyes are wide.", {"video": 2.0, "audio": 0.0}, {"absent": ["audio"]}, []),
        ("The face looks angry.", {"video": 2.0, "audio": 0.0}, {"answer_label": "fear"}, ["contradicts answer"]),
        ("The face looks afraid.", {"video": 2.0, "audio": 0.0}, {"cue_false": True}, ["cue not present"]),
        ("So the emotion is fear.", {"video": 0.0, "audio": 0.0}, {"answer_label": "fear"}, []),  # no cue cited
        ("The subtitle reads help.", {"video": 0.0, "audio": 0.0}, {}, []),  # text: no Shapley player
    ],
)
def test_claim_flags(sentence, phi, kw, expected):
    assert claim_flags(_claim(sentence), phi, **kw) == expected


def test_thresholds_are_configurable_and_order_is_stable():
    units = extract_claims("<think>The voice trembles and the face looks angry.</think>")
    assert [u.cites for u in units] == [("audio",), ("video",)]  # two evidence units
    c = units[1]
    flags = claim_flags(c, {"video": 0.0, "audio": 0.0}, absent=["video"], answer_label="fear", cue_false=True,
                        thresholds=FlagThresholds(abs_eps=0.0, rel=0.0))
    assert flags == ["cites absent modality", "cue not present", "contradicts answer"]
    assert flags == [f for f in FLAG_ORDER if f in flags]
    assert claim_flags(c, {"video": 0.3, "audio": 0.3}, answer_label="fear", thresholds=FlagThresholds(abs_eps=0.5)) == [
        "contradicts answer", "unsupported"]
    assert claim_flags(c, {"video": 0.3, "audio": 0.3}, answer_label="fear") == ["contradicts answer"]
    assert claim_flags(units[0], {"video": 0.3, "audio": 0.3}, answer_label="fear") == []


def test_conclusion_and_context_units_get_no_support_test():
    text = ("<think>Her eyes widen. She seems nervous. Therefore, her emotional state is astonishment and "
            "happiness.</think><answer>surprise</answer>")
    cue, context, conclusion = extract_claims(text)
    assert (cue.kind, context.kind, conclusion.kind) == ("cue", "context", "conclusion")
    low = {"video": -3.0, "audio": -3.0}
    strict = FlagThresholds(abs_eps=5.0)
    assert claim_flags(cue, low, thresholds=strict) == ["unsupported"]
    assert claim_flags(conclusion, low, answer_label="surprise", thresholds=strict) == []  # names the answer
    assert claim_flags(conclusion, low, answer_label="fear", thresholds=strict) == ["contradicts answer"]
    assert claim_flags(context, low, answer_label="surprise", thresholds=strict) == ["contradicts answer"]
    assert claim_flags(context, low, answer_label="fear", thresholds=strict) == []


def test_emotional_cues_are_not_judged_as_neutral_states():
    """'even louder', 'still crying', 'a high level' are emotional cues: the lenient neutral rule (phi >= -1)
    must not apply to them."""
    phi = {"video": 0.0, "audio": 0.02}  # the audio barely backs them
    for s in ("His voice becomes even louder.", "She is still crying.", "The pitch rises to a high level."):
        assert claim_flags(_claim(s), phi) == ["unsupported"], s
    assert claim_flags(_claim("The voice stays calm and even."), phi) == []


def test_claim_row_shape():
    c = _claim("The voice trembles.")
    row = claim_row(c, {"video": 0.25, "audio": 0.75}, {"video": 0.25, "audio": 0.75}, ["unsupported"])
    assert row["flag"] == "unsupported" and row["support"]["cited"] == {"audio": 0.75}
    assert (row["start"], row["end"], row["cites"]) == (7, 26, ["audio"])
    assert (row["kind"], row["cue"], row["hedged"], row["conceded"], row["negated"]) == (
        "cue", "voice", False, False, False)
    hedged = claim_row(_claim("Although he smiled, it may not be joy."), {"video": 0.1, "audio": 0.0},
                       {"video": 1.0, "audio": 0.0}, [])
    assert (hedged["kind"], hedged["cue"], hedged["hedged"], hedged["conceded"], hedged["negated"]) == (
        "cue", "mouth", True, True, False)  # the cue itself (the smile) is not negated


def test_neutral_claims_are_judged_only_on_contradiction():
    from r1omni.audit.claims import extract_claims
    from r1omni.explain.flags import claim_flags

    calm = extract_claims("<think>The face stays relaxed.</think>")[0]
    assert claim_flags(calm, {"video": 0.0, "audio": 0.0}) == []  # what a masked face predicts too
    assert claim_flags(calm, {"video": -0.5, "audio": 3.0}) == []
    assert claim_flags(calm, {"video": -2.5, "audio": 0.0}) == ["unsupported"]  # the face contradicts it


def test_a_contradicted_word_makes_a_cue_claim_unsupported():
    from r1omni.audit.claims import extract_claims
    from r1omni.explain.flags import claim_flags

    c = extract_claims("<think>The pace slows and the volume drops.</think>")[0]
    phi = {"video": 0.0, "audio": 4.9}  # the audio makes "an audio cue sentence" likely overall...
    assert claim_flags(c, phi, min_token_phi={"audio": -0.3}) == []
    assert claim_flags(c, phi, min_token_phi={"audio": -2.5}) == ["unsupported"]  # ...but not "slows"
