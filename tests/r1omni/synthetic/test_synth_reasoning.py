"""The EMER-style reasoning grammar and the claim checker (r1omni/synthetic/reasoning.py, grammar.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from r1omni.synthetic import (
    AUDIO_WORDS,
    CONCLUSIONS,
    LABELS,
    PHRASES,
    VISUAL_WORDS,
    build_reasoning,
    check_claims,
    claim_facts,
    corpus_lines,
    false_claim,
    modality_labels,
    sample_spec,
    split_sentences,
    vocabulary,
)
from r1omni.synthetic import grammar as g
from r1omni.synthetic.reasoning import compose, cue_clause, find_cues, true_claim

FORMAT = re.compile(r"^<think>([^<]+)</think><answer>([a-z]+)</answer>$")
KEYS = [(m, lab) for m in ("video", "audio") for lab in LABELS]


def _specs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    return [sample_spec(rng) for _ in range(n)]


def _words(sentence):
    return set(re.findall(r"[a-z]+", sentence.lower()))


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_composed_reasoning_is_well_formed_and_every_recorded_unit_is_true(split):
    rng = np.random.default_rng(1)
    for spec in _specs():
        r = compose(spec, rng, split)
        m = FORMAT.match(r.text)
        assert m and m.group(2) == spec.label, r.text
        actual = modality_labels(spec)
        cues = r.cue_units()
        assert cues, r.text
        for u in r.units:
            assert r.text[u.start:u.end].strip() == r.text[u.start:u.end] and u.end > u.start
            if u.kind == "cue":
                assert actual[u.modality] == u.emotion, (r.text, u)
                assert u.held_out == (split == "heldout")
            elif u.kind in ("hedge", "conclusion"):
                assert u.emotion == spec.label
            else:
                assert u.kind in ("scene", "speech") and u.emotion is None
        # the recorded cue units are exactly what the free-text reader finds, span for span
        found = find_cues(r.text)
        assert [(u.start, u.end, u.modality, u.emotion) for u in found] == [
            (u.start, u.end, u.modality, u.emotion) for u in cues]
        n_true, n_total = check_claims(r.text, spec)
        assert n_true == n_total == len(cues)
        conclusion = [u for u in r.units if u.kind == "conclusion"]
        assert len(conclusion) == 1 and conclusion[0].start > cues[-1].end


def test_grammar_writes_several_cues_per_sentence_hedges_concessions_remarks_and_synonyms():
    rng = np.random.default_rng(2)
    counts = {"multi": 0, "mixed_modalities": 0, "hedged": 0, "conceded": 0, "scene": 0, "speech": 0,
              "two_emotions": 0}
    conclusion_words = set()
    for spec in _specs(400, seed=2):
        r = compose(spec, rng)
        sentences = split_sentences(r.text)
        for s in sentences:
            facts = claim_facts(s)
            counts["multi"] += len(facts) >= 2
            counts["mixed_modalities"] += len({m for m, _ in facts}) == 2
        counts["hedged"] += any(u.hedged for u in r.units)
        counts["conceded"] += any(u.conceded for u in r.units)
        counts["scene"] += any(u.kind == "scene" for u in r.units)
        counts["speech"] += any(u.kind == "speech" for u in r.units)
        concl = next(u for u in r.units if u.kind == "conclusion")
        counts["two_emotions"] += bool(concl.also) or len(
            {w for w in g.EMOTION_LEXICON if re.search(rf"\b{w}\b", r.text[concl.start:concl.end])}) >= 2
        conclusion_words |= _words(r.text[concl.start:concl.end])
    assert all(v >= 20 for v in counts.values()), counts
    for label in ("happy", "fear", "angry"):  # synonyms, not only the label word
        assert len(conclusion_words & {w for w in g.NOUNS[label] + g.ADJECTIVES[label]}) >= 3


def test_at_least_40_phrasings_per_modality_emotion_and_a_fixed_fifth_held_out():
    for key in KEYS:
        train, held = g.phrasings(key, "train"), g.phrasings(key, "heldout")
        assert len(train) + len(held) >= 40, key
        assert len(held) / (len(train) + len(held)) == pytest.approx(0.2, abs=0.01)
        assert not set(train) & set(held)
        # whole core wordings are held out, so no held-out clause is a trained one with another owner
        train_cores = {re.sub(r"^(the person's|the speaker's|the character's|the) ", "", p) for p in train}
        assert not {re.sub(r"^(the person's|the speaker's|the character's|the) ", "", p) for p in held} & train_cores
    # the split is recorded in code: fixed seed, pinned
    assert g.HOLDOUT_SEED == 1604
    assert sorted(g.HELD_OUT_CORES[("video", "happy")]) == sorted(g._held_out(15, 100 + sorted(g.CORES).index(
        ("video", "happy"))))


def test_held_out_wording_never_reaches_training_text_or_the_tokenizer_corpus():
    held = {p for key in KEYS for p in g.phrasings(key, "heldout")}
    rng = np.random.default_rng(3)
    for spec in _specs(300, seed=3):
        text = build_reasoning(spec, rng).lower()
        assert not any(h in text for h in held)
        assert not any(u.held_out for u in compose(spec, rng).units)
    corpus = "\n".join(corpus_lines("train", samples=200)).lower()
    assert not any(h in corpus for h in held)
    assert any(h in "\n".join(corpus_lines("heldout", samples=0)).lower() for h in held)


def test_no_phrasing_is_inside_a_phrasing_of_another_meaning():
    meaning = {p: key for key in KEYS for split in ("train", "heldout") for p in g.phrasings(key, split)}
    for a, ka in meaning.items():
        assert claim_facts(a) == [ka], a
        for b, kb in meaning.items():
            if ka != kb:
                assert f" {a} " not in f" {b} ", (a, b)


def test_visual_and_audio_phrasings_use_only_their_own_lexicon():
    from r1omni.audit.claims import tag_modalities

    for (modality, _), phrasings in ((k, g.phrasings(k, "all")) for k in KEYS):
        own, other = (VISUAL_WORDS, AUDIO_WORDS) if modality == "video" else (AUDIO_WORDS, VISUAL_WORDS)
        for p in phrasings:
            assert _words(p) & own and not _words(p) & other, p
            # the project's claim tagger finds the phrasing's own modality (it may also read a body word
            # into "biting" / "bounce" / "holds": reported to the claim parser, not hidden here)
            assert modality in tag_modalities(p + "."), p


def test_claims_are_read_in_free_text_per_clause_case_and_space_tolerant():
    text = ("<think>In the video, the brows pull down into a hard frown, and the speaker's voice trembles, "
            "which may suggest fear. Although THE   VOICE stays calm and even, the mouth curves up into a smile. "
            "So the emotion is joy.</think><answer>happy</answer>")
    assert [(u.modality, u.emotion) for u in find_cues(text)] == [
        ("video", "angry"), ("audio", "fear"), ("audio", "neutral"), ("video", "happy")]
    spec = sample_spec(np.random.default_rng(5), label="happy", cue_modality="video")
    assert check_claims(text, spec) == (2, 4)


def test_check_claims_accepts_a_manifest_row_of_strings():
    rng = np.random.default_rng(3)
    for spec in _specs(30, seed=3):
        row = {k: str(v) for k, v in spec.to_row().items()}
        text = build_reasoning(spec, rng)
        assert check_claims(text, row) == check_claims(text, spec)
        del row["video_label"], row["audio_label"]  # older rows: derived from label + cue_modality
        assert modality_labels(row) == {"video": spec.video_label, "audio": spec.audio_label}


@pytest.mark.parametrize("modality", ["video", "audio"])
@pytest.mark.parametrize("split", ["train", "heldout"])
def test_false_and_true_claims_in_either_split(modality, split):
    rng = np.random.default_rng(4)
    for spec in _specs(100, seed=4):
        bad = false_claim(spec, modality, rng, split)
        [(mod, cue)] = claim_facts(bad)
        assert mod == modality and cue != modality_labels(spec)[modality]
        assert check_claims(bad, spec) == (0, 1)
        assert find_cues(bad)[0].held_out == (split == "heldout")
        good = true_claim(spec, modality, rng, split)
        assert check_claims(good, spec) == (1, 1)
        planted = build_reasoning(spec, rng).replace("</think>", " " + bad + "</think>")
        n_true, n_total = check_claims(planted, spec)
        assert n_true == n_total - 1
        clause = cue_clause(modality, "neutral", rng, split)
        assert clause[0].islower() and claim_facts(clause) == [(modality, "neutral")]


def test_sentences_outside_the_inventory_fall_back_to_the_lexicon():
    for c in CONCLUSIONS:
        for lab in LABELS:
            assert claim_facts(c.format(label=lab)) == []
    for remark in g.SCENE + g.SPEECH:
        assert claim_facts(remark) == []
    assert claim_facts("the weather is nice.") == []
    assert claim_facts("the face and the voice look sad.") == []  # mixes modalities
    assert claim_facts("the voice sounds really furious.") == [("audio", "angry")]
    assert claim_facts("her mouth looks scared.") == [("video", "fear")]


def test_bank_view_of_the_training_phrasings():
    assert set(PHRASES) == set(KEYS)
    for key, sentences in PHRASES.items():
        assert len(sentences) >= 36
        assert all(claim_facts(s) == [key] for s in sentences)
        assert all(claim_facts(s.upper().replace(".", " .")) == [key] for s in sentences)


def test_vocabulary_covers_generated_text_and_stays_small():
    vocab = set(vocabulary("all"))
    assert set(vocabulary("train")) < vocab
    assert {"<think>", "</think>", "<answer>", "</answer>", "."} <= vocab and set(LABELS) <= vocab
    assert len(vocab) <= 1200
    rng = np.random.default_rng(6)
    for spec in _specs(100, seed=6):
        tokens = re.findall(r"</?[a-z]+>|[a-z']+|[.,;]", build_reasoning(spec, rng, "all").lower())
        assert set(tokens) <= vocab, set(tokens) - vocab


def test_build_reasoning_varies_phrasing_but_is_reproducible():
    spec = sample_spec(np.random.default_rng(7), label="sad", cue_modality="both")
    texts = {build_reasoning(spec, np.random.default_rng(k)) for k in range(30)}
    assert len(texts) > 25
    assert build_reasoning(spec, np.random.default_rng(9)) == build_reasoning(spec, np.random.default_rng(9))
    with pytest.raises(ValueError, match="split"):
        compose(spec, np.random.default_rng(0), "test")
