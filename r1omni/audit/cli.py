"""`r1omni audit export | import | stats` (DESIGN 3.7): the audit store from the command line.

`register(subparsers, parser_class)` adds the `audit` command to the main parser; `run(args)` executes it.
Bad input raises `UsageError` (the main CLI prints `error: ...` and exits 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from r1omni.errors import UsageError


def register(sub, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", help="annotators' verdicts: export, import, agreement statistics")
    asub = p.add_subparsers(dest="audit_command", required=True, parser_class=parser_class)
    e = asub.add_parser("export", help="write audited predictions (JSONL, CSV or a datasets folder)")
    e.add_argument("--db", required=True, help="SQLite file of the app (--db)")
    e.add_argument("--out", required=True, help="output file (folder for --format hf)")
    e.add_argument("--format", choices=["jsonl", "csv", "hf"], default="jsonl")
    e.add_argument("--debug", action="store_true")
    i = asub.add_parser("import", help="merge an export file into a store (idempotent)")
    i.add_argument("file")
    i.add_argument("--db", required=True)
    i.add_argument("--debug", action="store_true")
    s = asub.add_parser("stats", help="counts, Cohen's kappa per pair, Krippendorff's alpha, flag precision/recall")
    s.add_argument("--db", required=True)
    s.add_argument("--json", action="store_true")
    s.add_argument("--checkpoint", default=None,
                   help="also re-flag the stored claims under this checkpoint's flag calibration (r1omni flags)")
    s.add_argument("--debug", action="store_true")


def _open(db: str, create: bool = False):
    from r1omni.audit.store import AuditStore

    if not create and not Path(db).is_file():
        raise UsageError(f"database '{db}' does not exist")
    return AuditStore(db)


def run(args) -> int:
    from r1omni.audit import records
    from r1omni.audit.agreement import store_stats

    if args.audit_command == "export":
        with _open(args.db) as store:
            n = records.export(store, args.out, args.format)
        print(f"{n} audited predictions -> {args.out}")
        return 0
    if args.audit_command == "import":
        recs = records.read_jsonl(args.file)  # a bad file is refused before the store is touched
        with _open(args.db, create=True) as store:
            changed = records.import_records(store, recs, args.file)
        print(json.dumps(changed, sort_keys=True))
        return 0
    with _open(args.db) as store:
        st = store_stats(store)
        if getattr(args, "checkpoint", None):
            from r1omni.explain.calibration import audit_stats_calibrated
            from r1omni.explain.flags_cli import _folder

            st |= audit_stats_calibrated(store, _folder(args.checkpoint))
    if args.json:
        print(json.dumps(st, sort_keys=True))
    else:
        print(human_stats(st))
    return 0


def human_stats(st: dict) -> str:
    fl = st["flags_vs_majority"]
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    lines = [f"{st['predictions']} predictions, {st['claims']} claims, {st['verdicts']} verdicts by "
             f"{st['annotators']} annotators",
             f"Krippendorff's alpha (nominal): {fmt(st['alpha'])}"]
    lines += [f"Cohen's kappa {pair}: {fmt(k)}" for pair, k in st["kappa"].items()]
    lines.append(f"flags vs majority: precision {fmt(fl['precision'])}, recall {fmt(fl['recall'])}, n={fl['n']}")
    if "calibration" in st:
        cal, fc = st["calibration"], st["flags_vs_majority_calibrated"]
        if cal is None:
            lines.append("checkpoint not calibrated (r1omni flags calibrate)")
        else:
            lines.append(f"calibrated ({cal['source']}, {cal['created_at']}): flags vs majority: precision "
                         f"{fmt(fc['precision'])}, recall {fmt(fc['recall'])}, n={fc['n']}")
    return "\n".join(lines)
