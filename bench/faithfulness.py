"""Faithfulness of `r1omni explain` on a fresh synthetic test set (DESIGN 4, "Faithfulness metrics").

    .venv/bin/python bench/faithfulness.py --checkpoint assets/demo-checkpoint --n 42 --seed 424242

Measures, on clips whose ground truth is known (r1omni.synthetic, a seed never used in training):
- modality hit rate: single-cue clips with a non-neutral label, the modality with the larger share is
  the cue modality;
- temporal pointing: the top frame (video cue) / top audio window (audio cue) lies in the cue window;
- deletion AOPC over frames + audio windows in attribution order vs random orders;
- claim-flag precision / recall: a false cue sentence (`false_claim`) planted in each completion's
  `<think>` must be flagged; the unplanted sentences that are true cue claims must not be;
- deletion AOPC per modality (frames only, audio windows only);
- token-level vs waveform-level audio window occlusion: rank agreement, pointing and audio AOPC of each;
- cost: wall time of `explain` (fast and full) over the wall time of `Pipeline.predict` on the same clips
  (median of `--cost-repeats` interleaved rounds after a warm-up over all clips).
Writes bench/results/faithfulness.json and faithfulness.md. `--tiny` uses a random tiny model (smoke run).
`--cost-only` measures only the cost (full mode with both audio occlusions), into explain_cost.json.
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
           "cost_fast": 1.25, "cost_full": 3.0}


def load_pipeline(args):
    import torch

    from r1omni.inference import Pipeline

    if args.tiny:
        from r1omni.tokenization import tiny_model_and_tokenizers

        model, tok, btok = tiny_model_and_tokenizers(seed=0)
        return Pipeline(model, tok, btok, "tiny (random weights)", torch.device("cpu"))
    return Pipeline.load(args.checkpoint, device=args.device)


def make_clips(out: Path, n: int, seed: int) -> list[dict]:
    """The n synthetic clips of `seed` in `out` (written unless a manifest is already there)."""
    from r1omni.synthetic import generate_clips

    manifest = out / "manifest.csv"
    if not manifest.is_file():
        manifest = generate_clips(out, n, seed)
    rows = read_manifest(manifest)
    return [{"path": str(r.path), "label": r.label, **r.meta} for r in rows]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure_cost(pipe, paths, args, occlusions: tuple[str, ...] | None = None) -> dict:
    """Predict, explain fast and explain full on the same clips: wall seconds and ratios.

    A warm-up runs each command once over all the clips (files read, per-checkpoint baselines, first-call
    set-up), so no command pays for what another one left warm. Then `--cost-repeats` rounds run the commands
    in turn (predict, fast, full per audio occlusion) and the median of each is reported: on a shared CPU
    another job's load then falls on all of them alike. `occlusions`: full mode for each of these audio
    occlusions (default: only `--audio-occlusion`); the first one's explanations are returned."""
    kw = {"batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens}
    occlusions = occlusions or (args.audio_occlusion,)
    commands = {"predict": lambda: pipe.predict(paths, **kw), "fast": lambda: explain(pipe, paths, mode="fast", **kw)}
    for occ in occlusions:
        commands[f"full_{occ}"] = lambda occ=occ: explain(pipe, paths, mode="full", audio_occlusion=occ, **kw)
    exps = None
    for name, fn in commands.items():  # warm-up
        out = fn()
        if name == f"full_{occlusions[0]}":
            exps = out
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(max(1, args.cost_repeats)):
        for name, fn in commands.items():
            times[name].append(timed(fn)[1])
    med = {name: statistics.median(ts) for name, ts in times.items()}
    t_pred, t_fast, t_exp = med["predict"], med["fast"], med[f"full_{occlusions[0]}"]
    out = {"predict_s": round(t_pred, 3), "fast_s": round(t_fast, 3), "explain_s": round(t_exp, 3),
           "fast_ratio": round(t_fast / t_pred, 3), "ratio": round(t_exp / t_pred, 3), "clips": len(paths),
           "audio_occlusion": occlusions[0], "repeats": max(1, args.cost_repeats), "torch_threads": _threads(),
           "runs_s": {name: [round(t, 3) for t in ts] for name, ts in times.items()}}
    for occ in occlusions[1:]:
        out[f"explain_s_{occ}"] = round(med[f"full_{occ}"], 3)
        out[f"ratio_{occ}"] = round(med[f"full_{occ}"] / t_pred, 3)
    return out, exps


def _threads() -> int:
    import torch

    return torch.get_num_threads()


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


def deletion_aopc(pipe, rows, exps, args, modality: str | None = None) -> dict:
    """Deletion AOPC over all timeline features, or over one modality's (frames / audio windows) only."""
    rng = random.Random(args.seed)
    ours, rand = [], []
    kind = {"video": "frame", "audio": "audio"}.get(modality)
    for row, e in zip(rows, exps, strict=True):
        if not hasattr(e, "modality"):
            continue
        if modality and (row["cue_modality"] not in (modality, "both") or row["label"] == "neutral"):
            continue  # per modality: the clips whose cue is in that modality
        d = e.to_dict()
        feats = [f for f, _ in fm.features_by_score(d) if kind is None or f[0] == kind]
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
    out = {"aopc": round(mo, 6), "aopc_random": round(mr, 6),
           "aopc_ratio": round(mo / mr, 3) if mr and mr > 0 else float("nan"), "aopc_n": len(ours)}
    if modality:
        return {f"{k}_{modality}": v for k, v in out.items()}
    return out | {"aopc_fraction": args.aopc_fraction, "random_orders": args.random_orders}


def audio_occlusion_agreement(pipe, rows, exps, args) -> dict:
    """Token-level vs waveform-level audio window occlusion on the same clips and completions: Spearman rank
    correlation of the window scores (mean over clips), top-window agreement, audio pointing and audio
    deletion AOPC (deletion is waveform-level for both, the neutral judge)."""
    other = "tokens" if args.audio_occlusion == "waveform" else "waveform"
    idx = [i for i, (r, e) in enumerate(zip(rows, exps, strict=True)) if hasattr(e, "modality") and e.audio_segments]
    texts = [exps[i].prediction["text"] for i in idx]
    alt = explain(pipe, [rows[i]["path"] for i in idx], mode="full", completions=texts, audio_occlusion=other,
                  batch_size=args.batch_size, forward_batch_size=args.forward_batch_size)
    rhos, top = [], []
    for i, a in zip(idx, alt, strict=True):
        s1 = [w["score"] for w in exps[i].audio_segments]
        s2 = [w["score"] for w in a.audio_segments]
        if len(s1) >= 2 and len(s1) == len(s2):
            rhos.append(_spearman(s1, s2))
            top.append(int(np.argmax(s1)) == int(np.argmax(s2)))
    alt_all = list(exps)
    for i, a in zip(idx, alt, strict=True):
        alt_all[i] = a
    point = modality_and_pointing(rows, alt_all)
    aopc = deletion_aopc(pipe, rows, alt_all, args, "audio")
    return {"default": args.audio_occlusion, "other": other, "spearman_mean": _rate(rhos), "top_window_agree": _rate(top),
            "n": len(rhos), f"pointing_audio_{other}": point["pointing_audio"],
            f"aopc_ratio_audio_{other}": aopc["aopc_ratio_audio"]}


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


POSITIONS = ("first", "middle", "before_conclusion")
LEVELS = ("sentence", "clause")
PLANT_MODALITIES = ("video", "audio")


def think_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of the `<think>` body (each with its final punctuation)."""
    import re

    span = think_span(text)
    if span is None:
        return []
    out, i = [], span[0]
    body = text[span[0]:span[1]]
    for m in re.finditer(r"[^.!?]+[.!?]+", body):
        a = span[0] + m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
        out.append((a, span[0] + m.end()))
    return out


def plant_unit(text: str, unit: str, position: str, level: str) -> tuple[str, tuple[int, int]] | None:
    """Insert a cue unit into a completion's reasoning; the new text and the unit's span in it, or None when
    the reasoning has too few sentences for that position.

    sentence level: `unit` is a sentence put at a boundary: before every sentence ("first"), just before the
    conclusion ("before_conclusion") or between two non-conclusion sentences ("middle").
    clause level: `unit` is a lower-case clause joined with ", and" into the first, a middle or the last
    non-conclusion sentence, before its final period. The conclusion is the last sentence."""
    sents = think_sentences(text)
    k = len(sents) - 1  # non-conclusion sentences
    if k < 1:
        return None
    if level == "sentence":
        if position == "middle" and k < 2:
            return None
        j = {"first": 0, "before_conclusion": k, "middle": (k + 1) // 2 if k >= 2 else None}[position]
        at = sents[j][0]
        new = text[:at] + unit + " " + text[at:]
        return new, (at, at + len(unit))
    if position == "middle" and k < 3:
        return None
    j = {"first": 0, "before_conclusion": k - 1, "middle": k // 2 if k >= 3 else None}[position]
    end = sents[j][1] - 1  # before the sentence's final period
    glue = ", and "
    new = text[:end] + glue + unit + text[end:]
    return new, (end + len(glue), end + len(glue) + len(unit))


def plan_plants(rows, texts, seed: int) -> list[dict]:
    """For each clip (in order) a planting plan: one FALSE and one TRUE cue unit in held-out phrasings
    (`r1omni.synthetic.grammar`, never trained on), same modality / position / level, the combination the
    least used so far that fits the clip's reasoning (balanced over clips). Deterministic in `seed`."""
    from r1omni.synthetic.reasoning import cue_clause, modality_labels

    rng = np.random.default_rng([seed, 0xF1A6])
    combos = [(m, p, lv) for m in PLANT_MODALITIES for p in POSITIONS for lv in LEVELS]
    used = {c: 0 for c in combos}
    plans = []
    for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
        order = sorted(combos, key=lambda c: (used[c], (combos.index(c) - i) % len(combos)))
        for m, pos, lv in order:
            actual = modality_labels(row)[m]
            wrong = [lab for lab in LABELS if lab != actual]
            false_emo = wrong[int(rng.integers(len(wrong)))]
            units = {}
            for truth, emo in (("true", actual), ("false", false_emo)):
                clause = cue_clause(m, emo, rng, "heldout")
                unit = clause if lv == "clause" else clause[:1].upper() + clause[1:] + "."
                units[truth] = (unit, emo)
            planted = {t: plant_unit(text, u, pos, lv) for t, (u, _) in units.items()}
            if all(planted.values()):
                used[(m, pos, lv)] += 1
                for t, (u, emo) in units.items():
                    new, span = planted[t]
                    plans.append({"clip": i, "modality": m, "position": pos, "level": lv, "truth": t,
                                  "emotion": emo, "actual": actual, "unit": u, "text": new, "span": span})
                break
    return plans


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


LABELS = ("happy", "surprise", "neutral", "angry", "disgust", "sad", "fear")


def planted_flags(pipe, rows, exps, args) -> dict:
    """Flag precision / recall on planted held-out cue units: positives = planted FALSE units (the unit is
    flagged when a claim overlapping its span carries a flag), negatives = planted TRUE units; also the
    model's own cue claims that are true for the clip (`own_true`, reported apart). Per modality, position
    and level."""
    from r1omni.synthetic import check_claims

    texts = [e.prediction["text"] for e in exps]
    ok = [i for i, e in enumerate(exps) if hasattr(e, "prediction") and think_span(e.prediction.get("text", ""))]
    plans = plan_plants([rows[i] for i in ok], [texts[i] for i in ok], args.seed)
    for p in plans:
        p["clip"] = ok[p["clip"]]
    results = explain(pipe, [rows[p["clip"]]["path"] for p in plans], mode="fast",
                      completions=[p["text"] for p in plans], batch_size=args.batch_size,
                      forward_batch_size=args.forward_batch_size)
    groups: dict[str, tuple[list, list]] = {}
    pos, neg, own, by_flag, dump = [], [], [], {}, []
    for p, res in zip(plans, results, strict=True):
        claims = getattr(res, "claims", None) or []
        hit = [c for c in claims if _overlaps((c["start"], c["end"]), tuple(p["span"]))]
        flags = sorted({f for c in hit for f in c["flags"]})
        flagged = bool(flags)
        bucket = 0 if p["truth"] == "false" else 1
        (pos if bucket == 0 else neg).append(flagged)
        for key in (f"modality={p['modality']}", f"position={p['position']}", f"level={p['level']}",
                    f"{p['modality']}/{p['position']}/{p['level']}"):
            groups.setdefault(key, ([], []))[bucket].append(flagged)
        if bucket == 0:
            for f in flags:
                by_flag[f] = by_flag.get(f, 0) + 1
        if p["truth"] == "true":  # the model's own true cue claims, once per clip
            for c in claims:
                if _overlaps((c["start"], c["end"]), tuple(p["span"])):
                    continue
                n_true, n_total = check_claims(c["text"], rows[p["clip"]])
                if n_total and n_true == n_total:
                    own.append(bool(c["flags"]))
        dump.append({k: p[k] for k in ("clip", "modality", "position", "level", "truth", "emotion", "actual",
                                       "unit")} | {"flagged": flagged, "flags": flags,
                                                   "cue_modality": rows[p["clip"]]["cue_modality"],
                                                   "label": rows[p["clip"]]["label"],
                                                   "claims": [{"text": c["text"], "flags": c["flags"],
                                                               "support": c.get("support")} for c in hit]})
    if getattr(args, "dump_claims", None):
        Path(args.dump_claims).write_text(json.dumps(dump, indent=1) + "\n")
    per = {k: fm.precision_recall(a, b) for k, (a, b) in sorted(groups.items())}
    with_own = fm.precision_recall(pos, neg + own)
    return fm.precision_recall(pos, neg) | {
        "planted_flagged_by": by_flag, "flags_by_group": per,
        "own_true_claims": {"n": len(own), "flagged": sum(own)},
        "with_own_true_claims": {k: with_own[k] for k in ("precision", "recall", "fp", "tn")},
        "planted": dump,
    }


def write_claim_flags(path: Path, args, pipe, results: dict, argv: str) -> None:
    """Merge one run into the claim-flag report: report[tag]["runs"][seed] (planted units, results)."""
    import subprocess

    report = json.loads(path.read_text()) if path.is_file() else {}
    if "results" in report and "before" not in report:  # the layout of the closed-world bank runs
        report = {"closed_world_bank_runs": report}
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    section = report.setdefault(args.tag, {"runs": {}})
    section["runs"][str(args.seed)] = {
        "command": "python bench/faithfulness.py " + argv, "checkpoint": str(args.checkpoint or "assets/demo-checkpoint"),
        "model": pipe.display_name, "code": sha, "n_clips": args.n, "results": results}
    path.write_text(json.dumps(report, indent=1) + "\n")


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
        ("deletion AOPC / random, video", r["aopc_ratio_video"], f">= {TARGETS['aopc_ratio']}",
         f"frames only, clips with a video cue: AOPC {r['aopc_video']} vs random {r['aopc_random_video']}, "
         f"n={r['aopc_n_video']}"),
        ("deletion AOPC / random, audio", r["aopc_ratio_audio"], f">= {TARGETS['aopc_ratio']}",
         f"audio windows only, clips with an audio cue: AOPC {r['aopc_audio']} vs random "
         f"{r['aopc_random_audio']}, n={r['aopc_n_audio']}"),
        ("explain fast / predict cost", r["cost"]["fast_ratio"], f"<= {TARGETS['cost_fast']}",
         f"{r['cost']['fast_s']} s vs {r['cost']['predict_s']} s on {r['cost']['clips']} clips"),
        ("explain full / predict cost", r["cost"]["ratio"], f"<= {TARGETS['cost_full']}",
         f"{r['cost']['explain_s']} s vs {r['cost']['predict_s']} s (audio occlusion {r['cost']['audio_occlusion']})"),
    ]
    if "audio_occlusion" in r:
        a = r["audio_occlusion"]
        o = a["other"]
        rows.append((f"audio occlusion {a['default']} vs {o}: Spearman", a["spearman_mean"], "-",
                     f"top window agrees {a['top_window_agree']}, n={a['n']}; {o}: audio pointing "
                     f"{a[f'pointing_audio_{o}']}, audio AOPC ratio {a[f'aopc_ratio_audio_{o}']}"))
    lines = [f"# Explanation faithfulness ({report['checkpoint']}, {report['n_clips']} clips, seed {report['seed']})",
             "", f"Command: `{report['command']}`", "", "| metric | value | target | detail |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", f"Device: {report['device']}; the CPU is shared with other jobs, so seconds vary between runs "
              "(the ratios compare commands timed in the same run)."]
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
    p.add_argument("--audio-occlusion", default="waveform", choices=("waveform", "tokens"),
                   help="audio window occlusion of the explanations measured (the other one is compared)")
    p.add_argument("--no-compare", action="store_true", help="skip the token- vs waveform-level comparison")
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--dump-claims", default=None, help="write every judged claim (planted / true) as JSON here")
    p.add_argument("--flags-only", action="store_true", help="only the planted-claim flag metrics (tuning runs)")
    p.add_argument("--claim-flags-out", default=None,
                   help="with --flags-only: merge the results into this JSON (bench/results/claim_flags.json) "
                        "under --tag and the seed")
    p.add_argument("--clips-dir", default=None,
                   help="keep the synthetic clips here (reused when its manifest exists) instead of a temp folder")
    p.add_argument("--tag", default="after", help="section of --claim-flags-out (before / after)")
    p.add_argument("--cost-only", action="store_true",
                   help="only the cost of explain vs predict (both audio occlusions), written to --cost-out")
    p.add_argument("--cost-repeats", type=int, default=3, help="timed rounds of each command (median reported)")
    p.add_argument("--cost-out", default=str(REPO / "bench" / "results" / "explain_cost.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pipe = load_pipeline(args)
    with tempfile.TemporaryDirectory() as tmp:
        rows = make_clips(Path(args.clips_dir) if args.clips_dir else Path(tmp), args.n, args.seed)
        if args.flags_only:
            exps = pipe.predict([r["path"] for r in rows], batch_size=args.batch_size,
                                max_new_tokens=args.max_new_tokens)
            exps = [_Predicted(p.to_dict()) if hasattr(p, "to_dict") and hasattr(p, "text") else p for p in exps]
            results = planted_flags(pipe, rows, exps, args)
            results["accuracy"] = _rate([getattr(e, "prediction", {}).get("label") == r["label"]
                                         for e, r in zip(exps, rows, strict=True)])
            if args.claim_flags_out:
                write_claim_flags(Path(args.claim_flags_out), args, pipe, results,
                                  " ".join(argv if argv is not None else sys.argv[1:]))
            logger.info(json.dumps({k: v for k, v in results.items() if k != "planted"}, indent=2))
            return 0
        if args.cost_only:
            cost, _ = measure_cost(pipe, [r["path"] for r in rows], args,
                                   (args.audio_occlusion, "tokens" if args.audio_occlusion == "waveform" else "waveform"))
            report = {"checkpoint": pipe.display_name, "n_clips": args.n, "seed": args.seed, "device": str(pipe.device),
                      "command": "python bench/faithfulness.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                      "targets": {k: TARGETS[k] for k in ("cost_fast", "cost_full")}, "cost": cost}
            Path(args.cost_out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.cost_out).write_text(json.dumps(report, indent=2) + "\n")
            logger.info(json.dumps(cost, indent=2))
            return 0
        cost, exps = measure_cost(pipe, [r["path"] for r in rows], args)
        logger.info("cost: %s", cost)
        results = {"cost": cost} | modality_and_pointing(rows, exps)
        results |= deletion_aopc(pipe, rows, exps, args)
        for modality in ("video", "audio"):
            results |= deletion_aopc(pipe, rows, exps, args, modality)
        if not args.no_compare:
            results["audio_occlusion"] = audio_occlusion_agreement(pipe, rows, exps, args)
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
