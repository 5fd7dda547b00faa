"""Reasoning quality of a checkpoint on the demo build's synthetic test set (greedy decoding).

    .venv/bin/python bench/demo_reasoning.py --checkpoint assets/demo-checkpoint --n 84

On the first N clips of `--manifest` (default: the build's runs/demo/test, seed 99991): share of
completions that repeat a cue phrasing, share of repeated sentences, share of clips with a cue whose
reasoning cites that cue (a cue claim, `claim_facts`, of a modality that shows the label), claim truthfulness
(`r1omni.synthetic.check_claims`), accuracy; a few example completions. Writes --out (JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    from r1omni.inference import Pipeline
    from r1omni.manifest import read_manifest
    from r1omni.synthetic import check_claims, claim_facts, find_cues, modality_labels, split_sentences

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="assets/demo-checkpoint")
    p.add_argument("--manifest", default="runs/demo/test/manifest.csv")
    p.add_argument("--n", type=int, default=84)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "demo_reasoning.json"))
    p.add_argument("--tag", default="after")
    a = p.parse_args(argv)
    rows = read_manifest(a.manifest)[: a.n]
    pipe = Pipeline.load(a.checkpoint, device="cpu")
    preds = pipe.predict([str(r.path) for r in rows])
    s = {"n": 0, "correct": 0, "with_repeated_phrasing": 0, "sentences": 0, "repeated_sentences": 0,
         "cued_clips": 0, "cue_cited": 0, "claims": 0, "claims_true": 0}
    examples = []
    for r, pr in zip(rows, preds, strict=True):
        truth = r.meta | {"label": r.label}
        shown = modality_labels(truth)
        cues = find_cues(pr.text)
        texts = [pr.text[u.start:u.end].lower() for u in cues]
        sents = [x.lower() for x in split_sentences(pr.text)]
        s["n"] += 1
        s["correct"] += getattr(pr, "label", None) == r.label
        s["with_repeated_phrasing"] += len(texts) != len(set(texts))
        s["sentences"] += len(sents)
        s["repeated_sentences"] += len(sents) - len(set(sents))
        t, tot = check_claims(pr.text, truth)
        s["claims_true"] += t
        s["claims"] += tot
        if r.label != "neutral":
            s["cued_clips"] += 1
            facts = [f for sent in split_sentences(pr.text) for f in claim_facts(sent)]
            s["cue_cited"] += any(shown[m] == e == r.label for m, e in facts)
        if len(examples) < 6:
            examples.append({"label": r.label, "cue_modality": r.meta.get("cue_modality"), "text": pr.text})
    rates = {"accuracy": s["correct"] / s["n"], "completions_repeating_a_phrasing": s["with_repeated_phrasing"] / s["n"],
             "repeated_sentence_share": s["repeated_sentences"] / max(1, s["sentences"]),
             "cued_clips_citing_their_cue": s["cue_cited"] / max(1, s["cued_clips"]),
             "claim_truthfulness": s["claims_true"] / max(1, s["claims"])}
    out = Path(a.out)
    report = json.loads(out.read_text()) if out.is_file() else {}
    report[a.tag] = {"command": "python bench/demo_reasoning.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                     "checkpoint": a.checkpoint, "model": pipe.display_name, "manifest": a.manifest,
                     "counts": s, "rates": {k: round(v, 4) for k, v in rates.items()}, "examples": examples}
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report[a.tag]["rates"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
