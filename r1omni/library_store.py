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
import os
import sqlite3
import threading
import time
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from r1omni.errors import UsageError
from r1omni.manifest import KNOWN_LABELS, ManifestRow, label_from_name, read_labels
from r1omni.prompts import LABEL_SETS

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2 adds the media (duration) and file_hashes caches
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
    label_set: str | None = None  # the label set the label's source implies (None: unknown)
    mtime_ns: int = 0  # file key at open time (the store looks results up by it, without a stat per clip)
    size: int = 0

    @property
    def key(self) -> tuple[str, int, int]:
        return str(self.path), self.mtime_ns, self.size


@dataclass(frozen=True)
class Library:
    root: Path
    source: Path  # the folder or manifest that was opened
    clips: list[LibraryClip]
    skipped: list[str] = field(default_factory=list)  # rows refused (outside the root, missing)
    reports: list[str] = field(default_factory=list)  # one line per ignored label file (not a manifest, ...)


def resolve_inside(root: str | Path, path: str | Path) -> Path:
    """`path` (absolute, or relative to `root`) resolved; UsageError when it is not under `root`."""
    root = Path(root).resolve()
    p = Path(path)
    p = (p if p.is_absolute() else root / p).resolve()
    if p != root and root not in p.parents:
        raise UsageError(f"'{path}' is outside the library root")
    return p


def probe_duration(path: Path) -> float | None:
    """Container duration in seconds without decoding, or None when unknown."""
    try:
        import av

        with av.open(str(path)) as c:
            return c.duration / 1_000_000 if c.duration else None
    except Exception:  # noqa: BLE001 - any unreadable file simply has no duration here
        return None


LABEL_FILE_SUFFIXES = {".csv", ".json"}
MAX_LABEL_FILES = 50  # label files read per folder (a data folder may hold many unrelated CSVs)
PROBE_BUDGET_S = 2.0  # durations probed while opening; the rest are probed in the background and cached


def _scan(folder: Path, root: Path, skipped: list[str]) -> tuple[list[str], list[Path]]:
    """(media files, label files) under `folder`, sorted; symlinks out of the root are skipped. Walks with
    os.scandir and resolves only symlinks (the root is resolved already), so 15,000 files take well under
    a second."""
    media, labels = [], []
    roots = str(root)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            suffix = os.path.splitext(name)[1].lower()
            if suffix not in MEDIA_SUFFIXES and suffix not in LABEL_FILE_SUFFIXES:
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                real = os.path.realpath(full)
                if not real.startswith(roots + os.sep):  # a symlink pointing out of the root
                    skipped.append(f"{full[len(roots) + 1:]} (outside the library root)")
                    continue
                full = real
            if not os.path.isfile(full):
                continue
            (media if suffix in MEDIA_SUFFIXES else labels).append(full)
    media.sort()
    labels.sort()
    return media, [Path(x) for x in labels[:MAX_LABEL_FILES]]


def _label_index(files: list[Path], root: Path, reports: list[str],
                 skipped: list[str]) -> tuple[dict[str, ManifestRow], dict]:
    """Labels by absolute path string (manifests, R1-Omni JSON) and by file stem (DFEW split CSVs); rows
    naming files that are not there are added to `skipped`."""
    by_path: dict[str, ManifestRow] = {}
    by_stem: dict[str, ManifestRow] = {}
    for f in files:
        try:
            kind, rows = read_labels(f)
        except UsageError as err:  # NotAManifest, or a broken manifest: report it and go on
            reports.append(f"{f.relative_to(root)}: {err}" if not str(err).startswith("'") else str(err))
            continue
        for row in rows:
            if kind == "dfew-split":
                by_stem.setdefault(_stem_key(row.path.name), row)
            elif not os.path.isfile(row.path):
                skipped.append(f"{row.path.name} (listed in {f.name}, missing)")
            else:
                by_path.setdefault(str(row.path), row)
    return by_path, by_stem


def _stem_key(name: str) -> str:
    base, ext = os.path.splitext(name)
    stem = base if ext.lower() in MEDIA_SUFFIXES else name
    return (stem.lstrip("0") or "0") if stem.isdigit() else stem


def _clip(ps: str, root: Path, row: ManifestRow | None, skipped: list[str]) -> LibraryClip:
    """A library clip with its label from a manifest row, else from the dataset's file-name convention."""
    rel = ps[len(str(root)) + 1:]
    st = os.stat(ps)
    label, dataset, label_set, meta, dur = None, "default", None, {}, None
    if row is not None:
        label, dataset, meta = row.label, row.dataset, dict(row.meta)
        label_set = meta.pop("label_set", None) or (row.dataset if row.dataset in LABEL_SETS else None)
        dur = _float(meta.get("duration_s"))
        if label is not None and label not in KNOWN_LABELS:
            skipped.append(f"{rel} (unknown label '{label}'; shown unlabelled)")
            label = None
    if label is None:
        named = label_from_name(os.path.basename(ps))
        if named is not None:
            label, dataset, label_set = named.label, named.dataset, named.label_set
    return LibraryClip(Path(ps), rel, label, dataset, dur, meta, label_set, st.st_mtime_ns, st.st_size)


def open_library(path: str | Path, root: str | Path, store: LibraryStore | None = None) -> Library:
    """Clips of a folder (every media file under it, labelled by any manifests, DFEW split CSVs or R1-Omni JSON
    it holds, else by RAVDESS / CREMA-D file names) or of one manifest file. A CSV that is not a manifest is
    reported in `reports` and ignored. Durations come from the manifest, else from `store`'s cache, else are
    probed (for PROBE_BUDGET_S; the rest in a background thread that fills the cache)."""
    source = resolve_inside(root, path)
    if not source.exists():
        raise UsageError(f"library '{path}' does not exist")
    root = Path(root).resolve()
    clips, skipped, reports = [], [], []
    if source.is_file():
        kind, rows = read_labels(source)  # opened on purpose: not being a manifest is the error
        if kind == "dfew-split":
            media, _ = _scan(source.parent, root, skipped)
            stems = {_stem_key(r.path.name): r for r in rows}
            pairs = [(p, stems[_stem_key(os.path.basename(p))]) for p in media
                     if _stem_key(os.path.basename(p)) in stems]
        else:
            pairs = []
            for row in rows:
                try:
                    p = resolve_inside(root, row.path)
                except UsageError:
                    skipped.append(f"{row.path.name} (outside the library root)")
                    continue
                if not p.is_file():
                    skipped.append(f"{p.relative_to(root) if root in p.parents else row.path.name} (missing)")
                    continue
                pairs.append((str(p), row))
    else:
        media, label_files = _scan(source, root, skipped)
        by_path, by_stem = _label_index(label_files, root, reports, skipped)
        pairs = [(p, by_path.get(p) or (by_stem.get(_stem_key(os.path.basename(p))) if by_stem else None))
                 for p in media]
    for p, row in pairs:
        try:
            clips.append(_clip(p, root, row, skipped))
        except OSError:
            skipped.append(f"{os.path.basename(p)} (cannot be read)")
    clips = _with_durations(clips, store)
    if skipped or reports:
        logger.warning("library %s: skipped %d rows, %d label files ignored: %s", source, len(skipped), len(reports),
                       "; ".join((reports + skipped)[:5]))
    return Library(root, source, clips, skipped, reports)


def _with_durations(clips: list[LibraryClip], store: LibraryStore | None) -> list[LibraryClip]:
    """Fill unknown durations from the store's cache, probe what the budget allows, probe the rest later."""
    cached = store.durations([c.key for c in clips]) if store is not None else {}
    out, todo, probed = [], [], []
    deadline = time.monotonic() + PROBE_BUDGET_S
    for c in clips:
        if c.duration_s is None and c.key in cached:
            c = replace(c, duration_s=cached[c.key])
        elif c.duration_s is None and time.monotonic() < deadline:
            c = replace(c, duration_s=probe_duration(c.path))
            probed.append((c.key, c.duration_s))
        elif c.duration_s is None:
            todo.append(c.key)
        out.append(c)
    if store is not None:
        store.put_durations(probed)
        if todo:
            threading.Thread(target=_probe_later, args=(store, todo), daemon=True, name="probe-durations").start()
    return out


def _probe_later(store: LibraryStore, keys: list[tuple[str, int, int]]) -> None:
    for i in range(0, len(keys), 200):
        chunk = keys[i:i + 200]
        try:
            store.put_durations([(k, probe_duration(Path(k[0]))) for k in chunk])
        except Exception:  # noqa: BLE001 - a closed store or vanished file: the cache stays partial
            logger.debug("background duration probe stopped", exc_info=True)
            return


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


CHECKPOINT_FILES = (".safetensors", ".bin", ".pt", ".pth")


def checkpoint_fingerprint(folder: str | Path, store: LibraryStore | None = None) -> str:
    """'<folder name>@<16 hex>': a hash of config.json and the weights' content (hashed once per file
    version when a store caches it). Results are keyed by it, so a retrained folder never shows stale
    results and a copied folder shares its results."""
    folder = Path(folder).resolve()
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.name == "config.json" or f.suffix in CHECKPOINT_FILES or f.name.endswith(".index.json")):
            h.update(f.name.encode())
            h.update((store.file_sha256(f) if store is not None else _sha256(f)).encode())
    return f"{folder.name}@{h.hexdigest()[:16]}"


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
            elif row[0] == 1:  # version 1 had the results table only; the caches are added below
                self._db.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise UsageError(f"results database '{self.path.name}' has schema version {row[0]}, "
                                 f"expected {SCHEMA_VERSION}")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS media (clip TEXT NOT NULL, mtime_ns INTEGER NOT NULL, "
                "size INTEGER NOT NULL, duration_s REAL, PRIMARY KEY (clip, mtime_ns, size))")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS file_hashes (file TEXT NOT NULL, mtime_ns INTEGER NOT NULL, "
                "size INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (file, mtime_ns, size))")
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

    def put_many(self, checkpoint: str, label_set: str, items: list[tuple[tuple[str, int, int], dict]]) -> None:
        """Store one batch of (file key, result) in one transaction."""
        now = time.time()
        with self._tx():
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [(checkpoint, *key, label_set, json.dumps(res), now) for key, res in items])

    def get_keyed(self, checkpoint: str, keys: list[tuple[str, int, int]], label_set: str) -> dict[tuple, dict]:
        """{file key: result} for the given file keys (one query; no stat of any file)."""
        wanted = set(keys)
        out = {}
        with self._lock:
            cur = self._db.execute("SELECT clip, mtime_ns, size, result FROM results WHERE checkpoint=? AND "
                                   "label_set=?", (checkpoint, label_set))
            for clip, mtime, size, res in cur:
                if (clip, mtime, size) in wanted:
                    out[(clip, mtime, size)] = json.loads(res)
        return out

    def durations(self, keys: list[tuple[str, int, int]]) -> dict[tuple, float | None]:
        """Cached container durations by file key (a key absent here was never probed)."""
        wanted = set(keys)
        with self._lock:
            rows = self._db.execute("SELECT clip, mtime_ns, size, duration_s FROM media").fetchall()
        return {(c, m, s): d for c, m, s, d in rows if (c, m, s) in wanted}

    def put_durations(self, items: list[tuple[tuple[str, int, int], float | None]]) -> None:
        if not items:
            return
        with self._tx():
            self._db.executemany("INSERT OR REPLACE INTO media VALUES (?, ?, ?, ?)",
                                 [(*key, dur) for key, dur in items])

    def file_sha256(self, path: Path) -> str:
        """Content hash of a file, computed once per (path, mtime, size) and cached here."""
        key = file_key(path)
        with self._lock:
            row = self._db.execute("SELECT sha256 FROM file_hashes WHERE file=? AND mtime_ns=? AND size=?",
                                   key).fetchone()
        if row:
            return row[0]
        digest = _sha256(Path(key[0]))
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)", (*key, digest))
        return digest

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
