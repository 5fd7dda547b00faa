"""The clip library: open a folder or manifest under one root, and store per-clip results in SQLite.

`open_library` lists clips (with true labels when a manifest gives them) and never lets a path escape the
library root. `LibraryStore` keeps one result per (checkpoint, clip path, file mtime, file size, label set)
in a SQLite file in WAL mode with a schema version table; each write is one transaction, so a batch run
that stops keeps every clip it finished, and a reopened library shows stored results at once.
Knows nothing about models or the UI.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from r1omni.errors import UsageError
from r1omni.manifest import read_manifest

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MEDIA_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".flv", ".m4v", ".mpg", ".mpeg",
                  ".wav", ".mp3", ".flac", ".ogg", ".m4a"}
MANIFEST_NAMES = ("manifest.csv", "manifest.json")


@dataclass(frozen=True)
class LibraryClip:
    path: Path  # absolute, resolved, inside the library root
    rel: str  # path relative to the root, shown in the table
    label: str | None = None
    dataset: str = "default"
    duration_s: float | None = None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Library:
    root: Path
    source: Path  # the folder or manifest that was opened
    clips: list[LibraryClip]
    skipped: list[str] = field(default_factory=list)  # rows refused (outside the root, missing)


def resolve_inside(root: str | Path, path: str | Path) -> Path:
    """`path` (absolute, or relative to `root`) resolved; UsageError when it is not under `root`."""
    root = Path(root).resolve()
    p = Path(path)
    p = (p if p.is_absolute() else root / p).resolve()
    if p != root and root not in p.parents:
        raise UsageError(f"'{path}' is outside the library root '{root}'")
    return p


def probe_duration(path: Path) -> float | None:
    """Container duration in seconds without decoding, or None when unknown."""
    try:
        import av

        with av.open(str(path)) as c:
            return c.duration / 1_000_000 if c.duration else None
    except Exception:  # noqa: BLE001 - any unreadable file simply has no duration here
        return None


def open_library(path: str | Path, root: str | Path) -> Library:
    """Clips of a folder (its manifest.csv/json if present, else every media file) or of a manifest file."""
    source = resolve_inside(root, path)
    if not source.exists():
        raise UsageError(f"library '{path}' does not exist")
    manifest = source if source.is_file() else next((source / n for n in MANIFEST_NAMES if (source / n).is_file()),
                                                    None)
    root = Path(root).resolve()
    clips, skipped = [], []
    if manifest is not None:
        for row in read_manifest(manifest):
            try:
                p = resolve_inside(root, row.path)
            except UsageError:
                skipped.append(f"{row.path} (outside the library root)")
                continue
            if not p.is_file():
                skipped.append(f"{p.relative_to(root)} (missing)")
                continue
            dur = _float(row.meta.get("duration_s"))
            clips.append(LibraryClip(p, str(p.relative_to(root)), row.label, row.dataset,
                                     dur if dur is not None else probe_duration(p), dict(row.meta)))
    else:
        for p in sorted(q for q in source.rglob("*") if q.suffix.lower() in MEDIA_SUFFIXES and q.is_file()):
            p = p.resolve()
            if root not in p.parents:  # a symlink pointing out of the root
                skipped.append(f"{p} (outside the library root)")
                continue
            clips.append(LibraryClip(p, str(p.relative_to(root)), duration_s=probe_duration(p)))
    if skipped:
        logger.warning("library %s: skipped %d rows: %s", source, len(skipped), "; ".join(skipped[:5]))
    return Library(root, source, clips, skipped)


def _float(x) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def file_key(path: str | Path) -> tuple[str, int, int]:
    """(resolved path, mtime_ns, size): a changed file gets a new key, so stale results are never shown."""
    p = Path(path).resolve()
    st = p.stat()
    return str(p), st.st_mtime_ns, st.st_size


class LibraryStore:
    """Per-clip results in one SQLite file (WAL, schema version table, one transaction per write)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # gradio handlers run on worker threads
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._tx():
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise UsageError(f"results database '{path}' has schema version {row[0]}, expected {SCHEMA_VERSION}")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS results (checkpoint TEXT NOT NULL, clip TEXT NOT NULL, "
                "mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, label_set TEXT NOT NULL, result TEXT NOT NULL, "
                "created REAL NOT NULL, PRIMARY KEY (checkpoint, clip, mtime_ns, size, label_set))"
            )

    def _tx(self):
        store = self

        class _Tx:
            def __enter__(self):
                store._lock.acquire()
                store._db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                try:
                    store._db.execute("ROLLBACK" if exc_type else "COMMIT")
                finally:
                    store._lock.release()

        return _Tx()

    def put(self, checkpoint: str, clip: str | Path, label_set: str, result: dict) -> None:
        """Store (or replace) one clip's result in its own transaction."""
        key = file_key(clip)
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (checkpoint, *key, label_set, json.dumps(result), time.time()))

    def get_many(self, checkpoint: str, clips: list[Path], label_set: str) -> dict[str, dict]:
        """{resolved clip path: result} for the clips whose current file has a stored result."""
        out = {}
        with self._lock:
            for clip in clips:
                try:
                    key = file_key(clip)
                except OSError:
                    continue
                row = self._db.execute(
                    "SELECT result FROM results WHERE checkpoint=? AND clip=? AND mtime_ns=? AND size=? "
                    "AND label_set=?",
                    (checkpoint, *key, label_set)).fetchone()
                if row:
                    out[key[0]] = json.loads(row[0])
        return out

    def get(self, checkpoint: str, clip: str | Path, label_set: str) -> dict | None:
        return self.get_many(checkpoint, [Path(clip)], label_set).get(str(Path(clip).resolve()))

    def checkpoints(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT checkpoint FROM results ORDER BY checkpoint")]

    def export(self, path: str | Path) -> int:
        """Write every stored result as JSONL (.jsonl) or CSV (.csv); returns the row count."""
        path = Path(path)
        with self._lock:
            rows = self._db.execute("SELECT checkpoint, clip, label_set, result, created FROM results").fetchall()
        if path.suffix == ".csv":
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["checkpoint", "clip", "label_set", "label", "error", "created"])
                for ck, clip, ls, res, created in rows:
                    r = json.loads(res)
                    w.writerow([ck, clip, ls, r.get("label"), r.get("error"), created])
        else:
            with path.open("w", encoding="utf-8") as fh:
                for ck, clip, ls, res, created in rows:
                    fh.write(json.dumps({"checkpoint": ck, "clip": clip, "label_set": ls, "created": created,
                                         "result": json.loads(res)}) + "\n")
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
