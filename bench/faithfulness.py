"""Faithfulness of `r1omni explain` on a fresh synthetic test set (DESIGN 4, "Faithfulness metrics").

    .venv/bin/python bench/faithfulness.py --checkpoint assets/demo-checkpoint --n 42 --seed 424242

Measures, on clips whose ground truth is known (r1omni.synthetic, a seed never used in training):
- modality hit rate: single-cue clips with a non-neutral label, the modality with the larger share is
  the cue modality;
- temporal pointing: the top frame (video cue) / top audio window (audio cue) lies in the cue window;
- deletion AOPC over frames + audio windows in attribution order vs random orders;
- claim-flag precision / recall: a false cue sentence (`false_claim`) planted in each completion's
  `<think>` must be flagged; the unplanted sentences that are true cue claims must not be;
- cost: wall time of `explain(mode="full")` over the wall time of `Pipeline.predict` on the same clips.
Writes bench/results/faithfulness.json and faithfulness.md. `--tiny` uses a random tiny model (smoke run).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from r1omni.audit.claims import answer_span, extract_claims, think_span  # noqa: E402
from r1omni.explain import explain  # noqa: E402
from r1omni.explain import faithfulness as fm  # noqa: E402
from r1omni.explain.tokens import token_offsets, tokens_in  # noqa: E402
from r1omni.manifest import read_manifest  # noqa: E402

logger = logging.getLogger("bench.faithfulness")
TARGETS = {"hit_rate": 0.95, "pointing": 0.90, "aopc_ratio": 2.0, "flag_precision": 0.9, "flag_recall": 0.8,
           "cost_ratio": 1.5}


def load_pipeline(args):
    import torch

    from r1omni.inference import Pipeline

    if args.tiny:
        from r1omni.tokenization import tiny_model_and_tokenizers

        model, tok, btok = tiny_model_and_tokenizers(seed=0)
        return Pipeline(model, tok, btok, "tiny (random weights)", torch.device("cpu"))
    return Pipeline.load(args.checkpoint, device=args.device)


def make_clips(out: Path, n: int, seed: int) -> list[dict]:
    from r1omni.synthetic import generate_clips

    manifest = generate_clips(out, n, seed)
    rows = read_manifest(manifest)
    return [{"path": str(r.path), "label": r.label, **r.meta} for r in rows]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure_cost(pipe, paths, args) -> dict:
    """Predict and explain on the same clips, after one warm-up each; wall seconds and their ratio."""
    kw = {"batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens}
    pipe.predict(paths[:1], **kw)
    explain(pipe, paths[:1], mode="full", **kw)
    _, t_pred = timed(lambda: pipe.predict(paths, **kw))
    exps, t_exp = timed(lambda: explain(pipe, paths, mode="full", **kw))
    return {"predict_s": round(t_pred, 3), "explain_s": round(t_exp, 3), "ratio": round(t_exp / t_pred, 3),
            "clips": len(paths)}, exps


def modality_and_pointing(rows, exps) -> dict:
    hits, point = [], {"video": [], "audio": []}
    for row, e in zip(rows, exps, strict=True):
        if not hasattr(e, "modality") or row["label"] == "neutral":
            continue
        d, cue = e.to_dict(), row["cue_modality"]
        window = (float(row["cue_start_s"]), float(row["cue_end_s"]))
        if cue in ("video", "audio"):
            hits.append(fm.modality_hit(d, cue))
        for m in ("video", "audio"):
            if cue in (m, "both"):
                p = fm.pointing_hit(d, m, window)
                if p is not None:
                    point[m].append(p)
    all_points = point["video"] + point["audio"]
    return {
        "hit_rate": _rate(hits), "hit_n": len(hits),
        "pointing": _rate(all_points), "pointing_n": len(all_points),
        "pointing_video": _rate(point["video"]), "pointing_audio": _rate(point["audio"]),
    }


def _rate(xs) -> float:
    return round(sum(xs) / len(xs), 4) if xs else float("nan")


def deletion_aopc(pipe, rows, exps, args) -> dict:
    rng = random.Random(args.seed)
    ours, rand = [], []
    for row, e in zip(rows, exps, strict=True):
        if not hasattr(e, "modality"):
            continue
        d = e.to_dict()
        feats = [f for f, _ in fm.features_by_score(d)]
        if len(feats) < 2:
            continue
        text = d["prediction"]["text"]
        ids = pipe.completion_ids(text)
        span = answer_span(text)
        offsets = token_offsets(pipe.tokenizer, ids, text)
        target = tokens_in(offsets, *span) if span else []
        if not target:  # no answer to delete evidence for
            continue
        steps = max(1, round(len(feats) * args.aopc_fraction))
        orders = [feats] + [rng.sample(feats, len(feats)) for _ in range(args.random_orders)]
        media = pipe.encode(row["path"])
        probs = fm.deletion_probs(pipe, media, ids, target, orders, steps, batch_size=args.forward_batch_size)
        p0 = float(np.exp(d["modality"]["targets"]["answer"]["coalitions"]["both"]))
        ours.append(fm.aopc(p0, probs[0]))
        rand.append(statistics.mean(fm.aopc(p0, p) for p in probs[1:]))
    mo, mr = statistics.mean(ours) if ours else float("nan"), statistics.mean(rand) if rand else float("nan")
    return {"aopc": round(mo, 6), "aopc_random": round(mr, 6),
            "aopc_ratio": round(mo / mr, 3) if mr and mr > 0 else float("nan"), "aopc_n": len(ours),
            "aopc_fraction": args.aopc_fraction, "random_orders": args.random_orders}


def plant(text: str, sentence: str, rng: random.Random) -> tuple[str, tuple[int, int], str] | None:
    """Insert a sentence at a sentence boundary of the reasoning (before the last one); its offsets and
    position ("first": before every sentence, "last": just before the conclusion, "middle": between)."""
    span = think_span(text)
    if span is None:
        return None
    claims = extract_claims(text)
    cuts = [span[0]] + [c.end for c in claims[:-1]] if claims else [span[0]]
    k = rng.randrange(len(cuts))
    at = cuts[k]
    lead = "" if at == span[0] else " "
    tail = " " if at == span[0] else ""
    new = text[:at] + lead + sentence + tail + text[at:]
    start = at + len(lead)
    position = "first" if k == 0 else "last" if k == len(cuts) - 1 else "middle"
    return new, (start, start + len(sentence)), position


def planted_flags(pipe, rows, exps, args) -> dict:
    from r1omni.synthetic import check_claims, false_claim

    rng, nrng = random.Random(args.seed + 1), np.random.default_rng(args.seed + 1)
    clips, texts, spans, kept, planted_meta = [], [], [], [], []
    for row, e in zip(rows, exps, strict=True):
        if not hasattr(e, "modality"):
            continue
        modality = row["cue_modality"] if row["cue_modality"] in ("video", "audio") else rng.choice(
            ["video", "audio"])
        planted = plant(e.prediction["text"], false_claim(row, modality, nrng), rng)
        if planted is None:
            continue
        clips.append(row["path"])
        texts.append(planted[0])
        spans.append(planted[1])
        kept.append(row)
        planted_meta.append({"modality": modality, "position": planted[2]})
    results = explain(pipe, clips, mode="fast", completions=texts, batch_size=args.batch_size,
                      forward_batch_size=args.forward_batch_size)
    pos, neg, by_flag, dump = [], [], {}, []
    groups: dict[str, tuple[list, list]] = {}
    for row, res, span, meta in zip(kept, results, spans, planted_meta, strict=True):
        for c in res.claims:
            flagged = bool(c["flags"])
            cites = [m for m in c["cites"] if m in ("video", "audio")]
            if (c["start"], c["end"]) == span:
                pos.append(flagged)
                for key in (f"modality={meta['modality']}", f"position={meta['position']}"):
                    groups.setdefault(key, ([], []))[0].append(flagged)
                for f in c["flags"]:
                    by_flag[f] = by_flag.get(f, 0) + 1
                dump.append(c | {"planted": True, "cue_modality": row["cue_modality"]} | meta)
            else:
                n_true, n_total = check_claims(c["text"], row)
                if n_total and n_true == n_total:
                    neg.append(flagged)
                    for m in cites:
                        groups.setdefault(f"modality={m}", ([], []))[1].append(flagged)
                    dump.append(c | {"planted": False, "cue_modality": row["cue_modality"]})
    if getattr(args, "dump_claims", None):
        Path(args.dump_claims).write_text(json.dumps(dump, indent=1) + "\n")
    per = {k: fm.precision_recall(p, n) for k, (p, n) in sorted(groups.items()) if k.startswith("modality=")}
    for k, (p, _) in sorted(groups.items()):  # a position splits only the planted claims: recall alone
        if k.startswith("position="):
            per[k] = {"recall": _rate(p), "tp": sum(p), "fn": len(p) - sum(p)}
    return fm.precision_recall(pos, neg) | {"planted_flagged_by": by_flag, "flags_by_group": per}


class _Predicted:
    """A prediction standing in for an explanation in tuning runs (planted_flags reads .prediction only)."""

    def __init__(self, prediction: dict):
        self.prediction = prediction
        self.modality = None


def write_report(report: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "faithfulness.json").write_text(json.dumps(report, indent=2) + "\n")
    r = report["results"]
    rows = [
        ("modality hit rate", r["hit_rate"], f">= {TARGETS['hit_rate']}", f"n={r['hit_n']}"),
        ("temporal pointing", r["pointing"], f">= {TARGETS['pointing']}",
         f"n={r['pointing_n']} (video {r['pointing_video']}, audio {r['pointing_audio']})"),
        ("deletion AOPC / random", r["aopc_ratio"], f">= {TARGETS['aopc_ratio']}",
         f"AOPC {r['aopc']} vs random {r['aopc_random']}, n={r['aopc_n']}"),
        ("flag precision", r["precision"], f">= {TARGETS['flag_precision']}", f"tp={r['tp']} fp={r['fp']}"),
        ("flag recall", r["recall"], f">= {TARGETS['flag_recall']}", f"fn={r['fn']} tn={r['tn']}"),
        ("explain / predict cost", r["cost"]["ratio"], f"<= {TARGETS['cost_ratio']}",
         f"{r['cost']['explain_s']} s vs {r['cost']['predict_s']} s on {r['cost']['clips']} clips"),
    ]
    lines = [f"# Explanation faithfulness ({report['checkpoint']}, {report['n_clips']} clips, seed {report['seed']})",
             "", f"Command: `{report['command']}`", "", "| metric | value | target | detail |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    (out_dir / "faithfulness.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: assets/demo-checkpoint)")
    p.add_argument("--tiny", action="store_true", help="random tiny model instead of a checkpoint (smoke run)")
    p.add_argument("--device", default="auto")
    p.add_argument("--n", type=int, default=42, help="synthetic test clips")
    p.add_argument("--seed", type=int, default=424242, help="synthetic seed (never one used in training)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--forward-batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--aopc-fraction", type=float, default=0.25, help="deletion steps K = fraction of features")
    p.add_argument("--random-orders", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--dump-claims", default=None, help="write every judged claim (planted / true) as JSON here")
    p.add_argument("--flags-only", action="store_true", help="only the planted-claim flag metrics (tuning runs)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pipe = load_pipeline(args)
    with tempfile.TemporaryDirectory() as tmp:
        rows = make_clips(Path(tmp), args.n, args.seed)
        if args.flags_only:
            exps = pipe.predict([r["path"] for r in rows], batch_size=args.batch_size,
                                max_new_tokens=args.max_new_tokens)
            exps = [_Predicted(p.to_dict()) if hasattr(p, "to_dict") and hasattr(p, "text") else p for p in exps]
            results = planted_flags(pipe, rows, exps, args)
            logger.info(json.dumps(results, indent=2))
            return 0
        cost, exps = measure_cost(pipe, [r["path"] for r in rows], args)
        logger.info("cost: %s", cost)
        results = {"cost": cost} | modality_and_pointing(rows, exps)
        results |= deletion_aopc(pipe, rows, exps, args)
        results |= planted_flags(pipe, rows, exps, args)
    labels = [getattr(e, "prediction", {}).get("label") for e in exps]
    results["accuracy"] = _rate([lab == r["label"] for lab, r in zip(labels, rows, strict=True)])
    report = {"checkpoint": pipe.display_name, "n_clips": args.n, "seed": args.seed, "device": str(pipe.device),
              "command": "python bench/faithfulness.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "targets": TARGETS, "results": results}
    write_report(report, Path(args.out))
    logger.info(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
