"""`r1omni audit export | import | stats` (DESIGN 3.7): the round trip through files, stats JSON, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from r1omni.audit.store import AuditStore
from r1omni.cli import main
from tests.conftest import ROOT
from tests.ui.explain_samples import sample_explain


@pytest.fixture
def audited_db(tmp_path):
    db = tmp_path / "app.sqlite"
    with AuditStore(db) as s:
        pid = s.add_explanation(sample_explain())
        s.put_verdict(pid, 0, "alice", "supported")
        s.put_verdict(pid, 0, "bob", "supported")
        s.put_verdict(pid, 1, "alice", "hallucinated", category="misread cue")
        s.put_verdict(pid, 1, "bob", "supported")
        s.adjudicate(pid, 1, "carol", "hallucinated")
    return db


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_export_import_export_through_the_cli_is_byte_identical(audited_db, tmp_path, capfd):
    one, two, db2 = tmp_path / "one.jsonl", tmp_path / "two.jsonl", tmp_path / "copy.sqlite"
    assert main(["audit", "export", "--db", str(audited_db), "--out", str(one)]) == 0
    assert main(["audit", "import", str(one), "--db", str(db2)]) == 0
    assert main(["audit", "import", str(one), "--db", str(db2)]) == 0
    out = capfd.readouterr().out.splitlines()
    assert json.loads(out[-1]) == {"adjudications": 0, "clip_verdicts": 0, "predictions": 0, "verdicts": 0}
    assert main(["audit", "export", "--db", str(db2), "--out", str(two)]) == 0
    assert two.read_bytes() == one.read_bytes()
    for fmt, out in (("csv", tmp_path / "v.csv"), ("hf", tmp_path / "hf")):
        assert main(["audit", "export", "--db", str(audited_db), "--out", str(out), "--format", fmt]) == 0
        assert out.exists()
    assert len((tmp_path / "v.csv").read_text().splitlines()) == 1 + 4


def test_stats_json_in_a_real_process(audited_db):
    res = subprocess.run([sys.executable, "-m", "r1omni", "audit", "stats", "--db", str(audited_db), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    assert set(st) == {"predictions", "claims", "verdicts", "annotators", "kappa", "alpha", "flags_vs_majority"}
    assert (st["predictions"], st["claims"], st["verdicts"], st["annotators"]) == (1, 2, 4, 2)
    # alice s,h vs bob s,s: p_o = 1/2, p_e = (1/2)(1) = 1/2 -> kappa 0
    assert st["kappa"] == {"alice|bob": 0.0}
    # claim 1 flagged ("cites audio ...") and adjudicated hallucinated; claim 0 unflagged, majority supported
    assert st["flags_vs_majority"] == {"precision": 1.0, "recall": 1.0, "n": 2}


@pytest.mark.parametrize("args, message", [
    (["audit", "stats", "--db", "{tmp}/missing.sqlite"], "does not exist"),
    (["audit", "import", "{tmp}/missing.jsonl", "--db", "{tmp}/x.sqlite"], "does not exist"),
    (["audit", "import", "{tmp}/bad.jsonl", "--db", "{tmp}/x.sqlite"], "bad.jsonl line 1"),
    (["audit", "export", "--db", "{db}", "--out", "{tmp}/no/such/dir/x.jsonl"], "does not exist"),
    (["audit", "export", "--db", "{db}", "--out", "{tmp}/x", "--format", "xml"], "invalid choice"),
    (["audit", "export", "--db", "{tmp}/notadb.sqlite", "--out", "{tmp}/x.jsonl"], "cannot open audit database"),
    (["audit"], "required"),
])
def test_bad_input_exits_2_with_one_line(args, message, audited_db, tmp_path, capfd):
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    (tmp_path / "notadb.sqlite").write_bytes(b"this is not a database" * 100)
    args = [a.format(tmp=tmp_path, db=audited_db) for a in args]
    assert main(args) == 2
    assert message in _one_error_line(capfd.readouterr().err)
    assert not (tmp_path / "x.sqlite").exists()  # a bad import file leaves no database behind
