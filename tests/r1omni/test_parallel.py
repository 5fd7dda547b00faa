"""`r1omni eval` data-parallel under `accelerate launch` (2 CPU processes, gloo) = the single-process run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from r1omni.parallel import Shards
from tests.conftest import ROOT


def test_shards_cover_every_item_once_in_order() -> None:
    items = list("abcdefg")
    parts = [Shards(rank=r, size=3).shard(items) for r in range(3)]
    assert sorted(i for part in parts for i, _ in part) == list(range(7))
    assert [len(p) for p in parts] == [3, 2, 2]
    single = Shards()
    assert single.gather(reversed(single.shard(items))) == items


def _eval(tmp: Path, manifest: Path, checkpoint: Path, world: int) -> tuple[dict, list[dict], list[tuple]]:
    out = tmp / f"world{world}"
    out.mkdir()
    args = ["-m", "r1omni", "eval", str(manifest), "--checkpoint", str(checkpoint), "--device", "cpu", "--json",
            "--batch-size", "1", "--max-new-tokens", "6", "--predictions", str(out / "preds.jsonl"),
            "--store", str(out / "store.db")]
    launch = [] if world == 1 else ["-m", "accelerate.commands.launch", "--config_file",
                                    str(ROOT / "training" / "accelerate" / "cpu_2proc.yaml")]
    if world == 2:  # accelerate launch runs a script or a module: `-m r1omni` becomes `--module r1omni`
        args = ["--module", "r1omni", *args[2:]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *launch, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=600)
    # the manifest holds one unreadable clip: exit 2 (torchrun reports a failed rank as 1)
    assert proc.returncode == (2 if world == 1 else 1), proc.stderr[-3000:]
    assert "error: " in proc.stderr and "broken.mp4" in proc.stderr
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1, proc.stdout  # one report, from the main process only
    preds = [json.loads(line) for line in (out / "preds.jsonl").read_text().splitlines()]
    for p in preds:
        p.pop("timings_ms")  # wall-clock times differ from run to run
    with sqlite3.connect(out / "store.db") as db:
        stored = sorted(db.execute("SELECT checkpoint, clip, label_set, result FROM results").fetchall())
    return reports[0], preds, stored


def test_two_process_eval_gives_the_single_process_report_predictions_and_store(tiny_checkpoint, tmp_path) -> None:
    from r1omni.synthetic import generate_clips

    manifest = generate_clips(tmp_path / "clips", 5, seed=21)  # odd: the shards differ in size
    bad = manifest.parent / "broken.mp4"
    bad.write_bytes(b"not a video")
    with manifest.open("a") as fh:
        header = manifest.read_text().splitlines()[0].split(",")
        fh.write(",".join("broken.mp4" if c == "path" else "happy" if c == "label" else "" for c in header) + "\n")
    one = _eval(tmp_path, manifest, tiny_checkpoint, 1)
    two = _eval(tmp_path, manifest, tiny_checkpoint, 2)
    assert one[0] == two[0]
    assert one[0]["datasets"]["all"]["n"] == 5 and len(one[0]["errors"]) == 1
    assert one[1] == two[1] and len(one[1]) == 5
    assert [p["clip"] for p in one[1]] == [p["clip"] for p in two[1]]  # manifest order, not shard order
    assert len(one[2]) == len(two[2]) == 6 and [r[:3] for r in one[2]] == [r[:3] for r in two[2]]
    strip = [{k: v for k, v in json.loads(r[3]).items() if k != "timings_ms"} for r in one[2]]
    assert strip == [{k: v for k, v in json.loads(r[3]).items() if k != "timings_ms"} for r in two[2]]


def test_a_plain_process_is_a_single_shard(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    shards = Shards.from_env("cpu")
    assert (shards.rank, shards.size, shards.device, shards.is_main) == (0, 1, "cpu", True)
