"""The claim parser against hand-annotated reasonings (tests/fixtures/reasonings, GUIDELINE.md there).

Per sentence, the parser's four fields (cites, emotions, conclusion, contradiction) are compared with the
annotation; a sentence agrees when all four are equal. `dev.jsonl` was used while building the parser
(in-sample); `posthoc.jsonl` (four sets by the same author, written after the parser, each scored once
before the parser was changed for it; in-sample now); `heldout.jsonl`, when present, was written by someone
who never saw the parser (40 reasonings, 276 sentences) and is scored as is: it was first scored on the
merged parser at 0.902 (249/276; every miss but two in `cites`), below the 95 % reached in-sample; the
parser was NOT tuned on it afterwards, so its floor is that measured figure (a regression guard, not a
target met). dev and posthoc must reach 95 %. Every unit's offsets index the
completion, and the units of a reasoning cover its `<think>` body (nothing dropped).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1omni.audit.claims import extract_claims, sentence_annotations, think_span
from r1omni.prompts import LABEL_SETS

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "reasonings"
FIELDS = ("cites", "emotions", "conclusion", "contradiction")
MIN_AGREEMENT = {"dev.jsonl": 0.95, "posthoc.jsonl": 0.95, "heldout.jsonl": 0.90}


def _load(name: str) -> list[dict]:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in {CORPUS}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def score(records: list[dict]) -> dict:
    """Per-sentence agreement and the disagreements (id, sentence, field: (parser, annotation))."""
    n = agree = 0
    per_field = dict.fromkeys(FIELDS, 0)
    misses = []
    for rec in records:
        got = sentence_annotations(rec["completion"], LABEL_SETS[rec["label_set"]], rec["answer"])
        want = rec["sentences"]
        if [g["text"] for g in got] != [w["text"] for w in want]:  # a split disagreement: every sentence counts
            n += len(want)
            misses.append((rec["id"], "<sentence split>", [g["text"] for g in got]))
            continue
        for g, w in zip(got, want, strict=True):
            n += 1
            diff = {k: (g[k], w[k]) for k in FIELDS if g[k] != w[k]}
            agree += not diff
            for k in diff:
                per_field[k] += 1
            if diff:
                misses.append((rec["id"], w["text"], diff))
    return {"sentences": n, "agree": agree, "agreement": agree / max(n, 1), "per_field": per_field,
            "misses": misses}


@pytest.mark.parametrize("name", ["dev.jsonl", "posthoc.jsonl", "heldout.jsonl"])
def test_per_sentence_agreement(name):
    records = _load(name)
    result = score(records)
    report = "\n".join(f"  {rid}: {text[:100]} {diff}" for rid, text, diff in result["misses"])
    print(f"\n{name}: {result['agree']}/{result['sentences']} sentences agree "
          f"({result['agreement']:.3f}); disagreements per field {result['per_field']}\n{report}")
    assert result["agreement"] >= MIN_AGREEMENT[name], f"{name}: agreement {result['agreement']:.3f}\n{report}"


@pytest.mark.parametrize("name", ["dev.jsonl", "posthoc.jsonl", "heldout.jsonl"])
def test_units_index_and_cover_the_completion(name):
    for rec in _load(name):
        text = rec["completion"]
        units = extract_claims(text, LABEL_SETS[rec["label_set"]])
        assert units, rec["id"]
        for u in units:
            assert text[u.start : u.end] == u.text, (rec["id"], u)
            assert u.sentence_start <= u.start < u.end <= u.sentence_end, (rec["id"], u)
            assert (len(u.cites) == 1) == (u.kind == "cue"), (rec["id"], u)
        a, b = think_span(text)
        covered = "".join(text[u.start : u.end] for u in units)
        assert "".join(covered.split()) == "".join(text[a:b].split()), rec["id"]  # only whitespace left out
        assert all(p.end <= q.start for p, q in zip(units, units[1:])), rec["id"]  # in order, no overlap


def test_dev_corpus_has_the_required_shape():
    records = _load("dev.jsonl")
    assert len(records) >= 64
    assert {r["label_set"] for r in records} == {"dfew", "mafw", "ravdess"}
    long_ones = [r for r in records if len(think_span_text(r).split()) >= 200]
    assert len(long_ones) >= 3
    sentences = [s for r in records for s in r["sentences"]]
    assert any(s["conclusion"] and s["contradiction"] for s in sentences)
    assert any(not s["conclusion"] and s["contradiction"] for s in sentences)
    assert any(s["conclusion"] and len(s["emotions"]) > 1 for s in sentences)
    assert any("text" in s["cites"] for s in sentences)


def think_span_text(rec: dict) -> str:
    a, b = think_span(rec["completion"])
    return rec["completion"][a:b]
