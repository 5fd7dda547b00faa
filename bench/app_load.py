"""Bounded load on the running app over loopback: concurrent /explain calls (each answered or refused with the
app's "Busy: N requests are queued for the model; retry in a moment", never any other error) and resident
memory over many sequential calls (the app's process plus its children: the decord audio process).

Launches `python app.py` in a subprocess on a free port (demo checkpoint unless --checkpoint), drives it with
gradio_client, stops it at the end (and on any error or when --deadline-s passes). Writes a JSON report.
Not a test: timings depend on the machine and on what else runs on it.

    python bench/app_load.py                          # 100 concurrent, 500 sequential after 20 warm-up calls
    python bench/app_load.py --concurrent 20 --sequential 50 --out /tmp/small.json
    python bench/app_load.py --queue-size 8 --sequential 0 --out bench/results/app_load_queue8.json  # refusals
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "assets" / "examples" / "synth_00002.mp4"
BUSY_PREFIX = "Busy: "  # the app's own refusal (r1omni/ui/admission.py)
GRADIO_FULL = "queue is full"  # Gradio's fixed refusal: counted apart, it is not the app's message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int, children: bool = True) -> float:
    """Resident memory of the process (and of its children, e.g. the decord audio process) in MiB."""
    import psutil

    proc = psutil.Process(pid)
    procs = [proc] + (proc.children(recursive=True) if children else [])
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # a child that just ended (the audio process is replaced when it grows)
            pass
    return total / 2**20


def start_app(args, port: int, work: Path) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--device", "cpu", "--db",
           str(work / "results.sqlite"), "--queue-size", str(args.queue_size)]
    if args.checkpoint:
        cmd += ["--checkpoint", args.checkpoint]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=(work / "app.log").open("w"))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"app exited with {proc.returncode}; see {work / 'app.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("app did not start within 300 s")


def classify(err: BaseException) -> str:
    msg = str(err)
    if msg.startswith(BUSY_PREFIX):
        return "busy"
    return "gradio_queue_full" if GRADIO_FULL in msg.lower() else "other"


def concurrent_phase(client, n: int, timeout_s: float, explain_args: tuple) -> dict:
    from gradio_client import handle_file

    outcomes: list[tuple[str, float, str]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            job = client.submit(handle_file(str(CLIP)), *explain_args, api_name="/explain")
            job.result(timeout=timeout_s)
            kind, msg = "answered", ""
        except TimeoutError as err:
            kind, msg = "timeout", str(err)
        except Exception as err:  # noqa: BLE001 - classified below
            kind, msg = classify(err), str(err)
        with lock:
            outcomes.append((kind, time.perf_counter() - t0, msg[:200]))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    kinds = ("answered", "busy", "gradio_queue_full", "timeout", "other")
    counts = {k: sum(1 for o in outcomes if o[0] == k) for k in kinds}
    return {"calls": n, "timeout_s": timeout_s, **counts, "wall_s": round(wall, 1),
            "max_latency_s": round(max(o[1] for o in outcomes), 1),
            "busy_messages": sorted({o[2] for o in outcomes if o[0] == "busy"})[:3],
            "other_messages": sorted({o[2] for o in outcomes if o[0] not in ("answered", "busy")})[:5]}


def sequential_phase(client, pid: int, warmup: int, n: int, explain_args: tuple) -> dict:
    from gradio_client import handle_file

    for _ in range(warmup):
        client.predict(handle_file(str(CLIP)), *explain_args, api_name="/explain")
    start = rss_mib(pid)
    samples, errors = [(0, start)], 0
    app_only = [(0, rss_mib(pid, children=False))]
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        try:
            client.predict(handle_file(str(CLIP)), *explain_args, api_name="/explain")
        except Exception:  # noqa: BLE001
            errors += 1
        if i % max(1, n // 10) == 0:
            samples.append((i, rss_mib(pid)))
            app_only.append((i, rss_mib(pid, children=False)))
    end = samples[-1][1]
    return {"warmup_calls": warmup, "calls": n, "errors": errors, "rss_start_mib": round(start, 1),
            "rss_end_mib": round(end, 1), "growth_pct": round(100 * (end - start) / start, 2),
            "rss_samples_mib": [(i, round(r, 1)) for i, r in samples],
            "rss_app_process_only_mib": [(i, round(r, 1)) for i, r in app_only],
            "s_per_call": round((time.perf_counter() - t0) / n, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--concurrent", type=int, default=100)
    p.add_argument("--timeout-s", type=float, default=600.0, help="per concurrent call")
    p.add_argument("--sequential", type=int, default=500, help="0: the concurrent phase only")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--queue-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--deadline-s", type=float, default=3600.0, help="the whole run stops after this")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "app_load.json"))
    args = p.parse_args()
    from gradio_client import Client

    work = Path(tempfile.mkdtemp(prefix="r1omni-load-"))
    port = free_port()
    proc = start_app(args, port, work)
    killer = threading.Timer(args.deadline_s, proc.kill)  # bounded: stops by itself
    killer.start()
    explain_args = ("dfew", "greedy", args.max_new_tokens, "fast")
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, max_workers=args.concurrent + 4)
        client.predict(__import__("gradio_client").handle_file(str(CLIP)), *explain_args, api_name="/explain")
        report = {"checkpoint": args.checkpoint or "demo", "cpu_count": os.cpu_count(), "threads": args.threads,
                  "queue_size": args.queue_size, "max_new_tokens": args.max_new_tokens,
                  "note": "shared machine: other processes compete for the CPU",
                  "concurrent": concurrent_phase(client, args.concurrent, args.timeout_s, explain_args)}
        print(json.dumps(report["concurrent"]), flush=True)
        if args.sequential > 0:
            report["sequential"] = sequential_phase(client, proc.pid, args.warmup, args.sequential, explain_args)
            print(json.dumps(report["sequential"]), flush=True)
    finally:
        killer.cancel()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    c = report["concurrent"]
    clean = c["other"] == 0 and c["timeout"] == 0 and c["gradio_queue_full"] == 0
    return 0 if clean and report.get("sequential", {}).get("growth_pct", 0) < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
