"""Peak memory of `r1omni predict` vs the number of clips in the list, and on one 2-hour file.

Each run is its own `python -m r1omni predict ... --json` subprocess (stdout discarded); its peak RSS comes
from the kernel (wait4 ru_maxrss), so it is that process's own. The list is N entries cycling over a few
real clips (../shared/data/real-clips, when present) and synthetic ones; the 2-hour file is generated once
with imageio-ffmpeg's ffmpeg (lavfi: 32x32 grey at 1 fps + a 440 Hz tone, AAC). The model is the tiny
random preset (fast; its media tensors are ~0.25 MB per clip, the real geometry's ~8 MB), 2 new tokens.
`--repo` runs another checkout's code (e.g. a worktree of the commit before a fix) for a before/after.
Not a test: numbers depend on the machine (here: 2 cores shared with other jobs).

    python bench/memory.py --label after --out bench/results/memory.json
    python bench/memory.py --label before --repo /tmp/old-checkout --out bench/results/memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "real-clips"
CACHE = Path(tempfile.gettempdir()) / "r1omni-bench-memory"


def long_file(hours: float) -> Path:
    """A low-resolution file of `hours` (cached): grey 32x32 video at 1 fps and a tone at 16 kHz."""
    import imageio_ffmpeg

    out = CACHE / f"long_{hours:g}h.mp4"
    if out.is_file():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    seconds = str(int(hours * 3600))
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
           "-f", "lavfi", "-i", "color=c=gray:s=32x32:r=1", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000",
           "-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "24k", "-ac", "1", str(out.with_suffix(".tmp.mp4"))]
    subprocess.run(cmd, check=True)
    out.with_suffix(".tmp.mp4").rename(out)
    return out


def short_clips() -> list[Path]:
    real = sorted(p for p in CLIPS.glob("*") if p.suffix.lower() in {".mp4", ".flv"})[:3] if CLIPS.is_dir() else []
    synth_dir = CACHE / "synth"
    if not (synth_dir / "manifest.csv").is_file():
        from r1omni.synthetic import generate_clips

        generate_clips(synth_dir, n=3, seed=5)
    return real + sorted(synth_dir.glob("*.mp4"))


def checkpoint() -> Path:
    out = CACHE / "tiny-checkpoint"
    if not (out / "model.safetensors").is_file():
        from r1omni.checkpoint import init_checkpoint

        init_checkpoint("tiny", out, dtype="float32")
    return out


def run_predict(repo: Path, ckpt: Path, clips: list[Path]) -> dict:
    """Peak RSS (MiB) and wall time of one `r1omni predict` process over `clips`."""
    env = dict(os.environ, PYTHONPATH=str(repo), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    args = [sys.executable, "-m", "r1omni", "predict", *map(str, clips), "--checkpoint", str(ckpt), "--json",
            "--max-new-tokens", "2", "--batch-size", "8", "--device", "cpu"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"predict failed ({code}): {err[-500:]}")
    return {"clips": len(clips), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "wall_s": round(wall, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--label", required=True, help="name of this run in the report (e.g. before, after)")
    p.add_argument("--repo", type=Path, default=ROOT, help="checkout whose code runs (default: this one)")
    p.add_argument("--clips", default="10,100,1000", help="list lengths")
    p.add_argument("--hours", type=float, default=2.0, help="length of the long file")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory.json")
    a = p.parse_args()
    ckpt, shorts, long = checkpoint(), short_clips(), long_file(a.hours)
    commit = subprocess.run(["git", "-C", str(a.repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    lists = []
    for n in map(int, a.clips.split(",")):
        lists.append(run_predict(a.repo, ckpt, [shorts[i % len(shorts)] for i in range(n)]))
        print(a.label, lists[-1], flush=True)
    one = run_predict(a.repo, ckpt, shorts[:1])
    two_hours = run_predict(a.repo, ckpt, [long]) | {"duration_s": a.hours * 3600, "file_mib":
                                                     round(long.stat().st_size / 2**20, 1)}
    print(a.label, "one short clip", one, "long file", two_hours, flush=True)
    span = lists[-1]["clips"] - lists[0]["clips"]
    run = {
        "commit": commit,
        "list": lists,
        "mib_per_1000_clips": round((lists[-1]["peak_rss_mib"] - lists[0]["peak_rss_mib"]) * 1000 / span, 1)
        if span else None,
        "one_short_clip": one,
        "long_file": two_hours,
        "long_over_short": round(two_hours["peak_rss_mib"] / one["peak_rss_mib"], 2),
    }
    report = json.loads(a.out.read_text()) if a.out.is_file() else {}
    report.update({
        "what": "peak RSS of one `r1omni predict --json` process (tiny random checkpoint, batch 8, 2 new tokens, "
                "CPU, 1 thread) vs list length, and on one generated low-res file of the given hours",
        "clips": [str(c.name) for c in shorts],
        "machine": "2 CPU cores shared with ~5 other agents; memory figures are not affected, times are",
    })
    report.setdefault("runs", {})[a.label] = run
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(run, indent=2))


if __name__ == "__main__":
    main()
