"""Real processes on a real SQLite file: a writer killed with SIGKILL loses no acknowledged verdict, and two
writer processes on one item never overwrite each other (the stale one is refused)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from r1omni.audit.store import AuditStore
from tests.ui.explain_samples import sample_explain

ROOT = Path(__file__).resolve().parents[3]

WRITER = r"""
import sys
from r1omni.audit.store import AuditStore
store = AuditStore(sys.argv[1])
pid, me = sys.argv[2], sys.argv[3]
verdicts = ("supported", "hallucinated", "unsure")
n = 0
while True:  # keep changing my verdicts; print an acknowledgement only after the write returned
    claim = n % 2
    rec = store.put_verdict(pid, claim, me, verdicts[n % 3], note=f"write {n}", expected_version=n // 2)
    print(f"ack {claim} {rec['version']} {rec['verdict']} write {n}", flush=True)
    n += 1
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_sigkill_mid_session_loses_no_acknowledged_verdict(tmp_path):
    db = tmp_path / "audit.sqlite"
    with AuditStore(db) as s:
        pid = s.add_explanation(sample_explain())
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), pid, "alice"], stdout=subprocess.PIPE,
                            text=True, env=_env(), cwd=ROOT)
    acks = []
    deadline = time.monotonic() + 60
    while len(acks) < 40 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acks.append(line.split())
    os.kill(proc.pid, signal.SIGKILL)  # mid-session: it is writing its next verdict right now
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(acks) >= 40, acks
    with AuditStore(db) as s:
        item = s.item(pid)
        log = s.log()
    # every acknowledged write is in the log, in order, with its version and verdict
    logged = [(r["claim_idx"], r["version"], r["verdict"], r["note"]) for r in log]
    for a in acks:
        assert (int(a[1]), int(a[2]), a[3], f"write {a[5]}") in logged
    # and the current verdict of each claim is at least as new as the last acknowledged one
    for claim in (0, 1):
        last = max(int(a[2]) for a in acks if int(a[1]) == claim)
        (v,) = [v for v in item["claims"][claim]["verdicts"] if v["annotator"] == "alice"]
        assert v["version"] >= last


TWO_WRITERS = r"""
import sys
from r1omni.audit.store import AuditStore, StaleWriteError
store = AuditStore(sys.argv[1])
pid, verdict = sys.argv[2], sys.argv[3]
loaded = store.item(pid)
base = next((v["version"] for v in loaded["claims"][0]["verdicts"] if v["annotator"] == "alice"), 0)
print("loaded", base, flush=True)
sys.stdin.readline()  # the test says go once both have loaded
try:
    rec = store.put_verdict(pid, 0, "alice", verdict, expected_version=base, item_version=loaded["version"])
    print("saved", rec["version"], flush=True)
except StaleWriteError as err:
    print("stale", err, flush=True)
"""


def test_two_writer_processes_on_one_item_one_wins_the_other_is_told(tmp_path):
    db = tmp_path / "audit.sqlite"
    with AuditStore(db) as s:
        pid = s.add_explanation(sample_explain())
    procs = [subprocess.Popen([sys.executable, "-c", TWO_WRITERS, str(db), pid, v], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
             for v in ("supported", "hallucinated")]
    assert [p.stdout.readline().split() for p in procs] == [["loaded", "0"]] * 2  # both loaded version 0
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120) for p in procs]
    lines = [o[0].strip() for o in outs]
    assert sorted(line.split()[0] for line in lines) == ["saved", "stale"], (lines, [o[1][-500:] for o in outs])
    winner = ("supported", "hallucinated")[[line.startswith("saved") for line in lines].index(True)]
    stale = next(line for line in lines if line.startswith("stale"))
    assert "changed since you loaded it" in stale and "not saved" in stale
    with AuditStore(db) as s:
        (v,) = s.item(pid)["claims"][0]["verdicts"]
        assert (v["verdict"], v["version"]) == (winner, 1)  # the acknowledged write stands, untouched
        assert [json.dumps(r["verdict"]) for r in s.log()] == [json.dumps(winner)]
