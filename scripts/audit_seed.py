"""Fill an audit store with explained predictions, so annotators have something to audit at once.

    .venv/bin/python scripts/audit_seed.py --db runs/library.sqlite [--clips assets/examples] [--n 10]

Explains clips of a folder (its manifest's order, else sorted) with the checkpoint (default: the demo) in
'full' mode and stores each as an audit item under its path relative to the folder; with --n larger than
the number of clips there and the folder new or empty, it first writes that many cue-controlled
synthetic clips (`r1omni synth`) into it.
Then start the app on the same folder and database:
`bash scripts/app.sh --library assets/examples --db runs/library.sqlite --auth-file users.txt`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def clips_of(folder: Path, n: int) -> list[Path]:
    found = sorted(p for p in folder.glob("*.mp4"))
    if len(found) < n:
        if found:
            raise SystemExit(f"error: '{folder}' holds {len(found)} clips, fewer than --n {n}; give a new or empty "
                             "--clips folder to synthesize them")
        from r1omni.synthetic import generate_clips

        generate_clips(folder, n=n, seed=0)
        found = sorted(p for p in folder.glob("*.mp4"))
    return found[:n]


def seed(db: Path, folder: Path, n: int, checkpoint: str | None = None, mode: str = "full") -> list[str]:
    """Explain n clips of `folder` and store them as audit items; returns the prediction ids."""
    from r1omni.audit.store import AuditStore
    from r1omni.explain import explain
    from r1omni.inference import Pipeline

    clips = clips_of(folder, n)
    pipe = Pipeline.load(checkpoint, device="cpu")
    results = explain(pipe, [str(c) for c in clips], mode=mode, label_set="dfew")
    ids = []
    with AuditStore(db) as store:
        for clip, res in zip(clips, results, strict=True):
            d = res.to_dict()
            if "error" in d:
                print(f"skipped {clip.name}: {d['error']}", file=sys.stderr)
                continue
            ids.append(store.add_explanation({**d, "file": str(clip.resolve())}, clip=clip.name,
                                             settings={"source": "audit_seed"}))
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=str(ROOT / "runs" / "library.sqlite"))
    ap.add_argument("--clips", default=str(ROOT / "assets" / "examples"))
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--mode", choices=["full", "fast"], default="full")
    args = ap.parse_args()
    ids = seed(Path(args.db), Path(args.clips), args.n, args.checkpoint, args.mode)
    print(f"{len(ids)} audit items in {args.db}")


if __name__ == "__main__":
    main()
