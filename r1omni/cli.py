"""The `r1omni` command (also `python -m r1omni`): predict, explain, eval, synth, layout, init-checkpoint, audit,
flags.

Every command exits 0 on success and 2 with one `error: ...` line on stderr for bad input or usage (a
traceback only with --debug). With several clips, a bad clip yields `{"clip", "error"}` in the JSON stream
and the others go on; the command then exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path

from r1omni.audit import cli as audit_cli
from r1omni.errors import R1OmniError, UsageError
from r1omni.explain import flags_cli


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _common(p: argparse.ArgumentParser, clips: bool = True) -> None:
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: assets/demo-checkpoint)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--json", action="store_true", help="one JSON object per clip per line on stdout")
    p.add_argument("--allow-pickle", action="store_true", help="allow .bin/pickle weights (unsafe)")
    p.add_argument("--allow-network", action="store_true", help="allow resolving hub ids over the network")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--quantize", default="none", choices=["none", "int8"],
                   help="int8: CPU path with int8 dynamic-quantised linear layers (README: speed and agreement)")
    if clips:
        p.add_argument("--label-set", default="dfew", help="dfew | mafw | ravdess")
        p.add_argument("--question", default=None, help="instruction (default: the R1-Omni inference prompt)")
        decoding = p.add_mutually_exclusive_group()
        decoding.add_argument("--sample", dest="sample", action="store_const", const=True, default=None,
                              help="sample (default: the checkpoint's generation_config.json, else greedy)")
        decoding.add_argument("--greedy", dest="sample", action="store_const", const=False, help="greedy decoding")
        p.add_argument("--max-new-tokens", type=int, default=None,
                       help="limit on generated tokens (default: the checkpoint's generation_config.json, else 2048)")
        p.add_argument("--batch-size", type=int, default=8)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="r1omni", description="Inspect R1-Omni-style emotion models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("predict", help="answer: label, reasoning, class distribution")
    p.add_argument("clips", nargs="+")
    _common(p)
    p = sub.add_parser("explain", help="which video and audio cues drove the answer")
    p.add_argument("clips", nargs="+")
    p.add_argument("--mode", choices=["full", "fast"], default="full")
    p.add_argument("--target", choices=["answer", "reasoning", "completion"], default="completion",
                   help="which tokens the modality Shapley values and the timeline explain (docs/EXPLANATIONS.md)")
    p.add_argument("--temporal", choices=["occlude", "both", "gradient"], default="both",
                   help="timeline score: leave-one-out drop only, the mean of drop and keep-one (default), or "
                        "gradient x (input - baseline) from one backward pass (cheaper; see README for how well "
                        "it points)")
    p.add_argument("--counterfactuals", choices=["rewrite", "bank"], default="rewrite",
                   help="claim counterfactuals: rewrites of the claim itself (default) or the checkpoint's "
                        "counterfactuals.json bank")
    p.add_argument("--flag-threshold", action="append", default=[], metavar="NAME=VALUE",
                   help="set one claim-flag threshold (e.g. contrast_eps=0.2), over the checkpoint's calibration")
    _common(p)
    p = sub.add_parser("eval", help="WAR/UAR and confusion matrix over a manifest")
    p.add_argument("manifest")
    p.add_argument("--predictions", default=None, help="also write per-clip predictions as JSONL here")
    p.add_argument("--store", default=None, help="also store each result in this Library results database")
    _common(p)
    p = sub.add_parser("synth", help="write cue-controlled synthetic clips + manifest.csv")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes writing clips in parallel")
    p.add_argument("--modalities", default="video,audio,both", help="cue modalities to draw from")
    p.add_argument("--debug", action="store_true")
    p = sub.add_parser("layout", help="every state-dict entry name<TAB>shape (meta device)")
    p.add_argument("--preset", default="r1-omni-0.5b")
    p.add_argument("--debug", action="store_true")
    p = sub.add_parser("init-checkpoint", help="write a random-weight checkpoint in the real layout")
    p.add_argument("--preset", default="r1-omni-0.5b")
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float16"])
    p.add_argument("--debug", action="store_true")
    audit_cli.register(sub, _Parser)
    flags_cli.register(sub, _Parser)
    return parser


# ---------------------------------------------------------------------------------------------------------------
# every argument is checked before any model or media work (exit 2, one line)


def _at_least(args, name: str, low: int, allow_none: bool = False) -> None:
    value = getattr(args, name, None)
    if value is None and allow_none:
        return
    if value is None or value < low:
        raise UsageError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")


def _writable_file(path: str, flag: str) -> None:
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"{flag} '{path}' is a directory; give a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} '{path}': folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{flag} '{path}' is not writable")


def _writable_folder(path: str, flag: str) -> None:
    p = Path(path).expanduser().absolute()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} '{path}' exists and is not a folder")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} '{path}' cannot be written ('{existing}' is not a writable folder)")


def _check_model_args(args) -> None:
    from r1omni.checkpoint import resolve_checkpoint, resolve_device
    from r1omni.prompts import label_set

    from r1omni.quantize import check_quantize

    check_quantize(getattr(args, "quantize", None), resolve_device(args.device))  # also: "foo" / no CUDA
    if args.checkpoint is not None:
        local = Path(args.checkpoint).expanduser().exists() or not args.allow_network
        if local:  # a hub id is resolved (downloaded) only when loading
            resolve_checkpoint(args.checkpoint, allow_network=False)
    label_set(args.label_set)
    _at_least(args, "batch_size", 1)
    _at_least(args, "max_new_tokens", 1, allow_none=True)
    if args.question is not None and not args.question.strip():
        raise UsageError("--question is empty; leave it out for the R1-Omni inference prompt")


def check_args(args) -> None:
    """Raise UsageError / CheckpointError for any bad argument of `args.command`, doing no model or media work."""
    if args.command in ("predict", "explain", "eval"):
        _check_model_args(args)
    if args.command == "explain" and args.flag_threshold:
        from r1omni.explain.flags import FlagThresholds

        FlagThresholds.parse(args.flag_threshold)
    if args.command == "flags":
        flags_cli.check_args(args)
    if args.command == "eval":
        if not Path(args.manifest).is_file():
            raise UsageError(f"manifest '{args.manifest}' does not exist or is not a file")
        if args.predictions:
            _writable_file(args.predictions, "--predictions")
    elif args.command == "synth":
        from r1omni.synthetic.clips import MODALITIES

        _at_least(args, "n", 1)
        _at_least(args, "workers", 1)
        _at_least(args, "seed", 0)
        mods = [m.strip() for m in args.modalities.split(",") if m.strip()]
        bad = [m for m in mods if m not in MODALITIES]
        if not mods or bad:
            raise UsageError(f"--modalities '{args.modalities}': use a comma list of {', '.join(MODALITIES)}")
        _writable_folder(args.out, "--out")
    elif args.command in ("layout", "init-checkpoint"):
        from r1omni.config import PRESETS

        if args.preset not in PRESETS:
            raise UsageError(f"unknown preset '{args.preset}'; available: {', '.join(PRESETS)}")
        if args.command == "init-checkpoint":
            _writable_folder(args.out, "--out")


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _emit(obj: dict, as_json: bool, human: str) -> None:
    print(json.dumps(obj, ensure_ascii=False) if as_json else human, flush=True)


def _report_errors(results) -> int:
    code = 0
    for r in results:
        if "error" in r:
            print(f"error: {r['clip']}: {r['error']}", file=sys.stderr, flush=True)
            code = 2
    return code


def _load(args):
    from r1omni.inference import Pipeline

    return Pipeline.load(args.checkpoint, device=args.device, allow_pickle=args.allow_pickle,
                         allow_network=args.allow_network, quantize=getattr(args, "quantize", None))


def _emit_all(results, as_json: bool, human) -> int:
    """Print each result as it comes (JSON line or `human(d)`; an error as a JSON record and its line on
    stderr); exit code 2 if any failed. Nothing is kept, so any number of clips streams in flat memory."""
    code = 0
    for r in results:
        d = r.to_dict()
        if "error" not in d:
            _emit(d, as_json, human(d) if not as_json else "")
            continue
        if as_json:
            _emit(d, True, "")
        code = max(code, _report_errors([d]))
    return code


def _human_prediction(d: dict) -> str:
    top = max(d["probs"], key=d["probs"].get) if d["probs"] else None
    text = f"{d['clip']}: {d['label']} (p={d['probs'].get(top, 0):.2f})  {d['reasoning'] or d['answer']}"
    return text + "".join(f"\n  notice: {n}" for n in d["notices"])


def _human_explanation(d: dict) -> str:
    pred, share = d["prediction"], d["modality"]["share"]
    head = (f"{pred['clip']}: {pred['label']}  video share {share['video']:.2f}, audio share {share['audio']:.2f}"
            f" (target: {d['modality'].get('target', 'completion')})")
    return head + "".join(f"\n  claim [{','.join(c['cites']) or '-'}] {c['flag'] or 'ok'}: {c['text']}"
                          for c in d["claims"])


def _exact_rows(report: dict) -> list[dict]:
    nan = {"WAR": float("nan"), "UAR": float("nan")}
    return [report["exact"].get(name, nan) for name in report["datasets"]]


def cmd_predict(args) -> int:
    pipe = _load(args)
    results = pipe.iter_predict(args.clips, label_set_name=args.label_set, question=args.question,
                                do_sample=args.sample, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    return _emit_all(results, args.json, _human_prediction)


def cmd_explain(args) -> int:
    from r1omni.explain import explain

    pipe = _load(args)
    thresholds = None
    if args.flag_threshold:
        from r1omni.explain.calibration import resolve_thresholds
        from r1omni.explain.flags import FlagThresholds

        thresholds = FlagThresholds.parse(args.flag_threshold, base=resolve_thresholds(pipe, None)[0])

    def stream():  # one batch of clips at a time: results come out as they are ready, memory stays flat
        for start in range(0, len(args.clips), args.batch_size):
            yield from explain(pipe, args.clips[start : start + args.batch_size], mode=args.mode,
                               label_set=args.label_set, question=args.question, do_sample=args.sample,
                               max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                               target=args.target, temporal=args.temporal, thresholds=thresholds,
                               counterfactuals=args.counterfactuals)

    return _emit_all(stream(), args.json, _human_explanation)


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from r1omni.manifest import read_manifest
    from r1omni.metrics import confusion_matrix, scores_by_dataset
    from r1omni.parallel import Shards
    from r1omni.prompts import label_set, paper_answer

    labels = label_set(args.label_set)
    rows = read_manifest(args.manifest)
    if not rows:
        raise UsageError(f"manifest '{args.manifest}' lists no clips")
    shards = Shards.from_env(args.device)  # under `accelerate launch`: this process's share of the clips
    args.device = shards.device
    pipe = _load(args)
    # per clip only what the scores need is kept; predictions (and --store results) are written as they
    # come, or, under `accelerate launch`, gathered and written once by the main process
    mine, kept = shards.shard(rows), []
    writes = shards.is_main
    out = open(args.predictions, "w", encoding="utf-8") if args.predictions and writes else None  # noqa: SIM115
    store = None
    if args.store and shards.is_main:
        from r1omni.library_store import LibraryStore

        store = LibraryStore(args.store)

    def write(row, d: dict) -> None:
        if store is not None:
            store.put(str(pipe.checkpoint), row.path, args.label_set, d)
        if out is not None and "error" not in d:
            out.write(json.dumps({**d, "true_label": row.label, "dataset": row.dataset}) + "\n")

    try:
        quiet = None if shards.is_main else True
        with tqdm(total=len(mine), desc="eval", unit="clip", file=sys.stderr, disable=quiet) as bar:
            results = pipe.iter_predict([r.path for _, r in mine], label_set_name=args.label_set,
                                        question=args.question, do_sample=args.sample,
                                        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
            for (i, row), res in zip(mine, results, strict=True):
                d = res.to_dict()
                small = d if "error" in d else {"label": d["label"], "exact": paper_answer(d["text"]),
                                                "well_formed": d["well_formed"], "clipped": d["clipped"]}
                if shards.size == 1:
                    write(row, d)
                    kept.append((i, small))
                else:
                    kept.append((i, (small, d if (args.predictions or args.store) else None)))
                bar.update(1)
        gathered = shards.gather(kept)
        if not shards.is_main:
            return 0  # the main process writes the one report, predictions file and store
        if shards.size > 1:
            for row, (_, full) in zip(rows, gathered, strict=True):
                if full is not None:
                    write(row, full)
            gathered = [small for small, _ in gathered]
    finally:
        if out is not None:
            out.close()
        if store is not None:
            store.close()
    preds = [(r, d) for r, d in zip(rows, gathered, strict=True) if "error" not in d]
    errors = [(r, d) for r, d in zip(rows, gathered, strict=True) if "error" in d]
    scored = [(r, d) for r, d in preds if r.label is not None]
    y_true = [r.label for r, _ in scored]
    y_pred = [d["label"] for _, d in scored]
    rows_, cols, matrix = confusion_matrix(y_true, y_pred, labels)
    exact = [(r, d) for r, d in preds if r.answer is not None]
    report = {
        "checkpoint": pipe.display_name,
        "manifest": str(args.manifest),
        "label_set": args.label_set,
        "datasets": scores_by_dataset(y_true, y_pred, [r.dataset for r, _ in scored]),
        "exact": scores_by_dataset([r.answer for r, _ in exact], [d["exact"] for _, d in exact],
                                   [r.dataset for r, _ in exact]),
        "scoring": SCORING,
        "confusion": {"rows": rows_, "cols": cols, "matrix": matrix},
        "well_formed_rate": sum(d["well_formed"] for _, d in preds) / max(1, len(preds)),
        # completions cut at --max-new-tokens before an end token: scored as given (mostly "no answer")
        "clipped": sum(bool(d.get("clipped")) for _, d in preds),
        "errors": [{"clip": str(r.path), "error": d["error"]} for r, d in errors],
    }
    human = "\n".join(f"{name}: WAR {s['WAR']:.4f}  UAR {s['UAR']:.4f}  n={s['n']}  (normalised)   "
                      f"exact WAR {e['WAR']:.4f}  UAR {e['UAR']:.4f}"
                      for (name, s), e in zip(report["datasets"].items(), _exact_rows(report), strict=True))
    if report["clipped"]:
        human += f"\n{report['clipped']} completion(s) stopped at --max-new-tokens before an answer"
    _emit(report, args.json, human)
    for r, d in errors:
        print(f"error: {r.path}: {d['error']}", file=sys.stderr)
    return 2 if errors else 0


SCORING = {
    "datasets": "normalised: the answer mapped onto the label set (case, punctuation, synonyms such as "
                "'Fearful' -> 'fear'), as the app and the confusion matrix read it",
    "exact": "paper-exact: the first one-line <answer>...</answer> (else the whole response), stripped, equal "
             "to the manifest's label as written, case-sensitive (the R1-Omni accuracy reward)",
}


def cmd_synth(args) -> int:
    from r1omni.synthetic import generate_clips

    modalities = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    manifest = generate_clips(Path(args.out), n=args.n, seed=args.seed, modalities=modalities,
                              workers=args.workers)
    print(manifest)
    return 0


def cmd_layout(args) -> int:
    from r1omni.checkpoint import layout

    for name, shape in layout(args.preset):
        print(f"{name}\t{list(shape)}")
    return 0


def cmd_init_checkpoint(args) -> int:
    import torch

    from r1omni.checkpoint import init_checkpoint

    out = init_checkpoint(args.preset, Path(args.out), dtype=getattr(torch, args.dtype))
    print(out)
    return 0


COMMANDS = {
    "predict": cmd_predict,
    "explain": cmd_explain,
    "eval": cmd_eval,
    "synth": cmd_synth,
    "layout": cmd_layout,
    "init-checkpoint": cmd_init_checkpoint,
    "audit": audit_cli.run,
    "flags": flags_cli.run,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    _quiet_libraries()
    try:
        args = build_parser().parse_args(argv)
        check_args(args)
        return COMMANDS[args.command](args)
    except R1OmniError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
