"""Where resident memory goes over many /explain calls: our code, Gradio, or the allocator.

Runs the same Clip-tab explanation N times at one of three levels, in this process, and samples resident
memory every `--every` calls, both as it is and after `gc.collect()` + glibc `malloc_trim(0)` (memory that
trimming gives back was free in the heap, not held by live objects):

* backend  - `Backend.explain_clip` only (decode, model, attribution);
* handler  - the Clip tab's handler (adds the views: plotly figures, highlights, gallery items);
* http     - the launched app driven over loopback by a gradio_client in a child process (adds Gradio's
             preprocess/postprocess, queue, uploads and served files).

It also counts live Python objects by type at the first and last sample (the types that grew most are
listed) and, with --tracemalloc, the source lines whose Python allocations grew most.
Not a test: it reports, it does not judge.

    python bench/app_rss_split.py --level handler --calls 300 --every 50
    python bench/app_rss_split.py --level http --calls 300 --every 50 --trim-each
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT / "assets" / "examples" / "synth_00002.mp4"
ARGS = ("dfew", "greedy", 32, "fast")

DRIVER = r"""
import sys
from gradio_client import Client, handle_file
client = Client(sys.argv[1], verbose=False)
for line in sys.stdin:
    for _ in range(int(line)):
        client.predict(handle_file(sys.argv[2]), "dfew", "greedy", 32, "fast", api_name="/explain")
    print("done", flush=True)
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


_libc = ctypes.CDLL("libc.so.6")


def trim() -> None:
    gc.collect()
    _libc.malloc_trim(0)


def type_counts() -> collections.Counter:
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--level", choices=["backend", "handler", "http"], required=True)
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--trim-each", action="store_true", help="malloc_trim after every call (backend/handler)")
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    work = Path(tempfile.mkdtemp(prefix="r1omni-rss-"))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work / "uploads"))
    import app as app_module
    from r1omni.ui import clip_tab, launch_options

    settings = app_module.parse_args(["--device", "cpu", "--db", str(work / "r.sqlite"),
                                      "--port", str(free_port())])
    demo = app_module.build(settings)
    backend = demo.r1omni_backend
    driver = None
    if args.level == "http":
        demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
        driver = subprocess.Popen([sys.executable, "-c", DRIVER, f"http://127.0.0.1:{settings.port}/", str(CLIP)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})

    def run(n: int) -> None:
        if driver is not None:
            driver.stdin.write(f"{n}\n")
            driver.stdin.flush()
            assert driver.stdout.readline().strip() == "done"
            return
        for _ in range(n):
            if args.level == "backend":
                backend.explain_clip(str(CLIP), label_set=ARGS[0], mode=ARGS[3], max_new_tokens=ARGS[2])
            else:
                clip_tab.explain_clip(backend, str(CLIP), *ARGS)
            if args.trim_each:
                trim()

    import warnings

    warnings.simplefilter("ignore")
    run(args.warmup)
    if args.tracemalloc:
        tracemalloc.start(8)
    gc.collect()
    counts0, snap0 = type_counts(), tracemalloc.take_snapshot() if args.tracemalloc else None
    samples = []
    t0 = time.perf_counter()
    done = 0
    while True:
        raw = rss_mib()
        trim()
        samples.append({"calls": done, "rss_mib": round(raw, 1), "rss_trimmed_mib": round(rss_mib(), 1),
                        "gc_objects": len(gc.get_objects())})
        print(json.dumps(samples[-1]), flush=True)
        if done >= args.calls:
            break
        run(args.every)
        done += args.every
    wall = time.perf_counter() - t0
    grew = (type_counts() - counts0).most_common(12)
    report = {"level": args.level, "calls": args.calls, "warmup": args.warmup, "trim_each": args.trim_each,
              "s_per_call": round(wall / args.calls, 3), "samples": samples, "types_grown": grew,
              "temp_files_tracked": sum(len(s) for s in getattr(demo, "temp_file_sets", [])),
              "upload_dir_files": sum(1 for _ in (work / "uploads").rglob("*") if _.is_file())
              if (work / "uploads").exists() else 0}
    if snap0 is not None:
        stats = tracemalloc.take_snapshot().compare_to(snap0, "traceback")[:8]
        report["tracemalloc_top"] = [{"kib": round(s.size_diff / 1024, 1), "count": s.count_diff,
                                      "where": [str(f) for f in s.traceback.format()[-6:]]} for s in stats]
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if driver is not None:
        driver.stdin.close()
        driver.wait(timeout=30)
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
