"""The audit store: predictions with their claims, and every annotator's verdicts, in one SQLite file.

Tables (prefixed `audit_`, so the file can be the app's `--db` next to the Library's results): clips,
runs (checkpoint identity + settings), predictions (completion + explanation JSON), claims (offsets,
cited modalities, automatic flags, support, a nullable self-consistency score), annotators, annotations
(one verdict per claim and annotator), an append-only annotation log, clip verdicts and adjudications
(the adjudicator's decision is its own record; annotators' verdicts are never edited by it).

Guarantees:
- WAL mode, synchronous=FULL, a schema version table with migrations (`MIGRATIONS`, applied in order in
  one transaction each); a file from a newer version is refused, never rewritten.
- One transaction per user action; a write returns only after COMMIT (so what was acknowledged survives
  a killed process).
- Optimistic concurrency: every verdict, clip verdict and adjudication carries a version; a write states
  the version it was based on (0 = none yet) and the version of the item (prediction) it was loaded
  with. When either changed meanwhile, `StaleWriteError` is raised and nothing is written.

Knows nothing about models, statistics or the UI (agreement lives in `r1omni.audit.agreement`, the
JSONL/CSV/HF records in `r1omni.audit.records`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from r1omni.errors import R1OmniError, UsageError

VERDICTS = ("supported", "hallucinated", "unsure")
CATEGORIES = ("fabricated cue", "misread cue", "wrong modality", "wrong intensity", "contradicts answer", "other")
# The automatic flag (r1omni.explain.flags) -> the category pre-filled for an annotator who confirms it.
FLAG_CATEGORY = {
    "cites absent modality": "wrong modality",
    "cites masked modality": "wrong modality",
    "cue not present": "fabricated cue",
    "contradicts answer": "contradicts answer",
    "unsupported": "fabricated cue",
}
SEVERE_FLAGS = frozenset({"cites absent modality", "cites masked modality", "cue not present", "contradicts answer"})
WEAK_SUPPORT_NATS = 0.1  # a cited modality raising the sentence log-prob by less than this is weak evidence


class StaleWriteError(R1OmniError):
    """The record changed since the writer loaded it; nothing was written."""


def now_iso() -> str:
    """Current time, ISO 8601 UTC with milliseconds ('2026-12-01T20:00:00.000Z')."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def prediction_id(clip: str, checkpoint: str, label_set: str, completion: str) -> str:
    """Stable id of a prediction: the same clip, checkpoint, label set and completion give the same id
    in any store (so import is idempotent and export -> import -> export is byte-identical)."""
    h = hashlib.sha256("\x1f".join((clip, checkpoint, label_set, completion)).encode("utf-8"))
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- schema
# Version 1 was the first layout: annotators named inline in each annotation, no versions, no categories,
# no clip verdicts or adjudications. Version 2 adds annotators, versions, categories, the log, clip verdicts
# and adjudications (moving v1 annotations over). Version 3 adds the nullable self-consistency column.
# Version 4 re-extracts every prediction's claims as evidence units (`_v4_units`).
_V1 = """
CREATE TABLE audit_clips (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE audit_runs (id INTEGER PRIMARY KEY, checkpoint TEXT NOT NULL, settings TEXT NOT NULL,
  UNIQUE (checkpoint, settings));
CREATE TABLE audit_predictions (id TEXT PRIMARY KEY, clip_id INTEGER NOT NULL REFERENCES audit_clips(id),
  run_id INTEGER NOT NULL REFERENCES audit_runs(id), label_set TEXT NOT NULL, completion TEXT NOT NULL,
  label TEXT, explanation TEXT, created_at TEXT NOT NULL);
CREATE TABLE audit_claims (prediction_id TEXT NOT NULL REFERENCES audit_predictions(id), idx INTEGER NOT NULL,
  start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL, cites TEXT NOT NULL,
  auto_flags TEXT NOT NULL, support TEXT, PRIMARY KEY (prediction_id, idx));
CREATE TABLE audit_annotations (prediction_id TEXT NOT NULL, claim_idx INTEGER NOT NULL, annotator TEXT NOT NULL,
  verdict TEXT NOT NULL, note TEXT, created_at TEXT NOT NULL, PRIMARY KEY (prediction_id, claim_idx, annotator));
"""
_V2 = """
ALTER TABLE audit_predictions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE audit_annotators (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  authenticated INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
INSERT INTO audit_annotators (name, authenticated, created_at)
  SELECT annotator, 0, MIN(created_at) FROM audit_annotations GROUP BY annotator;
CREATE TABLE audit_annotations_v2 (prediction_id TEXT NOT NULL, claim_idx INTEGER NOT NULL,
  annotator_id INTEGER NOT NULL REFERENCES audit_annotators(id),
  verdict TEXT NOT NULL CHECK (verdict IN ('supported', 'hallucinated', 'unsure')), category TEXT, note TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (prediction_id, claim_idx, annotator_id),
  FOREIGN KEY (prediction_id, claim_idx) REFERENCES audit_claims(prediction_id, idx));
INSERT INTO audit_annotations_v2 SELECT a.prediction_id, a.claim_idx, n.id,
  CASE WHEN a.verdict IN ('supported', 'hallucinated', 'unsure') THEN a.verdict ELSE 'unsure' END,
  NULL, a.note, a.created_at, a.created_at, 1 FROM audit_annotations a JOIN audit_annotators n ON n.name = a.annotator;
DROP TABLE audit_annotations;
ALTER TABLE audit_annotations_v2 RENAME TO audit_annotations;
CREATE TABLE audit_annotation_log (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, prediction_id TEXT NOT NULL,
  claim_idx INTEGER, annotator_id INTEGER NOT NULL, verdict TEXT, category TEXT, note TEXT, version INTEGER NOT NULL,
  created_at TEXT NOT NULL);
INSERT INTO audit_annotation_log (kind, prediction_id, claim_idx, annotator_id, verdict, category, note, version,
  created_at) SELECT 'verdict', prediction_id, claim_idx, annotator_id, verdict, category, note, version, created_at
  FROM audit_annotations;
CREATE TABLE audit_clip_verdicts (prediction_id TEXT NOT NULL REFERENCES audit_predictions(id),
  annotator_id INTEGER NOT NULL REFERENCES audit_annotators(id),
  verdict TEXT NOT NULL CHECK (verdict IN ('supported', 'hallucinated', 'unsure')), note TEXT,
  created_at TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (prediction_id, annotator_id));
CREATE TABLE audit_adjudications (prediction_id TEXT NOT NULL, claim_idx INTEGER NOT NULL,
  adjudicator_id INTEGER NOT NULL REFERENCES audit_annotators(id),
  verdict TEXT NOT NULL CHECK (verdict IN ('supported', 'hallucinated', 'unsure')), category TEXT, note TEXT,
  created_at TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (prediction_id, claim_idx),
  FOREIGN KEY (prediction_id, claim_idx) REFERENCES audit_claims(prediction_id, idx));
"""
_V3 = "ALTER TABLE audit_claims ADD COLUMN self_consistency REAL;"


def _v4_units(db: sqlite3.Connection) -> None:
    """Version 4: a claim is an evidence unit (`r1omni.audit.claims`: one cue of one modality, clause-level),
    no longer a sentence. Every stored prediction's claims are re-extracted from its completion. Each old
    (sentence) claim maps onto the *first cue unit* that overlaps it, or onto the unit that holds it when the
    sentence has no cue (a conclusion or context sentence); that unit takes the sentence's verdicts,
    adjudication, log entries, automatic flags, support and self-consistency. Other units start with no
    verdict, no flag and no support. When two old claims map onto one unit, an annotator's (or the
    adjudicator's) most recent record is kept there; every record stays in the append-only log, re-indexed.
    A prediction whose completion yields no unit (no `<think>`) keeps its claims as they are."""
    from r1omni.audit.claims import extract_claims
    from r1omni.prompts import DFEW, LABEL_SETS

    db.execute("PRAGMA defer_foreign_keys=ON")  # claims are replaced before the verdicts that point at them
    preds = db.execute("SELECT id, label_set, completion FROM audit_predictions ORDER BY id").fetchall()
    for pid, label_set, completion in preds:
        old = db.execute("SELECT idx, start, \"end\", text, cites, auto_flags, support, self_consistency "
                         "FROM audit_claims WHERE prediction_id=? ORDER BY idx", (pid,)).fetchall()
        units = extract_claims(completion, LABEL_SETS.get(str(label_set).lower(), DFEW))
        if not units or [(u.start, u.end, u.text) for u in units] == [tuple(r[1:4]) for r in old]:
            continue
        target: dict[int, int] = {}
        for idx, start, end, *_ in old:
            over = [j for j, u in enumerate(units) if u.start < end and u.end > start]
            if not over:  # outside every unit (should not happen): the unit nearest to it
                over = [min(range(len(units)), key=lambda j: abs(units[j].start - start))]
            cues = [j for j in over if units[j].kind == "cue"]
            target[idx] = cues[0] if cues else over[0]
        carried = {}
        for r in old:
            carried.setdefault(target[r[0]], r)
        rows = []
        for j, u in enumerate(units):
            r = carried.get(j)
            rows.append((pid, j, u.start, u.end, u.text, _j(list(u.cites)), r[5] if r else "[]",
                         r[6] if r else None, r[7] if r else None))
        verdicts = db.execute("SELECT prediction_id, claim_idx, annotator_id, verdict, category, note, created_at, "
                              "updated_at, version FROM audit_annotations WHERE prediction_id=?", (pid,)).fetchall()
        keep: dict[tuple, tuple] = {}
        for v in sorted(verdicts, key=lambda v: (v[7], v[8])):  # later records win
            keep[(target.get(v[1], v[1]), v[2])] = (v[0], target.get(v[1], v[1]), *v[2:])
        adj = db.execute("SELECT prediction_id, claim_idx, adjudicator_id, verdict, category, note, created_at, "
                         "version FROM audit_adjudications WHERE prediction_id=?", (pid,)).fetchall()
        keep_adj: dict[int, tuple] = {}
        for a in sorted(adj, key=lambda a: (a[6], a[7])):
            keep_adj[target.get(a[1], a[1])] = (a[0], target.get(a[1], a[1]), *a[2:])
        db.execute("DELETE FROM audit_annotations WHERE prediction_id=?", (pid,))
        db.execute("DELETE FROM audit_adjudications WHERE prediction_id=?", (pid,))
        db.execute("DELETE FROM audit_claims WHERE prediction_id=?", (pid,))
        db.executemany("INSERT INTO audit_claims (prediction_id, idx, start, \"end\", text, cites, auto_flags, "
                       "support, self_consistency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO audit_annotations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", list(keep.values()))
        db.executemany("INSERT INTO audit_adjudications VALUES (?, ?, ?, ?, ?, ?, ?, ?)", list(keep_adj.values()))
        log = db.execute("SELECT id, claim_idx FROM audit_annotation_log WHERE prediction_id=? AND claim_idx IS NOT "
                         "NULL", (pid,)).fetchall()
        db.executemany("UPDATE audit_annotation_log SET claim_idx=? WHERE id=?",
                       [(target.get(c, c), i) for i, c in log])
        db.execute("UPDATE audit_predictions SET version=version+1 WHERE id=?", (pid,))


# Each step is an SQL script or a function of the connection (run inside the step's transaction).
MIGRATIONS: tuple = (_V1, _V2, _V3, _v4_units)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS audit_schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT MAX(version) FROM audit_schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite3.Connection, target: int = SCHEMA_VERSION, where: str = "audit database") -> int:
    """Apply the migrations from the file's version up to `target`, each in its own transaction."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise UsageError(f"{where} has audit schema version {current}, newer than this program "
                         f"({SCHEMA_VERSION}); upgrade r1omni to open it")
    for version in range(current + 1, target + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) >= version:  # another process migrated meanwhile
                db.execute("ROLLBACK")
                continue
            step = MIGRATIONS[version - 1]
            if callable(step):
                step(db)
            else:
                for stmt in _statements(step):
                    db.execute(stmt)
            db.execute("INSERT INTO audit_schema_version VALUES (?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return schema_version(db)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip().rstrip(";")]


def _j(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


class AuditStore:
    """The audit tables of one SQLite file, shared by every session of the app (thread-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=10000")
            migrate(self._db, where=f"'{path}'")
        except sqlite3.DatabaseError as err:
            raise UsageError(f"cannot open audit database '{path}': {err}") from None

    # ------------------------------------------------------------ plumbing
    @contextmanager
    def _tx(self):
        """One transaction (BEGIN IMMEDIATE ... COMMIT); returning from it means committed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def snapshot(self):
        """Reads inside see one consistent state (a read transaction; nested uses share it)."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def _rows(self, sql: str, args=()) -> list[dict]:
        with self._lock:
            cur = self._db.execute(sql, args)
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    # ------------------------------------------------------------ annotators
    def _annotator_id(self, db, name: str, authenticated: bool = False) -> int:
        name = check_name(name)
        row = db.execute("SELECT id, authenticated FROM audit_annotators WHERE name=?", (name,)).fetchone()
        if row:
            if authenticated and not row[1]:
                db.execute("UPDATE audit_annotators SET authenticated=1 WHERE id=?", (row[0],))
            return int(row[0])
        cur = db.execute("INSERT INTO audit_annotators (name, authenticated, created_at) VALUES (?, ?, ?)",
                         (name, int(authenticated), now_iso()))
        return int(cur.lastrowid)

    def annotators(self) -> list[str]:
        return [r["name"] for r in self._rows("SELECT name FROM audit_annotators ORDER BY name")]

    # ------------------------------------------------------------ predictions
    def add_prediction(self, *, clip: str, checkpoint: str, label_set: str, completion: str, label: str | None,
                       claims: list[dict], explanation: dict | None = None, settings: dict | None = None,
                       clip_meta: dict | None = None, pid: str | None = None) -> str:
        """Store one prediction with its claims (one transaction); the id is stable, and sending the same
        prediction again updates its evidence (support, flags) and bumps the item version when it changed."""
        pid = pid or prediction_id(clip, checkpoint, label_set, completion)
        rows = [_claim_row(i, c, completion) for i, c in enumerate(claims)]
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO audit_clips (path, meta) VALUES (?, ?)", (clip, _j(clip_meta or {})))
            clip_id = db.execute("SELECT id FROM audit_clips WHERE path=?", (clip,)).fetchone()[0]
            s = _j(settings or {})
            db.execute("INSERT OR IGNORE INTO audit_runs (checkpoint, settings) VALUES (?, ?)", (checkpoint, s))
            run_id = db.execute("SELECT id FROM audit_runs WHERE checkpoint=? AND settings=?",
                                (checkpoint, s)).fetchone()[0]
            old = db.execute("SELECT version FROM audit_predictions WHERE id=?", (pid,)).fetchone()
            if old is None:
                db.execute("INSERT INTO audit_predictions (id, clip_id, run_id, label_set, completion, label, "
                           "explanation, created_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                           (pid, clip_id, run_id, label_set, completion, label,
                            None if explanation is None else _j(explanation), now_iso()))
                db.executemany("INSERT INTO audit_claims (prediction_id, idx, start, \"end\", text, cites, "
                               "auto_flags, support, self_consistency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               [(pid, *r) for r in rows])
                return pid
            have = db.execute("SELECT idx, start, \"end\", text, cites, auto_flags, support, self_consistency "
                              "FROM audit_claims WHERE prediction_id=? ORDER BY idx", (pid,)).fetchall()
            if [tuple(r[:4]) for r in have] != [r[:4] for r in rows]:
                raise UsageError(f"prediction {pid} is stored with other claim offsets; not replaced")
            changed = [(r[4], r[5], r[6], pid, r[0]) for r, h in zip(rows, have, strict=True)
                       if (r[4], r[5], r[6]) != tuple(h[4:7])]
            old_ex = db.execute("SELECT explanation FROM audit_predictions WHERE id=?", (pid,)).fetchone()[0]
            new_ex = None if explanation is None else _j(explanation)
            if changed:
                db.executemany("UPDATE audit_claims SET cites=?, auto_flags=?, support=? WHERE prediction_id=? "
                               "AND idx=?", changed)
            if new_ex is not None and new_ex != old_ex:
                db.execute("UPDATE audit_predictions SET explanation=? WHERE id=?", (new_ex, pid))
            # The item's version (what open items are checked against) moves only when what an annotator
            # sees moved: cites, flags, support or evidence beyond the rounding they are shown with.
            seen_before = [_shown_claim(h[4], h[5], h[6]) for h in have]
            seen_now = [_shown_claim(r[4], r[5], r[6]) for r in rows]
            if seen_before != seen_now or (new_ex is not None and _shown_evidence(new_ex) != _shown_evidence(old_ex)):
                db.execute("UPDATE audit_predictions SET version=version+1 WHERE id=?", (pid,))
        return pid

    def add_explanation(self, result: dict, settings: dict | None = None, label_set: str = "dfew",
                        clip: str | None = None) -> str:
        """Store an explain JSON (DESIGN 3.2) as an audit item; `clip` overrides the path it names."""
        pred = result.get("prediction") or {}
        completion = pred.get("text")
        if not completion:
            raise UsageError("this result has no completion text to audit; explain the clip first")
        params = result.get("params") or {}
        label_set = params.get("label_set", label_set)
        claims = [{"start": c["start"], "end": c["end"], "text": c["text"], "cites": c.get("cites") or [],
                   "auto_flags": c.get("flags") if c.get("flags") is not None else ([c["flag"]] if c.get("flag")
                                                                                   else []),
                   "support": c.get("support")} for c in result.get("claims") or []]
        keep = {k: result.get(k) for k in ("modality", "gate", "frames", "audio_segments", "notices")}
        keep["modalities"] = pred.get("modalities")
        return self.add_prediction(clip=clip or str(pred.get("clip") or result.get("clip")),
                                   checkpoint=str(pred.get("checkpoint") or result.get("checkpoint")),
                                   label_set=label_set, completion=completion, label=pred.get("label"),
                                   claims=claims, explanation=keep, settings={**params, **(settings or {})})

    def set_self_consistency(self, pid: str, claim_index: int, score: float | None) -> None:
        """For the self-consistency signal (N samples per clip): a score in [0, 1] or None."""
        with self._tx() as db:
            cur = db.execute("UPDATE audit_claims SET self_consistency=? WHERE prediction_id=? AND idx=?",
                             (score, pid, claim_index))
            if cur.rowcount != 1:
                raise UsageError(f"no claim {claim_index} in prediction {pid}")
            db.execute("UPDATE audit_predictions SET version=version+1 WHERE id=?", (pid,))

    def prediction_ids(self) -> list[str]:
        return [r["id"] for r in self._rows("SELECT id FROM audit_predictions ORDER BY id")]

    def item(self, pid: str) -> dict:
        """One prediction with its claims, every verdict (with versions), clip verdicts and adjudications."""
        with self.snapshot():
            return self._item(pid)

    def _item(self, pid: str) -> dict:
        rows = self._rows("SELECT p.id, p.label_set, p.completion, p.label, p.explanation, p.version, p.created_at, "
                          "c.path AS clip, r.checkpoint, r.settings FROM audit_predictions p "
                          "JOIN audit_clips c ON c.id = p.clip_id JOIN audit_runs r ON r.id = p.run_id WHERE p.id=?",
                          (pid,))
        if not rows:
            raise UsageError(f"no audit item '{pid}'")
        p = rows[0]
        claims = self._rows("SELECT idx, start, \"end\", text, cites, auto_flags, support, self_consistency "
                            "FROM audit_claims WHERE prediction_id=? ORDER BY idx", (pid,))
        verdicts = self._rows("SELECT a.claim_idx, n.name AS annotator, a.verdict, a.category, a.note, a.created_at, "
                              "a.updated_at, a.version FROM audit_annotations a JOIN audit_annotators n "
                              "ON n.id = a.annotator_id WHERE a.prediction_id=? ORDER BY a.claim_idx, n.name", (pid,))
        adj = self._rows("SELECT a.claim_idx, n.name AS adjudicator, a.verdict, a.category, a.note, a.created_at, "
                         "a.version FROM audit_adjudications a JOIN audit_annotators n ON n.id = a.adjudicator_id "
                         "WHERE a.prediction_id=? ORDER BY a.claim_idx", (pid,))
        history = self._adjudication_history(pid)
        clip_v = self._rows("SELECT n.name AS annotator, v.verdict, v.note, v.created_at, v.version "
                            "FROM audit_clip_verdicts v JOIN audit_annotators n ON n.id = v.annotator_id "
                            "WHERE v.prediction_id=? ORDER BY n.name", (pid,))
        v_keys = ("annotator", "verdict", "category", "note", "created_at", "updated_at", "version")
        a_keys = ("adjudicator", "verdict", "category", "note", "created_at", "version")
        out_claims = []
        for c in claims:
            out_claims.append({
                "index": c["idx"], "start": c["start"], "end": c["end"], "text": c["text"],
                "cites": json.loads(c["cites"]), "auto_flags": json.loads(c["auto_flags"]),
                "support": None if c["support"] is None else json.loads(c["support"]),
                "self_consistency": c["self_consistency"],
                "verdicts": [{k: v[k] for k in v_keys} for v in verdicts if v["claim_idx"] == c["idx"]],
                "adjudication": next(({k: a[k] for k in a_keys} for a in adj if a["claim_idx"] == c["idx"]), None),
                "adjudications": [h for h in history if h["claim_index"] == c["idx"]],
            })
        return {"prediction_id": p["id"], "clip": p["clip"], "checkpoint": p["checkpoint"],
                "settings": json.loads(p["settings"]), "label_set": p["label_set"], "completion": p["completion"],
                "label": p["label"], "explanation": None if p["explanation"] is None else json.loads(p["explanation"]),
                "version": p["version"], "created_at": p["created_at"], "claims": out_claims, "clip_verdicts": clip_v}

    # ------------------------------------------------------------ writes by annotators
    def put_verdict(self, pid: str, claim_index: int, annotator: str, verdict: str, *, category: str | None = None,
                    note: str | None = None, expected_version: int = 0, item_version: int | None = None,
                    authenticated: bool = False) -> dict:
        """Store `annotator`'s verdict on one claim, based on the version they loaded (0 = none yet).

        Returns the stored record (with its new version) only after COMMIT; raises StaleWriteError, writing
        nothing, when the verdict or the item changed since it was loaded."""
        verdict, category, note = check_verdict(verdict), check_category(category), clean_note(note)
        with self._tx() as db:
            self._check_item(db, pid, claim_index, item_version)
            aid = self._annotator_id(db, annotator, authenticated)
            if db.execute("SELECT 1 FROM audit_annotation_log WHERE kind IN ('adjudication', 'import-adjudication') "
                          "AND prediction_id=? AND claim_idx=? AND annotator_id=? UNION SELECT 1 FROM "
                          "audit_adjudications WHERE prediction_id=? AND claim_idx=? AND adjudicator_id=?",
                          (pid, claim_index, aid, pid, claim_index, aid)).fetchone():
                raise UsageError(f"{check_name(annotator)} adjudicated claim {claim_index + 1} of {pid}: an "
                                 "adjudicator does not also judge a claim they decided; your verdict was not saved")
            row = db.execute("SELECT version, verdict, updated_at FROM audit_annotations WHERE prediction_id=? AND "
                             "claim_idx=? AND annotator_id=?", (pid, claim_index, aid)).fetchone()
            current = row[0] if row else 0
            if current != expected_version:
                raise StaleWriteError(
                    f"claim {claim_index + 1} of {pid} changed since you loaded it: {annotator}'s verdict is now "
                    f"'{row[1]}' (version {current}, {row[2]}); reload the item; your verdict was not saved")
            t = now_iso()
            if row is None:
                db.execute("INSERT INTO audit_annotations VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                           (pid, claim_index, aid, verdict, category, note, t, t))
            else:
                db.execute("UPDATE audit_annotations SET verdict=?, category=?, note=?, updated_at=?, version=? "
                           "WHERE prediction_id=? AND claim_idx=? AND annotator_id=?",
                           (verdict, category, note, t, current + 1, pid, claim_index, aid))
            self._log(db, "verdict", pid, claim_index, aid, verdict, category, note, current + 1, t)
        return {"prediction_id": pid, "claim_index": claim_index, "annotator": check_name(annotator),
                "verdict": verdict, "category": category, "note": note, "version": current + 1, "updated_at": t}

    def put_clip_verdict(self, pid: str, annotator: str, verdict: str, *, note: str | None = None,
                         expected_version: int = 0, item_version: int | None = None,
                         authenticated: bool = False) -> dict:
        """The annotator's overall verdict on the prediction's reasoning (same concurrency rules)."""
        verdict, note = check_verdict(verdict), clean_note(note)
        with self._tx() as db:
            self._check_item(db, pid, None, item_version)
            aid = self._annotator_id(db, annotator, authenticated)
            row = db.execute("SELECT version, verdict FROM audit_clip_verdicts WHERE prediction_id=? AND "
                             "annotator_id=?", (pid, aid)).fetchone()
            current = row[0] if row else 0
            if current != expected_version:
                raise StaleWriteError(f"the clip verdict of {annotator} on {pid} changed since you loaded it (now "
                                      f"'{row[1]}', version {current}); reload the item; nothing was saved")
            t = now_iso()
            db.execute("INSERT OR REPLACE INTO audit_clip_verdicts VALUES (?, ?, ?, ?, ?, ?)",
                       (pid, aid, verdict, note, t, current + 1))
            self._log(db, "clip", pid, None, aid, verdict, None, note, current + 1, t)
        return {"prediction_id": pid, "annotator": check_name(annotator), "verdict": verdict, "note": note,
                "version": current + 1, "created_at": t}

    def adjudicate(self, pid: str, claim_index: int, adjudicator: str, verdict: str, *, category: str | None = None,
                   note: str | None = None, expected_version: int = 0, authenticated: bool = False) -> dict:
        """Store the decision on a claim as its own record (annotators' verdicts stay as they are). Never by
        someone who judged the claim; replacing a decision means stating its version (`expected_version`).
        Every decision stays in the log (`adjudication_history`); the latest one counts."""
        verdict, category, note = check_verdict(verdict), check_category(category), clean_note(note)
        with self._tx() as db:
            self._check_item(db, pid, claim_index, None)
            aid = self._annotator_id(db, adjudicator, authenticated)
            if db.execute("SELECT 1 FROM audit_annotations WHERE prediction_id=? AND claim_idx=? AND annotator_id=?",
                          (pid, claim_index, aid)).fetchone():
                raise UsageError(f"{check_name(adjudicator)} judged claim {claim_index + 1} of {pid}: a claim is "
                                 "adjudicated by someone who did not judge it; nothing was saved")
            row = db.execute("SELECT a.version, a.verdict, n.name FROM audit_adjudications a JOIN audit_annotators n "
                             "ON n.id = a.adjudicator_id WHERE prediction_id=? AND claim_idx=?",
                             (pid, claim_index)).fetchone()
            current = row[0] if row else 0
            if current != expected_version:
                raise StaleWriteError(f"claim {claim_index + 1} of {pid} was adjudicated meanwhile by {row[2]} "
                                      f"('{row[1]}', version {current}); reload; your decision was not saved")
            t = now_iso()
            db.execute("INSERT OR REPLACE INTO audit_adjudications VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (pid, claim_index, aid, verdict, category, note, t, current + 1))
            self._log(db, "adjudication", pid, claim_index, aid, verdict, category, note, current + 1, t)
        return {"prediction_id": pid, "claim_index": claim_index, "adjudicator": check_name(adjudicator),
                "verdict": verdict, "category": category, "note": note, "version": current + 1, "created_at": t}

    def _adjudication_history(self, pid: str) -> list[dict]:
        """Every decision on the item's claims, oldest first: the log's adjudications (and imported ones),
        plus a current decision the log lacks (stores older than the history)."""
        keys = ("claim_index", "adjudicator", "verdict", "category", "note", "created_at")
        rows = self._rows("SELECT l.claim_idx AS claim_index, n.name AS adjudicator, l.verdict, l.category, l.note, "
                          "l.created_at FROM audit_annotation_log l JOIN audit_annotators n ON n.id = l.annotator_id "
                          "WHERE l.prediction_id=? AND l.kind IN ('adjudication', 'import-adjudication') "
                          "ORDER BY l.id", (pid,))
        rows += self._rows("SELECT a.claim_idx AS claim_index, n.name AS adjudicator, a.verdict, a.category, a.note, "
                           "a.created_at FROM audit_adjudications a JOIN audit_annotators n "
                           "ON n.id = a.adjudicator_id WHERE a.prediction_id=?", (pid,))
        seen, out = set(), []
        for r in rows:
            key = tuple(r[k] for k in keys)
            if key not in seen:
                seen.add(key)
                out.append(r)
        return sorted(out, key=lambda r: (r["created_at"], r["claim_index"]))

    def _check_item(self, db, pid: str, claim_index: int | None, item_version: int | None) -> None:
        row = db.execute("SELECT version FROM audit_predictions WHERE id=?", (pid,)).fetchone()
        if row is None:
            raise UsageError(f"no audit item '{pid}'")
        if claim_index is not None and db.execute("SELECT 1 FROM audit_claims WHERE prediction_id=? AND idx=?",
                                                  (pid, claim_index)).fetchone() is None:
            raise UsageError(f"item {pid} has no claim {claim_index + 1} (index {claim_index})")
        if item_version is not None and row[0] != item_version:
            raise StaleWriteError(f"item {pid} was updated since you loaded it (version {item_version} -> {row[0]}: "
                                  "new evidence); reload it; nothing was saved")

    @staticmethod
    def _log(db, kind, pid, claim_index, aid, verdict, category, note, version, t) -> None:
        db.execute("INSERT INTO audit_annotation_log (kind, prediction_id, claim_idx, annotator_id, verdict, "
                   "category, note, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (kind, pid, claim_index, aid, verdict, category, note, version, t))

    def log(self) -> list[dict]:
        """Every acknowledged write, oldest first (an annotator's changed mind is kept here)."""
        return self._rows("SELECT l.kind, l.prediction_id, l.claim_idx, n.name AS annotator, l.verdict, l.category, "
                          "l.note, l.version, l.created_at FROM audit_annotation_log l JOIN audit_annotators n "
                          "ON n.id = l.annotator_id ORDER BY l.id")

    # ------------------------------------------------------------ reads for the queue and statistics
    def claim_rows(self) -> list[dict]:
        """Every claim with its prediction's clip facts and auto flags (for queue and stats)."""
        rows = self._rows("SELECT c.prediction_id, c.idx, c.text, c.cites, c.auto_flags, c.support, "
                          "c.self_consistency, cl.path AS clip, p.label FROM audit_claims c "
                          "JOIN audit_predictions p ON p.id = c.prediction_id "
                          "JOIN audit_clips cl ON cl.id = p.clip_id "
                          "ORDER BY c.prediction_id, c.idx")
        for r in rows:
            r["cites"], r["auto_flags"] = json.loads(r["cites"]), json.loads(r["auto_flags"])
            r["support"] = None if r["support"] is None else json.loads(r["support"])
        return rows

    def verdict_rows(self) -> list[dict]:
        """(prediction_id, claim index, annotator, verdict) of every current verdict."""
        return self._rows("SELECT a.prediction_id, a.claim_idx, n.name AS annotator, a.verdict, a.category "
                          "FROM audit_annotations a JOIN audit_annotators n ON n.id = a.annotator_id "
                          "ORDER BY a.prediction_id, a.claim_idx, n.name")

    def adjudication_rows(self) -> list[dict]:
        return self._rows("SELECT a.prediction_id, a.claim_idx, n.name AS adjudicator, a.verdict, a.category, a.note, "
                          "a.created_at, a.version FROM audit_adjudications a JOIN audit_annotators n "
                          "ON n.id = a.adjudicator_id")

    def counts(self) -> dict:
        with self._lock:
            one = lambda sql: self._db.execute(sql).fetchone()[0]  # noqa: E731
            return {"predictions": one("SELECT COUNT(*) FROM audit_predictions"),
                    "claims": one("SELECT COUNT(*) FROM audit_claims"),
                    "verdicts": one("SELECT COUNT(*) FROM audit_annotations"),
                    "annotators": one("SELECT COUNT(DISTINCT annotator_id) FROM audit_annotations")}

    # ------------------------------------------------------------ import (records as in DESIGN 3.7)
    def import_records(self, records: list[dict]) -> dict:
        """Merge exported records in one transaction: predictions and claims added when absent; a verdict
        (prediction, claim index, annotator) taken when its version is higher than the stored one; clip
        verdicts and adjudications taken when newer. Returns counts of what changed (all 0 the second time)."""
        n = {"predictions": 0, "verdicts": 0, "clip_verdicts": 0, "adjudications": 0}
        with self._tx() as db:
            for rec in records:
                pid = rec["prediction_id"]
                if db.execute("SELECT 1 FROM audit_predictions WHERE id=?", (pid,)).fetchone() is None:
                    db.execute("INSERT OR IGNORE INTO audit_clips (path, meta) VALUES (?, '{}')", (rec["clip"],))
                    clip_id = db.execute("SELECT id FROM audit_clips WHERE path=?", (rec["clip"],)).fetchone()[0]
                    db.execute("INSERT OR IGNORE INTO audit_runs (checkpoint, settings) VALUES (?, '{}')",
                               (rec["checkpoint"],))
                    run_id = db.execute("SELECT id FROM audit_runs WHERE checkpoint=? AND settings='{}'",
                                        (rec["checkpoint"],)).fetchone()[0]
                    db.execute("INSERT INTO audit_predictions (id, clip_id, run_id, label_set, completion, label, "
                               "explanation, created_at, version) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, 1)",
                               (pid, clip_id, run_id, rec["label_set"], rec["completion"], rec["label"], now_iso()))
                    db.executemany("INSERT INTO audit_claims (prediction_id, idx, start, \"end\", text, cites, "
                                   "auto_flags, support, self_consistency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                                   [(pid, c["index"], c["start"], c["end"], c["text"], _j(c["cites"]),
                                     _j(c["auto_flags"]), None if c["support"] is None else _j(c["support"]))
                                    for c in rec["claims"]])
                    n["predictions"] += 1
                for c in rec["claims"]:
                    for v in c["verdicts"]:
                        aid = self._annotator_id(db, v["annotator"])
                        row = db.execute("SELECT version FROM audit_annotations WHERE prediction_id=? AND claim_idx=? "
                                         "AND annotator_id=?", (pid, c["index"], aid)).fetchone()
                        if row is not None and row[0] >= v["version"]:
                            continue
                        db.execute("INSERT OR REPLACE INTO audit_annotations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   (pid, c["index"], aid, v["verdict"], v["category"], v["note"], v["created_at"],
                                    v["created_at"], v["version"]))
                        self._log(db, "import", pid, c["index"], aid, v["verdict"], v["category"], v["note"],
                                  v["version"], v["created_at"])
                        n["verdicts"] += 1
                for v in rec["clip_verdicts"]:
                    aid = self._annotator_id(db, v["annotator"])
                    row = db.execute("SELECT version, created_at FROM audit_clip_verdicts WHERE prediction_id=? AND "
                                     "annotator_id=?", (pid, aid)).fetchone()
                    if row is not None and row[1] >= v["created_at"]:
                        continue
                    db.execute("INSERT OR REPLACE INTO audit_clip_verdicts VALUES (?, ?, ?, ?, ?, ?)",
                               (pid, aid, v["verdict"], v["note"], v["created_at"], (row[0] if row else 0) + 1))
                    n["clip_verdicts"] += 1
                for a in rec["adjudications"]:  # every decision is kept; the newest one is the current one
                    aid = self._annotator_id(db, a["adjudicator"])
                    known = db.execute("SELECT 1 FROM audit_annotation_log WHERE kind IN ('adjudication', "
                                       "'import-adjudication') AND prediction_id=? AND claim_idx=? AND annotator_id=? "
                                       "AND created_at=?", (pid, a["claim_index"], aid, a["created_at"])).fetchone()
                    row = db.execute("SELECT version, created_at, adjudicator_id FROM audit_adjudications WHERE "
                                     "prediction_id=? AND claim_idx=?", (pid, a["claim_index"])).fetchone()
                    current = row is not None and row[1] == a["created_at"] and row[2] == aid
                    if known or current:
                        continue
                    if row is None or row[1] < a["created_at"]:
                        db.execute("INSERT OR REPLACE INTO audit_adjudications VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   (pid, a["claim_index"], aid, a["verdict"], a["category"], a["note"],
                                    a["created_at"], (row[0] if row else 0) + 1))
                    self._log(db, "import-adjudication", pid, a["claim_index"], aid, a["verdict"], a["category"],
                              a["note"], (row[0] if row else 0) + 1, a["created_at"])
                    n["adjudications"] += 1
        return n


# ---------------------------------------------------------------- validation
def check_name(name: str | None) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise UsageError("give your annotator name first (verdicts are stored under it)")
    if len(name) > 64:
        raise UsageError("annotator name is too long (at most 64 characters)")
    return name


def check_verdict(verdict: str | None) -> str:
    if verdict not in VERDICTS:
        raise UsageError(f"verdict '{verdict}' is not one of: {', '.join(VERDICTS)}")
    return verdict


def check_category(category: str | None) -> str | None:
    if category in (None, "", "none"):
        return None
    if category not in CATEGORIES:
        raise UsageError(f"category '{category}' is not one of: {', '.join(CATEGORIES)}")
    return category


def clean_note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > 2000:
        raise UsageError("note is too long (at most 2000 characters)")
    return note or None


def _claim_row(i: int, c: dict, completion: str) -> tuple:
    start, end, text = int(c["start"]), int(c["end"]), str(c["text"])
    if completion[start:end] != text:
        raise UsageError(f"claim {i} offsets {start}:{end} do not match its text in the completion")
    flags = list(c.get("auto_flags") or [])
    return (i, start, end, text, _j(list(c.get("cites") or [])), _j(flags),
            None if c.get("support") is None else _j(c["support"]), c.get("self_consistency"))


# ---------------------------------------------------------------- what annotators see
SHARE_DECIMALS = 2  # shares are shown as whole percents
NATS_DECIMALS = 3  # Shapley values and occlusion scores are shown with 3 decimals
TIME_DECIMALS = 2  # seek times are shown with 2 decimals


def shown(value, key: str = ""):
    """`value` as the Audit tab displays it: floats rounded (shares to whole percents, log-probabilities
    to 3 decimals), recursively through dicts and lists."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float | int) and not isinstance(value, bool):
        return round(float(value), SHARE_DECIMALS if key == "share" else NATS_DECIMALS) + 0.0
    if isinstance(value, dict):
        return {k: shown(v, "share" if key == "share" else k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shown(v, key) for v in value]
    return value


def _shown_claim(cites: str, flags: str, support: str | None) -> tuple:
    return (cites, flags, _j(shown(None if support is None else json.loads(support))))


def _shown_evidence(explanation: str | None) -> str:
    """The seekable windows an annotator is shown: frame / audio-window times and scores, as displayed."""
    ex = json.loads(explanation) if explanation else {}
    frames = [(f.get("index"), round(float(f.get("time_s") or 0), TIME_DECIMALS), shown(f.get("score")))
              for f in ex.get("frames") or []]
    segs = [(round(float(a.get("start_s") or 0), TIME_DECIMALS), shown(a.get("end_s")), shown(a.get("score")))
            for a in ex.get("audio_segments") or []]
    return _j([frames, segs])


# ---------------------------------------------------------------- suspicion
def claim_suspicion(claim: dict, verdicts: list[str] = (), adjudicated: bool = False) -> float:
    """How much a claim needs a human: severe flags 2, other flags 1, weak cited support 0.5, negative
    (contrastive) support 1, low self-consistency (1 - score), annotators disagreeing (not adjudicated) 2."""
    flags = claim.get("auto_flags") or []
    s = sum(2.0 if f in SEVERE_FLAGS else 1.0 for f in flags)
    cited = ((claim.get("support") or {}).get("cited") or {})
    for m in claim.get("cites") or []:
        if m in cited:
            phi = float(cited[m])
            s += 1.0 if phi < 0 else (0.5 if phi < WEAK_SUPPORT_NATS else 0.0)
    sc = claim.get("self_consistency")
    if sc is not None:
        s += max(0.0, 1.0 - float(sc))
    if len(set(verdicts)) > 1 and not adjudicated:
        s += 2.0
    return s
