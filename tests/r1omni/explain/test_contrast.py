"""Contrastive claim support: forked continuation scores equal plain teacher forcing, the alternatives,
the flag rule, and (demo checkpoint, real synthetic clips) planted false cue claims get flagged."""

import csv
import math
from pathlib import Path

import pytest

from r1omni.audit.claims import extract_claims
from r1omni.continuations import continuation_logprobs, fork_point
from r1omni.explain import contrast
from r1omni.explain.flags import FlagThresholds, claim_flags

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


def test_alternatives_never_voice_the_claims_own_label():
    bank = contrast.GENERIC_BANK
    labels = ("happy", "sad", "neutral", "angry")
    own = contrast.claim_label("The voice sounds bright and cheerful.", "audio", bank, ())
    assert own == "happy"
    alts = contrast.alternatives("The voice sounds bright and cheerful.", "audio", own, labels, bank, per_label=1)
    assert alts == ["The voice is slow and quiet.", "The voice stays calm and even.", "The voice is loud and harsh."]
    # a sentence outside the bank: its label from the emotion words; the style follows the claim
    alts = contrast.alternatives("her voice sounds sad", "audio", "sad", labels, bank, per_label=1)
    assert "the voice is slow and quiet" not in alts and alts[0] == "the voice sounds bright and cheerful"


def test_relative_is_claim_minus_log_mean_exp():
    assert contrast.relative(-1.0, [-1.0, -1.0]) == pytest.approx(0.0)
    assert contrast.relative(0.0, [math.log(0.5), math.log(1.5)]) == pytest.approx(0.0)
    assert contrast.relative(-2.0, []) == 0.0


def test_bank_round_trip(tmp_path):
    (tmp_path / contrast.BANK_FILE).write_text(contrast.bank_to_json(contrast.GENERIC_BANK))
    bank, source = contrast.load_bank(tmp_path)
    assert source == contrast.BANK_FILE and bank == contrast.GENERIC_BANK
    assert contrast.load_bank(tmp_path / "nowhere")[1] == "generic"


def _claim(sentence):
    return extract_claims(f"<think>{sentence}</think><answer>fear</answer>")[0]


@pytest.mark.parametrize(
    ("sentence", "con", "expected"),
    [
        ("The voice trembles.", {"contrast": 6.0, "relative": 2.0}, []),
        ("The voice trembles.", {"contrast": 2.0, "relative": 2.0}, ["unsupported"]),  # modality adds too little
        ("The voice trembles.", {"contrast": 9.0, "relative": -1.0}, ["unsupported"]),  # an alternative is likelier
        ("The voice stays calm and even.", {"contrast": -2.0, "relative": -3.0}, []),  # neutral: only if contradicted
        ("The voice stays calm and even.", {"contrast": -6.0, "relative": 1.0}, ["unsupported"]),
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
