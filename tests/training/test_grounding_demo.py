"""The grounding demonstration's data: planted false cue sentences and the simulated audit export."""

from __future__ import annotations

import numpy as np

from r1omni.synthetic import build_reasoning, check_claims
from r1omni.synthetic.reasoning import claim_facts, split_sentences
from training.grounding_demo import audit_record, hallucinating_example, plant_false_sentence
from training.preference import preference_pairs

from tests.training.synthetic_truth import specs, truth_of  # noqa: F401  (specs: a fixture)


def test_a_planted_sentence_is_the_one_false_claim(specs) -> None:
    rng = np.random.default_rng(0)
    positions = set()
    for spec in specs:
        truth = truth_of(spec)
        target = build_reasoning(truth, rng)
        planted = plant_false_sentence(target, truth, rng)
        n_true, n_total = check_claims(planted, truth)
        assert check_claims(target, truth) == (n_true, n_total - 1)  # exactly one claim more, and it is false
        assert planted.endswith(target[target.index("</think>"):])  # the answer is untouched
        before, after = split_sentences(target), split_sentences(planted)
        assert after[-1] == before[-1]  # the conclusion stays last
        new = [i for i, sent in enumerate(after) if i >= len(before) or sent != before[i]][0]
        assert claim_facts(after[new])  # the inserted sentence names a cue
        positions.add("first" if new == 0 else "last" if new == len(after) - 2 else "middle")
    assert positions == {"first", "middle", "last"}


def test_the_false_share_is_the_one_asked_for(specs) -> None:
    make = hallucinating_example(0.3)
    rng = np.random.default_rng(1)
    n, with_false = 0, 0
    for _ in range(12):
        for spec in specs:
            target, _dropped, truth = make(spec, rng, 0.5)
            n_true, n_total = check_claims(target, truth)
            assert n_total - n_true in (0, 1)
            with_false += n_true < n_total
            n += 1
    share = with_false / n  # binomial, n = 1008: sd 0.014
    assert 0.25 < share < 0.35, share


def test_no_plant_at_share_zero(specs) -> None:
    make = hallucinating_example(0.0)
    rng = np.random.default_rng(3)
    for spec in specs:
        target, _dropped, truth = make(spec, rng, 0.5)
        n_true, n_total = check_claims(target, truth)
        assert n_true == n_total > 0


def test_simulated_audit_records_feed_the_preference_converter(specs) -> None:
    rng = np.random.default_rng(4)
    records, expected_bad = [], 0
    for i, spec in enumerate(specs[:20]):
        truth = truth_of(spec)
        clean = build_reasoning(truth, rng)
        bad = plant_false_sentence(clean, truth, rng)
        for text in (clean, bad):
            rec = audit_record(len(records) + 1, f"train-{i:05d}", text, spec)
            for c in rec["claims"]:
                assert text[c["start"] : c["end"]] == c["text"]
            verdicts = [c["verdicts"][0]["verdict"] for c in rec["claims"]]
            n_true, n_total = check_claims(text, truth)
            assert verdicts.count("hallucinated") == n_total - n_true
            assert 0 < len(verdicts) <= n_total  # an evidence unit may hold several cue phrasings
            records.append(rec)
        expected_bad += 1
    pairs = preference_pairs(records)
    assert len(pairs) == expected_bad
    for p in pairs:
        assert p["chosen_source"] == "clean sample"  # the clean completion of the same clip is preferred
        key = int(p["path"].split("-")[1])
        truth = truth_of(specs[key])
        n_true, n_total = check_claims(p["chosen"], truth)
        assert n_true == n_total
        n_true, n_total = check_claims(p["rejected"], truth)
        assert n_total - n_true == 1
