"""Schema version 4: stores written with sentence-level claims are migrated to evidence units on a real
SQLite file; every verdict lands on the first cue unit of its sentence (the conclusion's on the conclusion)."""

from __future__ import annotations

import sqlite3

from r1omni.audit import records
from r1omni.audit.claims import extract_claims
from r1omni.audit.store import SCHEMA_VERSION, AuditStore, migrate

TEXT = ("<think>In the video, a man slams the table. His voice is loud, and his brows are drawn together. "
        "Although he smiles once, he says, \"Get out!\" and points at the door. "
        "Therefore, his emotional state is anger.</think><answer>angry</answer>")


def _sentences(text: str) -> list[tuple[int, int]]:
    """The sentence claims the old code stored (one per sentence)."""
    out, body = [], text[len("<think>") : text.index("</think>")]
    pos = len("<think>")
    for s in ("In the video, a man slams the table.", "His voice is loud, and his brows are drawn together.",
              "Although he smiles once, he says, \"Get out!\" and points at the door.",
              "Therefore, his emotional state is anger."):
        a = text.index(s, pos)
        out.append((a, a + len(s)))
        pos = a + len(s)
    assert body.startswith("In the video")
    return out


def _old_file(path) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    assert migrate(con, target=3) == 3  # the layout the sentence-level code wrote
    con.execute("INSERT INTO audit_clips (path) VALUES ('a.mp4')")
    con.execute("INSERT INTO audit_runs (checkpoint, settings) VALUES ('demo', '{}')")
    con.execute("INSERT INTO audit_predictions (id, clip_id, run_id, label_set, completion, label, explanation, "
                "created_at, version) VALUES ('p1', 1, 1, 'dfew', ?, 'angry', NULL, '2026-01-01T00:00:00Z', 3)",
                (TEXT,))
    cites = ['["video"]', '["video", "audio"]', '["video", "audio"]', "[]"]
    flags = ['[]', '["unsupported"]', '[]', '[]']
    for i, (a, b) in enumerate(_sentences(TEXT)):
        con.execute("INSERT INTO audit_claims VALUES ('p1', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (i, a, b, TEXT[a:b], cites[i], flags[i], '{"cited": {"audio": 0.5}}' if i == 1 else None,
                     0.75 if i == 1 else None))
    con.execute("INSERT INTO audit_annotators (name, authenticated, created_at) VALUES ('alice', 0, 't')")
    con.execute("INSERT INTO audit_annotators (name, authenticated, created_at) VALUES ('bob', 0, 't')")
    rows = [(0, 1, "supported", None, "2026-01-02T00:00:00Z", 1), (1, 1, "hallucinated", "fabricated cue",
            "2026-01-02T00:01:00Z", 2), (1, 2, "supported", None, "2026-01-02T00:02:00Z", 1),
            (2, 1, "unsure", None, "2026-01-02T00:03:00Z", 1), (3, 2, "supported", None, "2026-01-02T00:04:00Z", 1)]
    for idx, aid, verdict, cat, t, version in rows:
        con.execute("INSERT INTO audit_annotations VALUES ('p1', ?, ?, ?, ?, NULL, ?, ?, ?)",
                    (idx, aid, verdict, cat, t, t, version))
        con.execute("INSERT INTO audit_annotation_log (kind, prediction_id, claim_idx, annotator_id, verdict, "
                    "category, note, version, created_at) VALUES ('verdict', 'p1', ?, ?, ?, ?, NULL, ?, ?)",
                    (idx, aid, verdict, cat, version, t))
    con.execute("INSERT INTO audit_adjudications VALUES ('p1', 1, 2, 'hallucinated', 'fabricated cue', NULL, "
                "'2026-01-03T00:00:00Z', 1)")
    con.close()


def test_sentence_claims_migrate_to_units_with_their_verdicts(tmp_path):
    path = tmp_path / "old.sqlite"
    _old_file(path)
    units = extract_claims(TEXT)
    assert len(units) > 4  # the parser splits these sentences further

    with AuditStore(path) as s:
        item = s.item("p1")
    con = sqlite3.connect(path)
    assert con.execute("SELECT MAX(version) FROM audit_schema_version").fetchone()[0] == SCHEMA_VERSION == 4
    claims = item["claims"]
    assert [(c["start"], c["end"], c["text"], c["cites"]) for c in claims] == \
        [(u.start, u.end, u.text, list(u.cites)) for u in units]
    for c in claims:
        assert TEXT[c["start"] : c["end"]] == c["text"]

    def first_cue_unit(sentence: int) -> int:
        a, b = _sentences(TEXT)[sentence]
        return next(i for i, u in enumerate(units) if u.start >= a and u.end <= b and u.kind == "cue")

    judged = {(c["index"], v["annotator"], v["verdict"]) for c in claims for v in c["verdicts"]}
    assert judged == {(first_cue_unit(0), "alice", "supported"), (first_cue_unit(1), "alice", "hallucinated"),
                      (first_cue_unit(1), "bob", "supported"), (first_cue_unit(2), "alice", "unsure"),
                      (len(units) - 1, "bob", "supported")}
    assert units[first_cue_unit(1)].text == "His voice is loud,"  # the sentence's first cue
    assert units[-1].kind == "conclusion"
    moved = claims[first_cue_unit(1)]
    assert moved["auto_flags"] == ["unsupported"] and moved["support"] == {"cited": {"audio": 0.5}}
    assert moved["self_consistency"] == 0.75
    assert moved["adjudication"]["verdict"] == "hallucinated"
    assert sum(1 for c in claims if c["verdicts"]) == 4  # the other units have none
    # the log keeps every entry, re-indexed to the units
    assert sorted((e["claim_idx"], e["annotator"]) for e in s_log(path)) == sorted(
        [(first_cue_unit(0), "alice"), (first_cue_unit(1), "alice"), (first_cue_unit(1), "bob"),
         (first_cue_unit(2), "alice"), (len(units) - 1, "bob")])
    assert item["version"] == 4  # the item changed: clients that loaded it before must reload
    # the record keeps its DESIGN 3.7 shape and validates
    rec = records.record(item)
    records.validate(rec)
    assert set(rec["claims"][0]) == {"index", "start", "end", "text", "cites", "auto_flags", "support", "verdicts"}


def s_log(path) -> list[dict]:
    with AuditStore(path) as s:
        return s.log()


def test_migration_is_a_no_op_the_second_time_and_for_unit_claims(tmp_path):
    path = tmp_path / "old.sqlite"
    _old_file(path)
    AuditStore(path).close()
    con = sqlite3.connect(path)
    before = con.execute("SELECT * FROM audit_claims ORDER BY idx").fetchall()
    con.close()
    with AuditStore(path) as s:
        assert s.item("p1")["version"] == 4
    con = sqlite3.connect(path)
    assert con.execute("SELECT * FROM audit_claims ORDER BY idx").fetchall() == before
