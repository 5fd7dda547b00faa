"""Temporal pointing and cost of the timeline methods on the same fresh synthetic clips (demo checkpoint).

    python bench/temporal_methods.py --n 24 --seed 868686 --out bench/results/temporal_methods.json

For each `temporal` method of `r1omni.explain` (occlusion "both" = the default, "occlude", "gradient"), full
mode on the same clips: temporal pointing per modality as bench/faithfulness.py computes it (top frame /
top audio window inside the cue window) and the wall time of explain over that of predict, the commands
interleaved in one run. The default is chosen by pointing (>= 0.9 per modality), not by speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=868686)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="both,occlude,gradient")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "temporal_methods.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from faithfulness import make_clips, modality_and_pointing

    from r1omni.explain import explain
    from r1omni.inference import Pipeline

    rows = make_clips(Path(tempfile.mkdtemp(prefix="temporal-")), args.n, args.seed)
    paths = [r["path"] for r in rows]
    pipe = Pipeline.load(args.checkpoint, device="cpu")
    pipe.predict(paths[:2])
    explain(pipe, paths[:2], mode="full")
    load = [os.getloadavg()[0]]
    t = time.perf_counter()
    pipe.predict(paths)
    predict_s = time.perf_counter() - t
    out = {"command": "python bench/temporal_methods.py " + " ".join(sys.argv[1:]), "clips": len(paths),
           "seed": args.seed, "checkpoint": args.checkpoint or "assets/demo-checkpoint", "threads": args.threads,
           "predict_s": round(predict_s, 2), "methods": {},
           "cpu_note": "CPU shared with other engineers and a training job: seconds are noisy; the ratios are of "
                       "one run"}
    for method in args.methods.split(","):
        t = time.perf_counter()
        exps = explain(pipe, paths, mode="full", temporal=method)
        s = time.perf_counter() - t
        load.append(os.getloadavg()[0])
        point = modality_and_pointing(rows, exps)
        out["methods"][method] = {"explain_s": round(s, 2), "ratio_to_predict": round(s / predict_s, 3),
                                  **{k: point[k] for k in ("pointing", "pointing_video", "pointing_audio",
                                                           "pointing_n", "hit_rate")}}
        print(json.dumps({method: out["methods"][method]}), file=sys.stderr, flush=True)
    out["load_average_1min"] = [round(x, 1) for x in load]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
