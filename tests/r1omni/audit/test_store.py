"""The audit store on a real SQLite file: migrations, versions (stale writes refused), the log, records."""

from __future__ import annotations

import json
import sqlite3

import pytest

from r1omni.audit import records
from r1omni.audit.store import MIGRATIONS, SCHEMA_VERSION, AuditStore, StaleWriteError, migrate, prediction_id
from r1omni.errors import UsageError
from tests.ui.explain_samples import sample_explain


@pytest.fixture
def store(tmp_path):
    with AuditStore(tmp_path / "audit.sqlite") as s:
        yield s


def test_fresh_file_is_wal_at_the_latest_schema(tmp_path):
    AuditStore(tmp_path / "a.sqlite").close()
    con = sqlite3.connect(tmp_path / "a.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r[0] for r in con.execute("SELECT version FROM audit_schema_version ORDER BY version")] == \
        list(range(1, SCHEMA_VERSION + 1))
    cols = {r[1] for r in con.execute("PRAGMA table_info(audit_claims)")}
    assert "self_consistency" in cols


def test_migration_from_version_1_keeps_every_verdict(tmp_path):
    """A file written by the first layout (annotator names inline, no versions) opens at the latest version
    with its annotations moved to the annotators table, versions 1, and nothing lost."""
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    assert migrate(con, target=1) == 1
    text = "<think>The brow is low. The voice is loud.</think><answer>angry</answer>"
    con.execute("INSERT INTO audit_clips (path) VALUES ('a.mp4')")
    con.execute("INSERT INTO audit_runs (checkpoint, settings) VALUES ('demo', '{}')")
    con.execute("INSERT INTO audit_predictions VALUES ('p1', 1, 1, 'dfew', ?, 'angry', NULL, '2026-01-01T00:00:00Z')",
                (text,))
    for i, (a, b) in enumerate([(7, 23), (24, 42)]):
        con.execute("INSERT INTO audit_claims VALUES ('p1', ?, ?, ?, ?, '[\"video\"]', '[]', NULL)",
                    (i, a, b, text[a:b]))
    con.execute("INSERT INTO audit_annotations VALUES ('p1', 0, 'alice', 'supported', 'ok', '2026-01-02T00:00:00Z')")
    con.execute("INSERT INTO audit_annotations VALUES ('p1', 1, 'alice', 'hallucinated', NULL, "
                "'2026-01-02T00:01:00Z')")
    con.execute("INSERT INTO audit_annotations VALUES ('p1', 1, 'bob', 'wrong', NULL, '2026-01-03T00:00:00Z')")
    con.close()

    with AuditStore(path) as s:
        item = s.item("p1")
        got = [(c["index"], v["annotator"], v["verdict"], v["version"], v["note"]) for c in item["claims"]
               for v in c["verdicts"]]
        assert got == [(0, "alice", "supported", 1, "ok"), (1, "alice", "hallucinated", 1, None),
                       (1, "bob", "unsure", 1, None)]  # an unknown v1 verdict becomes 'unsure', not dropped
        assert s.annotators() == ["alice", "bob"]
        assert len(s.log()) == 3
        # and the migrated verdicts are versioned: a write based on version 0 is stale now
        with pytest.raises(StaleWriteError):
            s.put_verdict("p1", 0, "alice", "hallucinated", expected_version=0)
        assert s.put_verdict("p1", 0, "alice", "hallucinated", expected_version=1)["version"] == 2
    con = sqlite3.connect(path)
    assert con.execute("SELECT MAX(version) FROM audit_schema_version").fetchone()[0] == len(MIGRATIONS)


def test_a_file_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "new.sqlite"
    AuditStore(path).close()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("INSERT INTO audit_schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    con.close()
    with pytest.raises(UsageError, match="newer than this program"):
        AuditStore(path)


def test_stale_writes_are_refused_and_never_overwrite(store):
    pid = store.add_explanation(sample_explain())
    first = store.put_verdict(pid, 0, "alice", "supported", expected_version=0)
    # a second tab of alice loaded the claim before the first write (version 0) and now saves
    with pytest.raises(StaleWriteError, match="changed since you loaded it"):
        store.put_verdict(pid, 0, "alice", "hallucinated", expected_version=0)
    assert store.item(pid)["claims"][0]["verdicts"][0]["verdict"] == "supported"
    assert first["version"] == 1
    # adjudications too: the second adjudicator based on no decision is refused
    store.adjudicate(pid, 0, "carol", "supported", expected_version=0)
    with pytest.raises(StaleWriteError, match="adjudicated meanwhile by carol"):
        store.adjudicate(pid, 0, "dave", "hallucinated", expected_version=0)
    assert store.item(pid)["claims"][0]["adjudication"]["adjudicator"] == "carol"
    # the annotator's own verdict is untouched by the adjudication
    assert store.item(pid)["claims"][0]["verdicts"][0]["verdict"] == "supported"


def test_new_evidence_bumps_the_item_and_older_loads_are_stale(store):
    res = sample_explain()
    pid = store.add_explanation(res)
    loaded = store.item(pid)["version"]
    res["claims"][0]["support"] = {"video": 0.01}
    assert store.add_explanation(res) == pid
    assert store.item(pid)["version"] == loaded + 1
    with pytest.raises(StaleWriteError, match="updated since you loaded it"):
        store.put_verdict(pid, 0, "alice", "supported", item_version=loaded)
    assert store.counts()["verdicts"] == 0


def test_bad_input_is_one_line_and_writes_nothing(store):
    pid = store.add_explanation(sample_explain())
    for kwargs, msg in (({"verdict": "maybe"}, "not one of"), ({"verdict": "supported", "category": "typo"},
                                                               "category 'typo'")):
        with pytest.raises(UsageError, match=msg):
            store.put_verdict(pid, 0, "alice", **kwargs)
    with pytest.raises(UsageError, match="annotator name"):
        store.put_verdict(pid, 0, "  ", "supported")
    with pytest.raises(UsageError, match=r"has no claim 10 \(index 9\)"):  # claims are numbered from 1
        store.put_verdict(pid, 9, "alice", "supported")
    assert store.counts()["verdicts"] == 0 and store.log() == []


def test_changed_minds_are_kept_in_the_log(store):
    pid = store.add_explanation(sample_explain())
    store.put_verdict(pid, 1, "alice", "supported")
    store.put_verdict(pid, 1, "alice", "hallucinated", category="misread cue", expected_version=1)
    assert [(r["verdict"], r["version"]) for r in store.log()] == [("supported", 1), ("hallucinated", 2)]
    v = store.item(pid)["claims"][1]["verdicts"][0]
    assert (v["verdict"], v["category"], v["version"]) == ("hallucinated", "misread cue", 2)


def _audit(store):
    pid = store.add_explanation(sample_explain())
    store.put_verdict(pid, 0, "alice", "supported", note="smile is visible")
    store.put_verdict(pid, 0, "bob", "hallucinated", category="fabricated cue", note="ünïcode ✓")
    store.put_verdict(pid, 1, "alice", "hallucinated", category="misread cue")
    store.put_verdict(pid, 1, "alice", "unsure", expected_version=1)
    store.put_clip_verdict(pid, "alice", "hallucinated", note="one claim wrong")
    store.adjudicate(pid, 0, "carol", "supported", note="see frame 1")
    other = sample_explain(label="sad")
    other["prediction"]["text"] = other["prediction"]["text"].replace("happy</answer>", "sad</answer>")
    store.add_explanation(other)  # never audited: not exported
    return pid


def test_export_import_export_is_byte_identical_and_import_is_idempotent(tmp_path):
    a = AuditStore(tmp_path / "a.sqlite")
    pid = _audit(a)
    records.export(a, tmp_path / "one.jsonl")
    lines = (tmp_path / "one.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert list(rec) == sorted(rec) and rec["prediction_id"] == pid
    assert all(rec["completion"][c["start"]:c["end"]] == c["text"] for c in rec["claims"])
    assert [v["annotator"] for v in rec["claims"][0]["verdicts"]] == ["alice", "bob"]
    assert rec["claims"][1]["verdicts"][0]["version"] == 2
    assert rec["adjudications"][0]["claim_index"] == 0 and rec["clip_verdicts"][0]["verdict"] == "hallucinated"

    b = AuditStore(tmp_path / "b.sqlite")
    first = records.import_file(b, tmp_path / "one.jsonl")
    assert first == {"predictions": 1, "verdicts": 3, "clip_verdicts": 1, "adjudications": 1}
    before = b.counts(), len(b.log())
    assert records.import_file(b, tmp_path / "one.jsonl") == dict.fromkeys(first, 0)
    assert (b.counts(), len(b.log())) == before
    records.export(b, tmp_path / "two.jsonl")
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    # importing into the original store changes nothing either
    assert records.import_file(a, tmp_path / "two.jsonl") == dict.fromkeys(first, 0)


def test_import_takes_the_higher_version(tmp_path):
    a = AuditStore(tmp_path / "a.sqlite")
    pid = _audit(a)
    records.export(a, tmp_path / "old.jsonl")
    a.put_verdict(pid, 0, "bob", "supported", expected_version=1)
    records.export(a, tmp_path / "new.jsonl")
    b = AuditStore(tmp_path / "b.sqlite")
    records.import_file(b, tmp_path / "new.jsonl")
    assert records.import_file(b, tmp_path / "old.jsonl")["verdicts"] == 0  # older versions lose
    bob = [v for v in b.item(pid)["claims"][0]["verdicts"] if v["annotator"] == "bob"][0]
    assert (bob["verdict"], bob["version"]) == ("supported", 2)


def test_import_refuses_a_bad_file_whole(tmp_path):
    a = AuditStore(tmp_path / "a.sqlite")
    _audit(a)
    records.export(a, tmp_path / "x.jsonl")
    rec = json.loads((tmp_path / "x.jsonl").read_text())
    good = json.loads(json.dumps(rec))
    rec["claims"][0]["verdicts"][0]["verdict"] = "maybe"
    (tmp_path / "bad.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(rec) + "\n")
    b = AuditStore(tmp_path / "b.sqlite")
    with pytest.raises(UsageError, match=r"bad.jsonl line 2: claim 0: verdict 'maybe'"):
        records.import_file(b, tmp_path / "bad.jsonl")
    assert b.counts()["predictions"] == 0  # nothing of the file was taken


def test_prediction_ids_are_stable_across_stores(tmp_path):
    res = sample_explain()
    ids = [AuditStore(tmp_path / f"{n}.sqlite").add_explanation(res) for n in ("a", "b")]
    assert ids[0] == ids[1] == prediction_id("clip.mp4", "tiny", "fast" and "dfew", res["prediction"]["text"])


def test_csv_has_one_row_per_claim_verdict_and_hf_loads(tmp_path):
    import csv

    from datasets import load_from_disk

    a = AuditStore(tmp_path / "a.sqlite")
    _audit(a)
    records.export(a, tmp_path / "v.csv", "csv")
    rows = list(csv.DictReader((tmp_path / "v.csv").open(encoding="utf-8")))
    assert [(r["claim_index"], r["annotator"], r["verdict"], r["adjudicated_verdict"]) for r in rows] == [
        ("0", "alice", "supported", "supported"), ("0", "bob", "hallucinated", "supported"),
        ("1", "alice", "unsure", "")]
    records.export(a, tmp_path / "hf", "hf")
    ds = load_from_disk(str(tmp_path / "hf"))
    assert len(ds) == 1 and ds[0]["claims"][0]["verdicts"][1]["note"] == "ünïcode ✓"


def test_evidence_within_its_display_rounding_keeps_the_item_version(store):
    """Sending the same prediction again with support differing below what the tab shows (3 decimals of
    nats, whole percents of share, seek times to 2 decimals) keeps the version: annotators' open items stay
    valid; a visible change (or a new flag) bumps it."""
    res = sample_explain()
    res["claims"][0]["support"] = {"share": {"video": 0.7512}, "cited": {"video": 0.41234}}
    pid = store.add_explanation(res)
    loaded = store.item(pid)["version"]
    again = json.loads(json.dumps(res))
    again["claims"][0]["support"] = {"share": {"video": 0.7538}, "cited": {"video": 0.41231}}
    again["frames"][1]["score"] += 0.00004
    again["audio_segments"][0]["start_s"] += 0.0004
    assert store.add_explanation(again) == pid
    assert store.item(pid)["version"] == loaded
    assert store.item(pid)["claims"][0]["support"]["cited"]["video"] == 0.41231  # stored, just not a new version
    assert store.put_verdict(pid, 0, "alice", "supported", item_version=loaded)["version"] == 1
    again["claims"][0]["support"]["cited"]["video"] = 0.4131  # shown as +0.413 instead of +0.412
    store.add_explanation(again)
    assert store.item(pid)["version"] == loaded + 1
    again["claims"][0]["flag"] = "cue not present"
    store.add_explanation(again)
    assert store.item(pid)["version"] == loaded + 2
    again["frames"][1]["score"] += 0.01  # the evidence buttons show another score
    store.add_explanation(again)
    assert store.item(pid)["version"] == loaded + 3


def test_an_adjudicator_never_decides_a_claim_they_judged(store):
    pid = store.add_explanation(sample_explain())
    store.put_verdict(pid, 0, "alice", "supported")
    store.put_verdict(pid, 0, "bob", "hallucinated")
    with pytest.raises(UsageError, match="alice judged claim 1 of"):
        store.adjudicate(pid, 0, "alice", "supported")
    assert store.item(pid)["claims"][0]["adjudication"] is None and len(store.log()) == 2
    assert store.adjudicate(pid, 0, "carol", "supported")["version"] == 1
    with pytest.raises(UsageError, match="carol adjudicated claim 1 of"):  # nor judges it after deciding
        store.put_verdict(pid, 0, "carol", "supported")
    assert [v["annotator"] for v in store.item(pid)["claims"][0]["verdicts"]] == ["alice", "bob"]


def test_every_decision_is_exported_with_its_time_and_the_latest_counts(tmp_path):
    a = AuditStore(tmp_path / "a.sqlite")
    pid = _audit(a)  # carol decided claim 1 "supported"
    a.adjudicate(pid, 0, "dave", "hallucinated", category="misread cue", expected_version=1)
    a.adjudicate(pid, 1, "carol", "unsure")
    records.export(a, tmp_path / "one.jsonl")
    rec = json.loads((tmp_path / "one.jsonl").read_text(encoding="utf-8"))
    got = [(d["claim_index"], d["adjudicator"], d["verdict"]) for d in rec["adjudications"]]
    assert got == [(0, "carol", "supported"), (0, "dave", "hallucinated"), (1, "carol", "unsure")]
    times = [d["created_at"] for d in rec["adjudications"]]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
    assert a.item(pid)["claims"][0]["adjudication"]["adjudicator"] == "dave"  # the latest counts
    records.export(a, tmp_path / "v.csv", "csv")
    import csv

    rows = list(csv.DictReader((tmp_path / "v.csv").open(encoding="utf-8")))
    assert {(r["claim_index"], r["claim"], r["adjudicated_verdict"]) for r in rows} == \
        {("0", "1", "hallucinated"), ("1", "2", "unsure")}
    b = AuditStore(tmp_path / "b.sqlite")
    assert records.import_file(b, tmp_path / "one.jsonl")["adjudications"] == 3
    assert records.import_file(b, tmp_path / "one.jsonl")["adjudications"] == 0
    assert b.item(pid)["claims"][0]["adjudication"]["verdict"] == "hallucinated"
    records.export(b, tmp_path / "two.jsonl")
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
