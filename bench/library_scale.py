"""Library at scale: open + filter + page + one batch on a generated library of 15,000 clips.

The library is 15,000 hard links to the example clips (real MP4 files, no extra disk) in 150 folders, with a
manifest CSV giving labels. Measures, through the Library tab's own handlers and a real SQLite store: a cold
open (durations probed for PROBE_BUDGET_S, the rest in the background), the background probe, a warm open
(durations and results from the store), filters, a page turn, one batch of --batch-size clips on the model,
and memory (RSS). For comparison it times probing a sample of files, i.e. what every open cost before the
cache. Writes bench/results/library_scale.json. Not a test: numbers depend on the machine.

    python bench/library_scale.py [--n 15000] [--batch-size 8] [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "assets" / "examples"


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def make_library(folder: Path, n: int) -> Path:
    with (EXAMPLES / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = rows[i % len(rows)]
        rel = Path(f"part_{i // 100:03d}") / f"clip_{i:05d}.mp4"
        (folder / rel.parent).mkdir(exist_ok=True)
        os.link(EXAMPLES / src["path"], folder / rel)
        out.append({"path": str(rel), "label": src["label"]})
    with (folder / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label"])
        w.writeheader()
        w.writerows(out)
    return folder


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, round(time.perf_counter() - t0, 3)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=15000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--checkpoint", default=None, help="default: the demo checkpoint")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "library_scale.json"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(2)
    from r1omni.inference import Pipeline
    from r1omni.library_store import LibraryStore, probe_duration
    from r1omni.ui import library_tab
    from r1omni.ui.backend import Backend

    work = Path(tempfile.mkdtemp(prefix="r1omni-libscale-"))
    lib, t_make = timed(make_library, work / "lib", args.n)
    store = LibraryStore(work / "results.sqlite")
    pipe = Pipeline.load(args.checkpoint, device="cpu")
    backend = Backend(pipe, store, lib, batch_size=args.batch_size)
    rss0 = rss_mib()
    report: dict = {"clips": args.n, "batch_size": args.batch_size, "checkpoint": backend.title,
                    "cpu_count": os.cpu_count(), "torch_threads": 2,
                    "note": "shared machine: other processes compete for the CPU", "make_library_s": t_make}

    sample = sorted(lib.rglob("*.mp4"))[:300]
    _, t_probe = timed(lambda: [probe_duration(f) for f in sample])
    report["probe_ms_per_file"] = round(1000 * t_probe / len(sample), 2)
    report["old_open_estimate_s"] = round(t_probe / len(sample) * args.n, 1)  # probe every file on every open

    (state, table, status, metrics, *_), t = timed(library_tab.open_clips, backend, ".", "dfew")
    report["cold_open_s"] = t
    report["cold_open_rows_sent"] = len(table)
    t0 = time.perf_counter()
    while True:  # the background probe fills the duration cache
        known = len(store.durations([c.key for c in state["clips"]]))
        if known >= args.n or time.perf_counter() - t0 > 1800:
            break
        time.sleep(1.0)
    report["background_probe_s"] = round(time.perf_counter() - t0, 1)
    report["durations_cached"] = known

    (state, table, status, metrics, *_), t = timed(library_tab.open_clips, backend, ".", "dfew")
    report["warm_open_s"] = t
    report["warm_open_rows_sent"] = len(table)
    report["durations_known_after_warm_open"] = sum(1 for c in state["clips"] if c.duration_s is not None)
    f = library_tab.filter_rows
    (tab, text), report["filter_label_s"] = timed(f, backend, state, "dfew", "happy", "all", "all", "")
    report["filter_label_rows_sent"], report["filter_label_text"] = len(tab), text
    (tab, text), report["filter_search_s"] = timed(f, backend, state, "dfew", "all", "all", "all", "part_042/")
    report["filter_search_rows_sent"], report["filter_search_text"] = len(tab), text
    (tab, text), report["page_turn_s"] = timed(f, backend, state, "dfew", "all", "all", "all", "", 77)
    report["page_turn_text"] = text

    gen = library_tab.run_batch(backend, state, "dfew", 64)
    _, report["one_batch_s"] = timed(next, gen)
    gen.close()
    report["stored_after_one_batch"] = len(state["results"])
    (tab, text), report["filter_after_batch_s"] = timed(f, backend, state, "dfew", "all", "all", "not run", "")
    report["not_run_after_batch"] = text
    report["rss_mib_before_open"] = round(rss0, 1)
    report["rss_mib_after"] = round(rss_mib(), 1)
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    store.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
