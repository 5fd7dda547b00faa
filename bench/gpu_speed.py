"""GPU check + benchmark for a lent accelerator: CUDA path correctness and full-size speed.

Runs on a machine with a CUDA GPU and no decoders (no decord/PyAV needed): clips are built in memory as
`r1omni.media.Clip` objects (random-noise frames and audio), so only the model path is measured.

    python bench/gpu_speed.py --out bench/results/gpu_speed.json

1. writes a full-size random checkpoint (`init_checkpoint("r1-omni-0.5b")`, bf16) unless --checkpoint is given;
2. loads it on cuda (bf16), checks batched == one-by-one greedy completions and that explain runs;
3. measures per-clip ms (towers, prefill, generate, probs) at batch 1 and 8 with exactly 64 new tokens,
   and explain (fast and full) vs predict in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fake_clip(i: int, num_frames: int, seconds: float = 6.0):
    import numpy as np

    from r1omni.media import Clip

    rng = np.random.default_rng(i)
    frames = rng.integers(0, 255, size=(num_frames, 360, 480, 3), dtype=np.uint8)
    audio = (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
    times = [seconds * (k + 0.5) / num_frames for k in range(num_frames)]
    return Clip(path=f"fake{i}.mp4", frames=frames, frame_indices=list(range(num_frames)), frame_times_s=times,
                audio=audio, duration_s=seconds, has_video=True, has_audio=True, notices=[])


def timed(fn):
    import torch

    torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu_speed.json"))
    args = ap.parse_args()

    import torch

    from r1omni.checkpoint import init_checkpoint
    from r1omni.explain import explain
    from r1omni.inference import Pipeline

    report: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    ckpt = args.checkpoint
    if ckpt is None:
        ckpt = str(Path(tempfile.mkdtemp()) / "full")
        _, ms = timed(lambda: init_checkpoint("r1-omni-0.5b", ckpt))
        report["init_checkpoint_s"] = round(ms / 1000, 1)
    pipe, ms = timed(lambda: Pipeline.load(ckpt, device="cuda", dtype=torch.bfloat16))
    report["load_s"] = round(ms / 1000, 1)
    media = [pipe.encode(fake_clip(i, pipe.num_frames)) for i in range(args.clips)]

    # correctness on CUDA: batched greedy == one by one (bf16: compare tokens, allow rare ties to differ)
    batched = pipe.generate(media[:4], max_new_tokens=16)
    single = [pipe.generate([m], max_new_tokens=16)[0] for m in media[:4]]
    same = sum(b == s for b, s in zip(batched, single, strict=True))
    report["batched_equals_single"] = f"{same}/4"

    # speed: exactly 64 new tokens, batch 1 vs 8, per clip
    mm = pipe.model.model
    for bs in (1, 8):
        stages = {"towers": 0.0, "prefill": 0.0, "generate": 0.0, "probs": 0.0, "total": 0.0}
        for start in range(0, args.clips, bs):
            chunk = media[start : start + bs]
            b = pipe.collate(chunk, [pipe.prompt_ids()] * len(chunk))
            with torch.inference_mode():
                _, t_tow = timed(lambda b=b: (mm.get_video_features(b["pixel_values_videos"],
                                                                    mm.get_gate_probs(b["gate_input_ids"],
                                                                                      b["gate_attention_mask"])),
                                              mm.get_audio_features(b["input_features"])))
            timings: dict = {}
            t0 = time.perf_counter()
            preds = pipe.predict(chunk, max_new_tokens=64, batch_size=bs)
            torch.cuda.synchronize()
            total = (time.perf_counter() - t0) * 1000
            timings = preds[0].timings_ms
            stages["towers"] += t_tow
            stages["prefill"] += timings.get("prefill", 0) * len(chunk) - t_tow
            stages["generate"] += timings.get("generate", 0) * len(chunk)
            stages["probs"] += timings.get("probs", 0) * len(chunk)
            stages["total"] += total
        report[f"batch{bs}_per_clip_ms"] = {k: round(v / args.clips, 1) for k, v in stages.items()}
    report["batch8_speedup_per_clip"] = round(report["batch1_per_clip_ms"]["total"]
                                              / report["batch8_per_clip_ms"]["total"], 2)

    # explain vs predict, same clips, same run
    sub = media[:8]
    _, t_pred = timed(lambda: pipe.predict(sub, max_new_tokens=64, batch_size=8))
    for mode in ("fast", "full"):
        res, t_exp = timed(lambda mode=mode: explain(pipe, sub, mode=mode, max_new_tokens=64, batch_size=8))
        errors = [r for r in res if not hasattr(r, "modality")]
        report[f"explain_{mode}_vs_predict"] = round(t_exp / t_pred, 2)
        report[f"explain_{mode}_errors"] = len(errors)
    report["predict_8_clips_ms"] = round(t_pred, 1)
    report["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
