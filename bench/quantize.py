"""What the int8 dynamic-quantised CPU path gives against float32, measured in one run on the same clips.

    python bench/quantize.py --checkpoint assets/demo-checkpoint --n 24 --seed 626262 \
        --out bench/results/quantize_demo.json
    python bench/quantize.py --checkpoint /tmp/r1o-full --n 2 --force-tokens 64 \
        --out bench/results/quantize_full.json      # full-size random weights (r1omni init-checkpoint)

Both pipelines are loaded in this process (float32, and float32 then `r1omni.quantize.quantize_int8`). After
a one-clip warm-up of each, `--rounds` rounds time `predict` over all the clips, float32 and int8 in turn
(the order alternates per round), so a shared CPU's load falls on both alike; medians are reported.
Agreement: the predicted label (and the whole completion) of int8 vs float32 per clip; differences: the
next-token logits after the prompt (max |diff|, and over the logits' own spread), the teacher-forced
per-token log-probs of the float32 completion under both, and the label distributions. Fresh synthetic
clips (r1omni.synthetic, a seed never used in training). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def first_logits(pipe, media) -> "torch.Tensor":  # noqa: F821
    import torch

    batch = pipe.collate([media], [pipe.prompt_ids()])
    with torch.inference_mode():
        hidden, _ = pipe.hidden_states(**batch, use_cache=False)
        return pipe.model.get_output_embeddings()(hidden[:, -1]).float()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the demo checkpoint)")
    ap.add_argument("--n", type=int, default=24, help="fresh synthetic clips")
    ap.add_argument("--seed", type=int, default=626262)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--force-tokens", type=int, default=None,
                    help="generate exactly this many tokens (random weights never end on their own)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the one-clip warm-up (slow machines)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "quantize_demo.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from r1omni.inference import Pipeline
    from r1omni.synthetic import generate_clips

    load_start = os.getloadavg()[0]
    clips_dir = Path(tempfile.mkdtemp(prefix="quantize-bench-"))
    manifest = generate_clips(clips_dir, args.n, args.seed)
    paths = sorted(str(p) for p in manifest.parent.glob("*.mp4"))
    t0 = time.perf_counter()
    pipes = {"float32": Pipeline.load(args.checkpoint, device="cpu", dtype=torch.float32)}
    load_fp32 = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipes["int8"] = Pipeline.load(args.checkpoint, device="cpu", quantize="int8")
    load_int8 = time.perf_counter() - t0
    kw = {"batch_size": args.batch_size}
    if args.force_tokens:
        for p in pipes.values():
            p.model.generation_config.min_new_tokens = args.force_tokens
        kw["max_new_tokens"] = args.force_tokens
    for p in pipes.values() if not args.no_warmup else ():  # warm-up
        p.predict(paths[:1], **kw)
    times: dict[str, list[float]] = {k: [] for k in pipes}
    preds: dict[str, list] = {}
    for r in range(max(1, args.rounds)):
        order = list(pipes) if r % 2 == 0 else list(pipes)[::-1]
        for name in order:
            t = time.perf_counter()
            preds[name] = pipes[name].predict(paths, **kw)
            times[name].append(time.perf_counter() - t)
            print(json.dumps({name: round(times[name][-1], 2)}), file=sys.stderr, flush=True)
    fp, q8 = preds["float32"], preds["int8"]
    same_label = [a.label == b.label for a, b in zip(fp, q8, strict=True)]
    same_text = [a.text == b.text for a, b in zip(fp, q8, strict=True)]
    prob_diff = [max(abs(a.probs[k] - b.probs[k]) for k in a.probs) for a, b in zip(fp, q8, strict=True)]
    logit_max, logit_rel, top1, lp_diff = [], [], [], []
    for path, a in zip(paths, fp, strict=True):
        m = pipes["float32"].encode(path)
        la, lb = first_logits(pipes["float32"], m), first_logits(pipes["int8"], m)
        logit_max.append(float((la - lb).abs().max()))
        logit_rel.append(float((la - lb).abs().max() / la.std()))
        top1.append(int(la.argmax()) == int(lb.argmax()))
        if a.completion_ids:
            ta = pipes["float32"].token_logprobs([m], [a.completion_ids])[0]
            tb = pipes["int8"].token_logprobs([m], [a.completion_ids])[0]
            lp_diff.append(float((ta - tb).abs().mean()))
    med = {k: statistics.median(v) for k, v in times.items()}
    params = {k: sum(t.numel() * t.element_size() for t in p.model.state_dict().values() if hasattr(t, "numel"))
              for k, p in pipes.items()}
    report = {
        "command": "python bench/quantize.py " + " ".join(sys.argv[1:]),
        "checkpoint": args.checkpoint or "assets/demo-checkpoint",
        "clips": len(paths), "seed": args.seed, "threads": args.threads, "rounds": args.rounds,
        "warmup": not args.no_warmup,
        "force_tokens": args.force_tokens,
        "cpu_note": "CPU shared with other engineers and a training job: absolute seconds are noisy, the "
                    "ratio is of interleaved rounds of one run",
        "load_average_1min": [round(load_start, 1), round(os.getloadavg()[0], 1)],
        "load_s": {"float32": round(load_fp32, 2), "int8": round(load_int8, 2)},
        "predict_s": {k: round(v, 3) for k, v in med.items()},
        "runs_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "int8_speedup": round(med["float32"] / med["int8"], 3),
        "label_agreement": round(sum(same_label) / len(same_label), 4),
        "completion_identical": round(sum(same_text) / len(same_text), 4),
        "label_prob_max_abs_diff": {"mean": round(statistics.mean(prob_diff), 5), "max": round(max(prob_diff), 5)},
        "first_logits_max_abs_diff": {"mean": round(statistics.mean(logit_max), 4), "max": round(max(logit_max), 4)},
        "first_logits_max_abs_diff_over_std": round(statistics.mean(logit_rel), 4),
        "first_token_top1_agreement": round(sum(top1) / len(top1), 4),
        "completion_logprob_mean_abs_diff": round(statistics.mean(lp_diff), 5) if lp_diff else None,
        "state_dict_gib": {k: round(v / 2**30, 3) for k, v in params.items()},
        "peak_rss_gib_both_loaded": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "machine": {"cpus": os.cpu_count()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
