"""Per-stage latency of the inference pipeline (decode, features, towers, prefill, generate), batch 1 vs 8.

Each configuration runs in its own subprocess so its peak RSS is its own. Writes one JSON report with the
ratios computed in the same run. Not a test: numbers depend on the machine.

    python bench/core_speed.py --tiny                      # tiny preset over the real clips
    python bench/core_speed.py --full /tmp/r1omni-full     # full-size random checkpoint (init-checkpoint)
        (writes it first if missing; bf16 and fp32, 2 threads, exactly 64 new tokens)
    python bench/core_speed.py --explain /tmp/r1omni-full --out bench/results/explain_cost_full.json
        (explain cost on the full-size random checkpoint: predict, explain fast, explain full on the same
        clips in one process, fp32, 2 threads, exactly 64 new tokens; writes the checkpoint if missing)
    python bench/core_speed.py --cli --cli-clips 24 --out bench/results/explain_cost_cli.json
        (whole processes: `r1omni predict` vs `r1omni explain` (default mode, and --mode fast) on the same
        fresh synthetic clips, the demo checkpoint, interleaved rounds; load and start-up included)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "real-clips"
# The original R1-Omni code measured on this machine kind with random full-size weights (per clip).
REFERENCE = {
    "bfloat16": {"total_s": 18.0, "audio_tower_s": 7.6, "vision_s": 1.4, "prefill_s": 3.0, "ms_per_token": 95,
                 "peak_gib": 4.1},
    "float32": {"total_s": 31.7, "audio_tower_s": 13.1, "vision_s": 2.1, "prefill_s": 6.3, "ms_per_token": 160,
                "peak_gib": 7.4},
}


def real_clips() -> list[Path]:
    files = sorted(p for p in CLIPS.rglob("*") if p.suffix.lower() in {".mp4", ".flv", ".mp3", ".wav", ".webm"})
    if not files:
        sys.exit(f"no clips under {CLIPS}")
    return files


def worker(checkpoint: str, dtype: str, batch: int, new_tokens: int, threads: int, clips: list[str]) -> dict:
    import torch

    torch.set_num_threads(threads)
    from r1omni import media
    from r1omni.inference import Pipeline

    t0 = time.perf_counter()
    pipe = Pipeline.load(checkpoint, device="cpu", dtype=getattr(torch, dtype))
    load_s = time.perf_counter() - t0
    stages = {"decode": 0.0, "features": 0.0, "towers": 0.0, "prefill": 0.0, "generate": 0.0, "probs": 0.0}
    n_tokens = 0
    for start in range(0, len(clips), batch):
        paths = clips[start : start + batch]
        t = time.perf_counter()
        decoded = [media.decode_clip(p, num_frames=pipe.num_frames) for p in paths]
        stages["decode"] += time.perf_counter() - t
        t = time.perf_counter()
        inputs = [pipe.encode(c) for c in decoded]
        stages["features"] += time.perf_counter() - t
        # Towers (+ projectors and gate) timed on their own; generate() runs them again inside prefill.
        b = pipe.collate(inputs, [pipe.prompt_ids()] * len(inputs))
        backbone = pipe.model.model
        with torch.inference_mode():
            t = time.perf_counter()
            gate = backbone.get_gate_probs(b["gate_input_ids"], b["gate_attention_mask"])
            backbone.get_video_features(b["pixel_values_videos"], gate)
            backbone.get_audio_features(b["input_features"])
            stages["towers"] += time.perf_counter() - t
        timings: dict = {}
        ids, state = pipe.generate(inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, timings=timings,
                                   return_state=True)
        n_tokens += sum(len(i) for i in ids)
        stages["prefill"] += timings["prefill"] / 1000
        stages["generate"] += timings["generate"] / 1000
        texts = [pipe.tokenizer.decode(i, skip_special_tokens=True) for i in ids]
        t = time.perf_counter()
        pipe.label_distribution(inputs, texts, ("happy", "surprise", "neutral", "angry", "disgust", "sad", "fear"),
                                state=state)
        stages["probs"] += time.perf_counter() - t
    n = len(clips)
    # the end-to-end time of predict: the separate towers pass above only splits prefill, it is not counted
    wall = sum(v for k, v in stages.items() if k != "towers")
    stages["prefill"] = max(0.0, stages["prefill"] - stages["towers"])  # prefill of the LM alone
    return {
        "checkpoint": checkpoint,
        "dtype": dtype,
        "batch_size": batch,
        "threads": threads,
        "clips": n,
        "new_tokens_per_clip": n_tokens / n,
        "load_s": round(load_s, 2),
        "per_clip_ms": {k: round(v * 1000 / n, 1) for k, v in stages.items()},
        "per_clip_total_ms": round(wall * 1000 / n, 1),
        "ms_per_new_token": round(stages["generate"] * 1000 / max(1, n_tokens / n - 1) / n, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def explain_worker(checkpoint: str, dtype: str, new_tokens: int, threads: int, clips: list[str],
                   batch: int = 8, modes: tuple = ("predict", "fast", "full"), rounds: int = 1) -> dict:
    """Wall seconds of predict, explain fast and explain full on the same clips (after a one-clip warm-up
    of predict and fast: loading, first-call set-up and the per-checkpoint baselines are not counted).
    With several `rounds`, the commands run in turn each round (order reversed every other round) and the
    median is reported, so a shared CPU's load falls on all of them alike."""
    import torch

    torch.set_num_threads(threads)
    from r1omni.explain import explain
    from r1omni.inference import Pipeline

    pipe = Pipeline.load(checkpoint, device="cpu", dtype=getattr(torch, dtype))
    pipe.model.generation_config.min_new_tokens = new_tokens  # random weights never end on their own
    kw = {"batch_size": batch, "max_new_tokens": new_tokens}
    pipe.predict(clips[:1], **kw)
    explain(pipe, clips[:1], mode="fast", **kw)
    out = {"checkpoint": checkpoint, "dtype": dtype, "threads": threads, "clips": len(clips), "batch_size": batch,
           "new_tokens": new_tokens, "rounds": rounds}
    stages = {}
    runs: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(max(1, rounds)):
        for name in (modes if r % 2 == 0 else modes[::-1]):
            t = time.perf_counter()
            res = pipe.predict(clips, **kw) if name == "predict" else explain(pipe, clips, mode=name, **kw)
            runs[name].append(round(time.perf_counter() - t, 2))
            if name != "predict":
                stages[name] = {k: round(sum(e.timings_ms.get(k, 0) for e in res) / len(res), 1)
                                for k in res[0].timings_ms}
                out[f"{name}_windows"] = [len(e.audio_segments) for e in res]
                out[f"{name}_claims"] = [len(e.claims) for e in res]
            else:
                out["completion_tokens"] = [len(p.completion_ids) for p in res]
            print(json.dumps({name: runs[name][-1], "load": os.getloadavg()[0]}), file=sys.stderr, flush=True)
    for name in modes:
        out[f"{name}_s"] = round(statistics.median(runs[name]), 2)
    out["runs_s"] = runs
    for name in modes:
        if name != "predict" and "predict" in modes:
            out[f"{name}_ratio"] = round(out[f"{name}_s"] / out["predict_s"], 3)
    out["stages_ms_per_clip"] = stages
    out["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return out


def cli_cost(n: int, seed: int, rounds: int, threads: int, checkpoint: str | None) -> dict:
    """Wall seconds of whole `r1omni` processes on the same fresh clips, commands interleaved per round."""
    from r1omni.synthetic import generate_clips

    folder = Path(tempfile.mkdtemp(prefix="cli-cost-"))
    manifest = generate_clips(folder, n, seed)
    clips = sorted(str(p) for p in manifest.parent.glob("*.mp4"))
    ck = ["--checkpoint", checkpoint] if checkpoint else []
    commands = {
        "predict": ["predict", *clips, "--json", *ck],
        "explain": ["explain", *clips, "--json", *ck],
        "explain_fast": ["explain", *clips, "--json", "--mode", "fast", *ck],
    }
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    times: dict[str, list[float]] = {k: [] for k in commands}
    load = []
    for r in range(max(1, rounds)):
        order = list(commands) if r % 2 == 0 else list(commands)[::-1]
        for name in order:
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "r1omni", *commands[name]], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            times[name].append(time.perf_counter() - t)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
            print(json.dumps({name: round(times[name][-1], 2)}), file=sys.stderr, flush=True)
        load.append(os.getloadavg()[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"clips": len(clips), "seed": seed, "rounds": rounds, "threads": threads,
            "checkpoint": checkpoint or "assets/demo-checkpoint",
            "seconds": {k: round(v, 2) for k, v in med.items()},
            "runs_s": {k: [round(t, 2) for t in v] for k, v in times.items()},
            "explain_ratio": round(med["explain"] / med["predict"], 3),
            "explain_fast_ratio": round(med["explain_fast"] / med["predict"], 3),
            "load_average_1min": [round(x, 1) for x in load]}


def run_config(**kw) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(kw)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(kw["threads"])})
    if out.returncode != 0:
        raise SystemExit(f"worker failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny preset over the real clips, batch 1 vs 8")
    ap.add_argument("--full", default=None, help="folder of a full-size random checkpoint (written if missing)")
    ap.add_argument("--full-clips", type=int, default=2, help="clips per full-size configuration")
    ap.add_argument("--explain", default=None, help="full-size checkpoint folder: explain cost vs predict")
    ap.add_argument("--explain-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="predict,fast,full", help="--explain: commands to time")
    ap.add_argument("--rounds", type=int, default=1, help="--explain: interleaved rounds (median reported)")
    ap.add_argument("--cli", action="store_true", help="whole-process r1omni explain vs r1omni predict")
    ap.add_argument("--cli-clips", type=int, default=24)
    ap.add_argument("--cli-seed", type=int, default=737373)
    ap.add_argument("--cli-rounds", type=int, default=2)
    ap.add_argument("--checkpoint", default=None, help="--cli: checkpoint folder (default: the demo)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "core_speed.json"))
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(**json.loads(args.worker))))
        return
    if args.explain_worker:
        print(json.dumps(explain_worker(**json.loads(args.explain_worker))))
        return
    if args.cli:
        report = {"machine": {"cpus": os.cpu_count()},
                  "command": "python bench/core_speed.py " + " ".join(sys.argv[1:]),
                  "run": cli_cost(args.cli_clips, args.cli_seed, args.cli_rounds, args.threads, args.checkpoint)}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return
    clips = [str(p) for p in real_clips()]
    if args.explain:
        full = Path(args.explain)
        if not (full / "config.json").is_file():
            subprocess.run([sys.executable, "-m", "r1omni", "init-checkpoint", "--preset", "r1-omni-0.5b",
                            "--out", str(full)], check=True, cwd=ROOT)
        video_clips = [c for c in clips if not c.endswith(".mp3")][: args.full_clips]
        kw = {"checkpoint": str(full), "dtype": "float32", "new_tokens": 64, "threads": args.threads,
              "clips": video_clips, "modes": tuple(args.modes.split(",")), "rounds": args.rounds}
        cmd = [sys.executable, __file__, "--explain-worker", json.dumps(kw)]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        if done.returncode != 0:
            raise SystemExit("explain worker failed")
        report = {"machine": {"cpus": os.cpu_count(), "threads": args.threads},
                  "command": "python bench/core_speed.py " + " ".join(sys.argv[1:]),
                  "run": json.loads(done.stdout.strip().splitlines()[-1])}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return
    report: dict = {"machine": {"cpus": os.cpu_count(), "threads": args.threads}, "runs": []}
    if args.tiny:
        from r1omni.checkpoint import init_checkpoint

        tiny = Path(tempfile.mkdtemp()) / "tiny"
        init_checkpoint("tiny", tiny)
        for batch in (1, 8):
            report["runs"].append(run_config(checkpoint=str(tiny), dtype="float32", batch=batch, new_tokens=32,
                                             threads=args.threads, clips=clips))
        b1, b8 = report["runs"][-2:]
        report["tiny_batch8_speedup_per_clip"] = round(b1["per_clip_total_ms"] / b8["per_clip_total_ms"], 2)
    if args.full:
        full = Path(args.full)
        if not (full / "config.json").is_file():
            subprocess.run([sys.executable, "-m", "r1omni", "init-checkpoint", "--preset", "r1-omni-0.5b",
                            "--out", str(full)], check=True, cwd=ROOT)
        video_clips = [c for c in clips if not c.endswith(".mp3")][: args.full_clips]
        for dtype in ("bfloat16", "float32"):
            run = run_config(checkpoint=str(full), dtype=dtype, batch=1, new_tokens=64, threads=args.threads,
                             clips=video_clips)
            ref = REFERENCE[dtype]
            run["reference_per_clip_s"] = ref["total_s"]
            run["speedup_vs_reference"] = round(ref["total_s"] * 1000 / run["per_clip_total_ms"], 2)
            run["reference"] = ref
            report["runs"].append(run)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
