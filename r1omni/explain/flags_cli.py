"""`r1omni flags calibrate | show`: the claim-flag rule's thresholds per checkpoint (`calibration.py`).

    r1omni flags calibrate --checkpoint CKPT --clips DIR [--target-precision 0.9]      (rewrites, no annotators)
    r1omni flags calibrate --checkpoint CKPT --from-audit FILE.jsonl [--target-precision 0.9]
    r1omni flags show --checkpoint CKPT

`calibrate` stores the result under the checkpoint's fingerprint in the per-user calibration file (unless
`--no-save`) and prints it (`--json`: the stored object). Bad input raises `UsageError` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from r1omni.errors import UsageError


def register(sub, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> None:
    p = sub.add_parser("flags", help="claim-flag thresholds: calibrate per checkpoint, show")
    fsub = p.add_subparsers(dest="flags_command", required=True, parser_class=parser_class)
    c = fsub.add_parser("calibrate", help="fit the unsupported-claim rule to rewrites or to audit verdicts")
    c.add_argument("--checkpoint", default=None, help="checkpoint folder (default: assets/demo-checkpoint)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--clips", default=None,
                     help="folder of clips: the model's own claims vs emotion-swapped rewrites")
    src.add_argument("--from-audit", default=None, help="audit export (DESIGN 3.7 JSONL) with verdicts")
    c.add_argument("--target-precision", type=float, default=0.9)
    c.add_argument("--confidence", type=float, default=0.95, help="one-sided Clopper-Pearson confidence")
    c.add_argument("--seed", type=int, default=0, help="split of fit / certify halves, rewrite labels")
    c.add_argument("--label-set", default="dfew")
    c.add_argument("--max-new-tokens", type=int, default=None)
    c.add_argument("--batch-size", type=int, default=4)
    c.add_argument("--device", default="auto")
    c.add_argument("--no-save", action="store_true", help="print the result, do not store it")
    c.add_argument("--json", action="store_true")
    c.add_argument("--allow-pickle", action="store_true")
    c.add_argument("--allow-network", action="store_true")
    c.add_argument("--debug", action="store_true")
    s = fsub.add_parser("show", help="the stored calibration of a checkpoint")
    s.add_argument("--checkpoint", default=None)
    s.add_argument("--json", action="store_true")
    s.add_argument("--debug", action="store_true")


def _folder(checkpoint: str | None) -> Path:
    from r1omni.inference import DEMO_CHECKPOINT

    folder = Path(checkpoint).expanduser() if checkpoint else DEMO_CHECKPOINT
    if not folder.is_dir():
        raise UsageError(f"checkpoint folder '{checkpoint}' does not exist (calibration needs a local folder)")
    return folder


def _clips(folder: str) -> list[str]:
    from r1omni.library_store import MEDIA_SUFFIXES

    p = Path(folder).expanduser()
    if not p.is_dir():
        raise UsageError(f"--clips '{folder}' is not a folder")
    found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES)
    if not found:
        raise UsageError(f"--clips '{folder}' holds no media files")
    return found


def check_args(args) -> None:
    if args.flags_command == "calibrate":
        if not 0 < args.target_precision < 1:
            raise UsageError(f"--target-precision must be between 0 and 1, got {args.target_precision}")
        if not 0.5 <= args.confidence < 1:
            raise UsageError(f"--confidence must be in [0.5, 1), got {args.confidence}")
        if args.batch_size < 1 or (args.max_new_tokens is not None and args.max_new_tokens < 1):
            raise UsageError("--batch-size and --max-new-tokens must be at least 1")
        from r1omni.prompts import label_set

        label_set(args.label_set)
        if args.from_audit and not Path(args.from_audit).is_file():
            raise UsageError(f"--from-audit '{args.from_audit}' does not exist or is not a file")
    _folder(args.checkpoint)


def run(args) -> int:
    from r1omni.explain import calibration

    check_args(args)
    folder = _folder(args.checkpoint)
    if args.flags_command == "show":
        cal = calibration.load_calibration(calibration.folder_fingerprint(folder))
        if cal is None:
            raise UsageError(f"checkpoint '{folder.name}' is not calibrated (run 'r1omni flags calibrate')")
        print(json.dumps(cal.to_dict(), sort_keys=True) if args.json else cal.summary())
        return 0
    fp = calibration.folder_fingerprint(folder)
    if args.from_audit:
        from r1omni.audit.records import read_jsonl

        records = read_jsonl(args.from_audit)
        names = {r.get("checkpoint") for r in records}
        cal = calibration.calibrate_from_audit(records, fp, target_precision=args.target_precision,
                                               confidence=args.confidence, seed=args.seed,
                                               inputs=f"audit: {Path(args.from_audit).name} (checkpoints: "
                                                      f"{', '.join(sorted(str(n) for n in names))})")
    else:
        from r1omni.inference import Pipeline

        clips = _clips(args.clips)
        pipe = Pipeline.load(args.checkpoint, device=args.device, allow_pickle=args.allow_pickle,
                             allow_network=args.allow_network)
        cal = calibration.calibrate_from_rewrites(pipe, clips, fingerprint=fp, label_set=args.label_set,
                                                  target_precision=args.target_precision, confidence=args.confidence,
                                                  seed=args.seed, max_new_tokens=args.max_new_tokens,
                                                  batch_size=args.batch_size,
                                                  inputs=f"clips: {Path(args.clips).name} ({len(clips)})")
    if not args.no_save:
        calibration.save_calibration(cal, folder)
    print(json.dumps(cal.to_dict(), sort_keys=True) if args.json else cal.summary())
    return 0
