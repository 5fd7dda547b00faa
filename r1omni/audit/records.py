"""Audit records as files (DESIGN 3.7): JSONL export / import, CSV (one row per claim verdict), HF datasets.

JSONL: one object per audited prediction, keys sorted, UTF-8, one line each, ordered by prediction_id;
claims nested with their character offsets and every annotator's verdicts, then clip verdicts and
every adjudication with its time (the latest per claim counts). CSV: `claim_index` is the 0-based `index`,
`claim` the number the app shows (index + 1). Reading validates every record and names the line of the first bad one. Knows the store
only through `AuditStore.item` / `import_records`.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from r1omni.audit.store import CATEGORIES, VERDICTS, AuditStore
from r1omni.errors import UsageError

FORMATS = ("jsonl", "csv", "hf")
CSV_COLUMNS = ["prediction_id", "clip", "checkpoint", "label", "claim_index", "claim", "start", "end", "text", "cites",
               "auto_flags", "annotator", "verdict", "category", "note", "created_at", "version",
               "adjudicated_verdict"]


def record(item: dict) -> dict:
    """The DESIGN 3.7 record of one store item."""
    # every decision with its time, oldest first (the latest one per claim counts)
    adj = sorted(({k: a[k] for k in ("claim_index", "adjudicator", "verdict", "category", "note", "created_at")}
                  for c in item["claims"] for a in c["adjudications"]),
                 key=lambda a: (a["created_at"], a["claim_index"]))
    return {
        "prediction_id": item["prediction_id"], "clip": item["clip"], "checkpoint": item["checkpoint"],
        "label_set": item["label_set"], "completion": item["completion"], "label": item["label"],
        "claims": [{"index": c["index"], "start": c["start"], "end": c["end"], "text": c["text"], "cites": c["cites"],
                    "auto_flags": c["auto_flags"], "support": c["support"],
                    "verdicts": [{k: v[k] for k in ("annotator", "verdict", "category", "note", "created_at",
                                                    "version")} for v in c["verdicts"]]}
                   for c in item["claims"]],
        "clip_verdicts": [{k: v[k] for k in ("annotator", "verdict", "note", "created_at")}
                          for v in item["clip_verdicts"]],
        "adjudications": adj,
    }


def audited_records(store: AuditStore) -> list[dict]:
    """Records of every prediction that has at least one verdict, clip verdict or adjudication."""
    out = []
    with store.snapshot():  # one consistent state even while annotators keep writing
        for pid in store.prediction_ids():
            rec = record(store.item(pid))
            if rec["clip_verdicts"] or rec["adjudications"] or any(c["verdicts"] for c in rec["claims"]):
                out.append(rec)
    return out


def dumps(rec: dict) -> str:
    return json.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def export(store: AuditStore, out: str | Path, fmt: str = "jsonl") -> int:
    """Write the audited records to `out` in `fmt`; returns the number of predictions written."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; choose one of: {', '.join(FORMATS)}")
    out = Path(out)
    if out.parent and not out.parent.is_dir():
        raise UsageError(f"folder '{out.parent}' does not exist")
    recs = audited_records(store)
    if fmt == "jsonl":
        with out.open("w", encoding="utf-8", newline="\n") as fh:
            for r in recs:
                fh.write(dumps(r) + "\n")
    elif fmt == "csv":
        with out.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS)
            for row in csv_rows(recs):
                w.writerow(row)
    else:
        write_hf(recs, out)
    return len(recs)


def csv_rows(recs: list[dict]) -> list[list]:
    rows = []
    for r in recs:
        adj = {a["claim_index"]: a["verdict"] for a in r["adjudications"]}  # oldest first: the latest wins
        for c in r["claims"]:
            for v in c["verdicts"]:
                rows.append([r["prediction_id"], r["clip"], r["checkpoint"], r["label"], c["index"], c["index"] + 1,
                             c["start"],
                             c["end"], c["text"], ";".join(c["cites"]), ";".join(c["auto_flags"]), v["annotator"],
                             v["verdict"], v["category"] or "", v["note"] or "", v["created_at"], v["version"],
                             adj.get(c["index"], "")])
    return rows


def write_hf(recs: list[dict], out: Path) -> None:
    """A `datasets` folder (save_to_disk); `support` is kept as a JSON string (its keys vary per claim)."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    flat = [{**r, "claims": [{**c, "support": json.dumps(c["support"], sort_keys=True)} for c in r["claims"]]}
            for r in recs]
    Dataset.from_list(flat).save_to_disk(str(out))


# ---------------------------------------------------------------- reading
def read_jsonl(path: str | Path) -> list[dict]:
    """Validated records of an export file; UsageError naming the line of the first bad record."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read '{path}': {err}") from None
    recs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            validate(rec)
        except (json.JSONDecodeError, UsageError, KeyError, TypeError, ValueError) as err:
            what = f"missing key {err}" if isinstance(err, KeyError) else str(err)
            raise UsageError(f"{path} line {n}: {what}") from None
        recs.append(rec)
    return recs


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise UsageError(message)


def validate(rec: dict) -> None:
    _need(isinstance(rec, dict), "not a JSON object")
    for k in ("prediction_id", "clip", "checkpoint", "label_set", "completion"):
        _need(isinstance(rec[k], str) and rec[k] != "", f"'{k}' must be a non-empty string")
    _need(rec["label"] is None or isinstance(rec["label"], str), "'label' must be a string or null")
    completion = rec["completion"]
    for i, c in enumerate(rec["claims"]):
        _need(c["index"] == i, f"claim {i}: index {c['index']} out of order")
        ints = isinstance(c["start"], int) and isinstance(c["end"], int)
        _need(ints and completion[c["start"]:c["end"]] == c["text"], f"claim {i}: completion[start:end] != text")
        _need(isinstance(c["cites"], list) and isinstance(c["auto_flags"], list), f"claim {i}: cites/auto_flags")
        _need(c["support"] is None or isinstance(c["support"], dict), f"claim {i}: support must be an object or null")
        for v in c["verdicts"]:
            _verdict(v, f"claim {i}")
            _need(isinstance(v["version"], int) and v["version"] >= 1, f"claim {i}: version must be >= 1")
            _need(isinstance(v["annotator"], str) and v["annotator"].strip(), f"claim {i}: empty annotator")
    for v in rec["clip_verdicts"]:
        _need(v["verdict"] in VERDICTS, f"clip verdict '{v['verdict']}' is not one of: {', '.join(VERDICTS)}")
        _need(isinstance(v["annotator"], str) and v["annotator"].strip(), "clip verdict: empty annotator")
        _need(isinstance(v["created_at"], str), "clip verdict: created_at must be a string")
    n = len(rec["claims"])
    for a in rec["adjudications"]:
        _need(isinstance(a["claim_index"], int) and 0 <= a["claim_index"] < n,
              f"adjudication claim_index {a['claim_index']} out of range")
        _verdict(a, f"adjudication of claim {a['claim_index']}")
        _need(isinstance(a["adjudicator"], str) and a["adjudicator"].strip(), "adjudication: empty adjudicator")


def _verdict(v: dict, where: str) -> None:
    _need(v["verdict"] in VERDICTS, f"{where}: verdict '{v['verdict']}' is not one of: {', '.join(VERDICTS)}")
    _need(v["category"] is None or v["category"] in CATEGORIES, f"{where}: unknown category '{v['category']}'")
    _need(v["note"] is None or isinstance(v["note"], str), f"{where}: note must be a string or null")
    _need(isinstance(v["created_at"], str), f"{where}: created_at must be a string")


def import_file(store: AuditStore, path: str | Path) -> dict:
    """Import an export file (all records, or nothing when one is bad)."""
    return import_records(store, read_jsonl(path), path)


def import_records(store: AuditStore, recs: list[dict], path: str | Path = "records") -> dict:
    try:
        return store.import_records(recs)
    except sqlite3.IntegrityError as err:
        raise UsageError(f"{path}: a record does not fit the stored predictions ({err}); nothing imported") from None
