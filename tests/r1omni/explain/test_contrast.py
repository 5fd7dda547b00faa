"""Contrastive claim support: forked continuation scores equal plain teacher forcing, the alternatives,
the flag rule, and (demo checkpoint, real synthetic clips) planted false cue claims get flagged."""

import csv
import dataclasses
import math
from pathlib import Path

import pytest

from r1omni.audit.claims import extract_claims
from r1omni.continuations import continuation_logprobs, fork_point
from r1omni.explain import contrast
from r1omni.explain.flags import FlagThresholds, claim_flags
from r1omni.prompts import DFEW

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "assets" / "examples"


def test_fork_point_reassembles_the_joint_tokenisation(tiny_pipe):
    tok = tiny_pipe.tokenizer
    prefix = "<think>the face looks calm. the"
    cands = ["y smile.", " voice trembles.", "n so"]  # "the"+"y" may merge into one pre-token
    shared, owns = fork_point(tok, prefix, cands)
    for cand, own in zip(cands, owns, strict=True):
        assert own, cand
        assert shared + own == tok(prefix + cand, add_special_tokens=False)["input_ids"]


def test_forked_scores_equal_plain_teacher_forcing(tiny_pipe, make_clip):
    media = [tiny_pipe.encode(make_clip(seed=1)), tiny_pipe.encode(make_clip(seed=2, audio=False))]
    prefixes = ["<think>the brow is low.", "<think>"]
    cands = [[" the voice trembles.", " so", " the mouth curves up into a smile."], ["the face looks sad."]]
    got = continuation_logprobs(tiny_pipe, media, prefixes, cands, batch_size=2)
    for m, p, cs, scores in zip(media, prefixes, cands, got, strict=True):
        shared, owns = fork_point(tiny_pipe.tokenizer, p, cs)
        assert len(scores) == len(cs)
        for own, s in zip(owns, scores, strict=True):
            ref = float(tiny_pipe.token_logprobs([m], [shared + own])[0][len(shared):].sum())
            assert s == pytest.approx(ref, abs=1e-4)


BANK = {("audio", "happy"): ("The voice sounds bright and cheerful.",),
        ("audio", "sad"): ("The voice is slow and quiet.",),
        ("audio", "neutral"): ("The voice stays calm and even.",),
        ("audio", "angry"): ("The voice is loud and harsh.",)}


def test_bank_alternatives_never_voice_the_claims_own_label():
    labels = ("happy", "sad", "neutral", "angry")
    own = contrast.claim_label("The voice sounds bright and cheerful.", "audio", BANK, ())
    assert own == "happy"
    alts = contrast.bank_alternatives("The voice sounds bright and cheerful.", "audio", own, labels, BANK)
    assert alts == ["The voice is slow and quiet.", "The voice stays calm and even.", "The voice is loud and harsh."]
    # a sentence outside the bank: its label from its own expressions; the style follows the claim
    assert contrast.claim_label("her voice sounds sad", "audio", BANK, ()) == "sad"
    alts = contrast.bank_alternatives("her voice sounds sad", "audio", "sad", labels, BANK)
    assert "the voice is slow and quiet" not in alts and alts[0] == "the voice sounds bright and cheerful"


def test_plan_names_its_source():
    text = "<think>Her voice sounds sad. He did not smile. So, sad.</think><answer>sad</answer>"
    voice, negated, conclusion = extract_claims(text)
    assert contrast.plan(voice, "audio", DFEW).source == "rewrite"
    banked = contrast.plan(voice, "audio", DFEW, source="bank", bank=BANK)
    assert banked.source == "bank: counterfactuals.json" and banked.candidates[0] == voice.text
    assert contrast.plan(conclusion, "audio", DFEW).source == contrast.NOT_A_CUE
    nobank = contrast.plan(extract_claims("<think>His brows furrowed.</think>")[0], "video", DFEW, source="bank",
                           bank=BANK)
    assert nobank.source == contrast.NOT_IN_BANK and not nobank.testable
    # the claim parser's Claim carries `negated`: a negated cue gets no contrast test
    neg = dataclasses.replace(voice, negated=True) if "negated" in {f.name for f in dataclasses.fields(voice)} \
        else type("C", (), {"text": voice.text, "start": voice.start, "end": voice.end, "cites": ("audio",),
                            "emotions": ("sad",), "kind": "cue", "negated": True})()
    assert contrast.plan(neg, "audio", DFEW).source == contrast.NEGATED


def test_relative_is_claim_minus_log_mean_exp():
    assert contrast.relative(-1.0, [-1.0, -1.0]) == pytest.approx(0.0)
    assert contrast.relative(0.0, [math.log(0.5), math.log(1.5)]) == pytest.approx(0.0)
    assert contrast.relative(-2.0, []) == 0.0
    assert contrast.per_token([-6.0, -3.0], [3, 1]) == [-2.0, -3.0]


def test_bank_round_trip(tmp_path):
    (tmp_path / contrast.BANK_FILE).write_text(contrast.bank_to_json(BANK))
    assert contrast.load_bank(tmp_path) == BANK
    assert contrast.load_bank(tmp_path / "nowhere") is None


def _span_scores(pipe, media, text, pl):
    """Reference: mean log-prob per token of each candidate span by plain teacher forcing."""
    shared, owns = fork_point(pipe.tokenizer, text[: pl.start], list(pl.candidates))
    return [float(pipe.token_logprobs([media], [shared + own])[0][len(shared):].mean()) for own in owns]


def test_contrast_is_per_token_over_the_rewritten_span(tiny_pipe, make_clip):
    """The contrast equals its definition computed by plain teacher forcing, and a long tail after the span
    (the same words under every candidate) leaves it unchanged: long and short claims on one scale."""
    from r1omni.explain import explain

    clip = make_clip(seed=3)
    short = "<think>The face is blank. Her voice sounds happy.</think><answer>happy</answer>"
    long = ("<think>The face is blank. Her voice sounds happy, and it keeps that quality through every one of the "
            "many words she says in this rather long scene.</think><answer>happy</answer>")
    got = explain(tiny_pipe, [clip, clip], mode="fast", completions=[short, long])
    rows = [next(c for c in e.claims if c["text"].startswith("Her voice")) for e in got]
    assert rows[0]["support"]["contrast_source"] == rows[1]["support"]["contrast_source"] == "rewrite"
    for key in ("contrastive", "relative", "relative_masked"):
        assert rows[0]["support"][key]["audio"] == pytest.approx(rows[1]["support"][key]["audio"], abs=2e-4)
    claim = extract_claims(short)[1]
    pl = contrast.plan(claim, "audio", DFEW)
    media = tiny_pipe.encode(clip)
    real = _span_scores(tiny_pipe, media, short, pl)
    masked = _span_scores(tiny_pipe, tiny_pipe.mask(media, audio=True), short, pl)
    r, r_m = contrast.relative(real[0], real[1:]), contrast.relative(masked[0], masked[1:])
    assert rows[0]["support"]["relative"]["audio"] == pytest.approx(r, abs=2e-4)
    assert rows[0]["support"]["contrastive"]["audio"] == pytest.approx(r - r_m, abs=2e-4)
    assert got[0].claims[0]["support"]["contrast_source"] == "none: nothing to rewrite" or \
        got[0].claims[0]["support"]["contrastive"]  # "blank" is a face word: rewritten or said why not


def test_cached_contrast_equals_uncached(tiny_pipe, make_clip):
    from r1omni.explain import explain

    text = ("<think>His brows furrowed and his eyes narrowed. His voice is loud and harsh. So, anger.</think>"
            "<answer>angry</answer>")
    clip = make_clip(seed=4)
    (a,) = explain(tiny_pipe, [clip], mode="fast", completions=[text])
    (b,) = explain(tiny_pipe, [clip], mode="fast", completions=[text], cache=False)
    tested = 0
    for x, y in zip(a.claims, b.claims, strict=True):
        assert x["support"]["contrast_source"] == y["support"]["contrast_source"]
        for key in ("contrastive", "relative", "relative_masked"):
            assert x["support"][key].keys() == y["support"][key].keys()
            for m in x["support"][key]:
                tested += 1
                assert x["support"][key][m] == pytest.approx(y["support"][key][m], abs=2e-4)
    assert tested >= 6


def _claim(sentence):
    return extract_claims(f"<think>{sentence}</think><answer>fear</answer>")[0]


@pytest.mark.parametrize(
    ("sentence", "con", "expected"),
    [
        ("The voice trembles.", {"contrast": 0.6, "relative": 0.2}, []),
        ("The voice trembles.", {"contrast": -0.2, "relative": 0.2}, ["unsupported"]),  # the modality is against it
        ("The voice trembles.", {"contrast": 0.9, "relative": -0.1}, ["unsupported"]),  # an alternative is likelier
        ("The voice stays calm and even.", {"contrast": -0.2, "relative": -0.3}, []),  # neutral: only if contradicted
        ("The voice stays calm and even.", {"contrast": -0.6, "relative": 0.1}, ["unsupported"]),
    ],
)
def test_contrastive_rule(sentence, con, expected):
    # Shapley alone would call the first claim unsupported: the contrastive evidence takes precedence
    phi = {"video": 3.0, "audio": 0.01}
    assert claim_flags(_claim(sentence), phi, contrast={"audio": con}, thresholds=FlagThresholds()) == expected
    assert claim_flags(_claim(sentence), phi) == (["unsupported"] if "trembles" in sentence else [])


@pytest.fixture(scope="module")
def demo_pipe():
    from r1omni.inference import Pipeline

    return Pipeline.load(None, device="cpu")


def test_demo_flags_planted_false_cue_and_keeps_true_ones(demo_pipe):
    """A false cue sentence of the right modality (the case Shapley support misses) is flagged."""
    from r1omni.explain import explain
    from r1omni.synthetic import PHRASES, check_claims

    rows = list(csv.DictReader((EXAMPLES / "manifest.csv").open()))
    row = next(r for r in rows if r["cue_modality"] == "audio" and r["label"] not in ("neutral", "fear"))
    true_audio = PHRASES[("audio", row["label"])][0]
    false_audio = PHRASES[("audio", "fear")][0]
    text = (f"<think>the face stays relaxed. {true_audio} {false_audio} so the emotion is {row['label']}."
            f"</think><answer>{row['label']}</answer>")
    (e,) = explain(demo_pipe, [str(EXAMPLES / row["path"])], mode="fast", completions=[text])
    by_text = {c["text"]: c for c in e.claims}
    planted = by_text[false_audio]
    assert "unsupported" in planted["flags"], planted["support"]
    assert planted["support"]["contrastive"]["audio"] < FlagThresholds().contrast_eps
    for sentence in ("the face stays relaxed.", true_audio):
        assert check_claims(sentence, row) == (1, 1)
        assert by_text[sentence]["flags"] == [], by_text[sentence]["support"]


def test_self_consistency_counts_sampled_reasonings(demo_pipe):
    """Claims the model makes in (almost) every sample score high; a planted one it never makes scores 0."""
    from r1omni.explain import explain
    from r1omni.synthetic import PHRASES

    rows = list(csv.DictReader((EXAMPLES / "manifest.csv").open()))
    row = next(r for r in rows if r["cue_modality"] == "audio" and r["label"] not in ("neutral", "fear"))
    path = str(EXAMPLES / row["path"])
    (plain,) = explain(demo_pipe, [path], mode="fast", contrastive=False)
    assert all(c["consistency"] is None for c in plain.claims)
    false_audio = PHRASES[("audio", "fear")][3]
    text = plain.prediction["text"].replace("<think>", f"<think>{false_audio} ", 1)
    (e,) = explain(demo_pipe, [path], mode="fast", completions=[text], self_consistency=6, contrastive=False)
    by_text = {c["text"]: c["consistency"] for c in e.claims}
    assert by_text[false_audio] == 0.0
    own = [c["text"] for c in plain.claims if c["cites"]]
    assert own and max(by_text[t] for t in own) >= 0.5, by_text
