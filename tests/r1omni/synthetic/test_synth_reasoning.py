"""Reasoning texts and the claim checker (r1omni/synthetic/reasoning.py)."""

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

FORMAT = re.compile(r"^<think>([^<]+)</think><answer>([a-z]+)</answer>$")


def _specs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    return [sample_spec(rng) for _ in range(n)]


def _words(sentence):
    return set(re.findall(r"[a-z]+", sentence))


def test_build_reasoning_is_well_formed_and_all_claims_true():
    rng = np.random.default_rng(1)
    for spec in _specs():
        text = build_reasoning(spec, rng)
        m = FORMAT.match(text)
        assert m and m.group(2) == spec.label, text
        sentences = split_sentences(text)
        assert sentences[-1] in {c.format(label=spec.label) for c in CONCLUSIONS}
        n_true, n_total = check_claims(text, spec)
        assert n_true == n_total >= 2, (text, spec.label, spec.cue_modality)
        # visual sentences come first, then audio ones, then the conclusion
        mods = [claim_facts(s)[0][0] for s in sentences[:-1]]
        assert mods == sorted(mods, key=["video", "audio"].index) and set(mods) == {"video", "audio"}


def test_claims_name_each_modality_actual_label():
    rng = np.random.default_rng(2)
    spec = sample_spec(rng, label="fear", cue_modality="audio")
    facts = [f for s in split_sentences(build_reasoning(spec, rng)) for f in claim_facts(s)]
    assert ("video", "neutral") in facts and ("audio", "fear") in facts
    assert all(f in {("video", "neutral"), ("audio", "fear")} for f in facts)


def test_check_claims_accepts_a_manifest_row_of_strings():
    rng = np.random.default_rng(3)
    for spec in _specs(30, seed=3):
        row = {k: str(v) for k, v in spec.to_row().items()}
        text = build_reasoning(spec, rng)
        assert check_claims(text, row) == check_claims(text, spec)
        del row["video_label"], row["audio_label"]  # older rows: derived from label + cue_modality
        assert modality_labels(row) == {"video": spec.video_label, "audio": spec.audio_label}


@pytest.mark.parametrize("modality", ["video", "audio"])
def test_false_claim_is_false_and_about_its_modality(modality):
    rng = np.random.default_rng(4)
    for spec in _specs(100, seed=4):
        sentence = false_claim(spec, modality, rng)
        [(mod, cue)] = claim_facts(sentence)
        assert mod == modality and cue != modality_labels(spec)[modality]
        assert check_claims(sentence, spec) == (0, 1)
        planted = build_reasoning(spec, rng).replace("</think>", " " + sentence + "</think>")
        n_true, n_total = check_claims(planted, spec)
        assert n_true == n_total - 1


def test_angry_voice_claim_is_false_for_a_neutral_voice():
    spec = sample_spec(np.random.default_rng(5), label="happy", cue_modality="video")
    text = "<think>the voice is loud and harsh. the face breaks into a broad smile.</think>"
    assert check_claims(text, spec) == (1, 2)


def test_every_bank_sentence_parses_to_its_own_meaning():
    seen = set()
    for (modality, cue), sentences in PHRASES.items():
        assert modality in ("video", "audio") and cue in LABELS and len(sentences) >= 4
        for s in sentences:
            assert s not in seen
            seen.add(s)
            assert claim_facts(s) == [(modality, cue)]
            assert claim_facts(s.upper().replace(".", " .")) == [(modality, cue)]  # case/space tolerant
    assert {key for key in PHRASES} == {(m, lab) for m in ("video", "audio") for lab in LABELS}


def test_conclusions_and_unclear_sentences_make_no_claim():
    for c in CONCLUSIONS:
        for lab in LABELS:
            assert claim_facts(c.format(label=lab)) == []
    assert claim_facts("the weather is nice.") == []
    assert claim_facts("the face and the voice look sad.") == []  # mixes modalities
    assert claim_facts("the voice sounds really furious.") == [("audio", "angry")]  # outside the bank
    assert claim_facts("her mouth looks scared.") == [("video", "fear")]


def test_visual_and_audio_lexicons_never_mix():
    for (modality, _), sentences in PHRASES.items():
        own, other = (VISUAL_WORDS, AUDIO_WORDS) if modality == "video" else (AUDIO_WORDS, VISUAL_WORDS)
        for s in sentences:
            assert _words(s) & own and not _words(s) & other, s
            assert len(s.split()) <= 12


def test_small_vocabulary_covers_every_generated_text():
    vocab = set(vocabulary())
    assert 80 <= len(vocab) <= 400
    assert {"<think>", "</think>", "<answer>", "</answer>", "."} <= vocab and set(LABELS) <= vocab
    rng = np.random.default_rng(6)
    for spec in _specs(100, seed=6):
        tokens = re.findall(r"</?[a-z]+>|[a-z]+|[.]", build_reasoning(spec, rng))
        assert set(tokens) <= vocab
    assert all(isinstance(line, str) and line for line in corpus_lines())


def test_build_reasoning_varies_phrasing_but_is_reproducible():
    spec = sample_spec(np.random.default_rng(7), label="sad", cue_modality="both")
    texts = {build_reasoning(spec, np.random.default_rng(k)) for k in range(30)}
    assert len(texts) > 10
    assert build_reasoning(spec, np.random.default_rng(9)) == build_reasoning(spec, np.random.default_rng(9))
