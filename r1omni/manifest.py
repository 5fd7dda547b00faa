"""Clip manifests (DESIGN 3.4): CSV with a `path` column (relative to the manifest) and optional `label`,
`dataset`, `split` and any metadata columns; or R1-Omni's training JSON (`video`, `conversations`).

Also the labels datasets carry themselves: DFEW's split CSVs (`video_name`, `label` 1-7) and the RAVDESS and
CREMA-D file-name conventions, each with the label set it implies (`read_labels`, `label_from_name`).
Knows nothing about models or media decoding.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from r1omni.errors import UsageError
from r1omni.prompts import LABEL_SETS, normalize_label, paper_answer

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class ManifestRow:
    path: Path
    label: str | None = None
    dataset: str = "default"
    split: str | None = None
    meta: dict = field(default_factory=dict)
    answer: str | None = None  # the ground truth as written (the paper's exact-match reference)


class NotAManifest(UsageError):
    """A CSV/JSON file that is none of the manifest formats (a library reports it and goes on)."""


# DFEW's split CSVs: video_name -> 1-7 (the dataset's own code order).
DFEW_CODES = {1: "happy", 2: "sad", 3: "neutral", 4: "angry", 5: "surprise", 6: "disgust", 7: "fear"}
# RAVDESS: modality-channel-EMOTION-intensity-statement-repetition-actor, e.g. 01-01-08-02-01-01-19.
_RAVDESS = re.compile(r"^0[1-3]-0[12]-(0[1-8])-0[12]-0[12]-0[12]-\d{2}$")
RAVDESS_CODES = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
                 "07": "disgust", "08": "surprise"}
# CREMA-D: actor_sentence_EMOTION_level, e.g. 1001_DFA_ANG_XX (the emotion the actor was asked to play).
_CREMA = re.compile(r"^\d{4}_[A-Z]{3}_(ANG|DIS|FEA|HAP|NEU|SAD)_[A-Z]{2}$")
CREMA_CODES = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
KNOWN_LABELS = frozenset(lab for labels in LABEL_SETS.values() for lab in labels)


@dataclass(frozen=True)
class NameLabel:
    label: str
    dataset: str
    label_set: str  # the smallest of our label sets that holds the dataset's classes


def label_from_name(name: str) -> NameLabel | None:
    """The label a RAVDESS or CREMA-D file name encodes, or None for any other name.

    >>> label_from_name("01-01-08-02-01-01-19.mp4"), label_from_name("1001_DFA_ANG_XX.flv").label
    (NameLabel(label='surprise', dataset='ravdess', label_set='ravdess'), 'angry')
    """
    stem = Path(name).stem
    m = _RAVDESS.match(stem)
    if m:
        return NameLabel(RAVDESS_CODES[m.group(1)], "ravdess", "ravdess")
    m = _CREMA.match(stem)
    if m:
        return NameLabel(CREMA_CODES[m.group(1)], "crema-d", "dfew")  # CREMA-D's 6 classes are in DFEW's 7
    return None


def read_labels(path: str | Path) -> tuple[str, list[ManifestRow]]:
    """(kind, rows) of any label file: 'manifest' (CSV with `path`), 'dfew-split' (rows' `path` is the bare
    video name, to be matched by file stem) or 'r1omni-json'. NotAManifest for any other CSV/JSON."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise NotAManifest(f"'{path.name}' cannot be read as CSV ({err}); ignored") from None
        cols = [h.strip() for h in header]
        if "path" in cols:
            return "manifest", read_manifest(path)
        if "video_name" in cols and "label" in cols:
            return "dfew-split", _read_dfew_split(path)
        shown = ", ".join(cols[:5]) + (", ..." if len(cols) > 5 else "")
        raise NotAManifest(f"'{path.name}' is not a manifest (no 'path' column; header: {shown}); ignored")
    if path.suffix.lower() == ".json":
        try:
            return "r1omni-json", read_manifest(path)
        except UsageError as err:
            raise NotAManifest(f"'{path.name}' is not an R1-Omni JSON manifest; ignored ({err})") from None
    raise NotAManifest(f"'{path.name}' is not a manifest (.csv or .json); ignored")


def _read_dfew_split(path: Path) -> list[ManifestRow]:
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for n, rec in enumerate(csv.DictReader(fh), 2):
            name, code = (rec.get("video_name") or "").strip(), (rec.get("label") or "").strip()
            if not name:
                continue
            try:
                label = DFEW_CODES[int(code)]
            except (ValueError, KeyError):
                raise UsageError(f"DFEW split '{path.name}' line {n}: label '{code}' is not a code 1-7") from None
            rows.append(ManifestRow(Path(name), label, "dfew", meta={"label_set": "dfew"}))
    return rows


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Rows of a CSV or R1-Omni JSON manifest, with clip paths made absolute."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"manifest '{path}' does not exist or is not a file")
    try:
        if path.suffix.lower() == ".json":
            return _read_json(path)
        return _read_csv(path)
    except UsageError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as err:
        raise UsageError(f"cannot read manifest '{path}': {err}") from None


def _read_csv(path: Path) -> list[ManifestRow]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise UsageError(f"manifest '{path}' has no 'path' column (header: {reader.fieldnames})")
        rows = []
        parent = str(path.parent.resolve())
        for rec in reader:
            if not rec.get("path"):
                continue
            meta = {k: v for k, v in rec.items() if k not in ("path", "label", "dataset", "split") and k}
            label = rec.get("label") or None
            rows.append(
                ManifestRow(
                    path=Path(os.path.abspath(os.path.join(parent, rec["path"]))),
                    label=normalize_label(label) if label else None,
                    dataset=rec.get("dataset") or "default",
                    split=rec.get("split") or None,
                    meta=meta,
                    answer=paper_answer(label) if label else None,
                )
            )
    return rows


def _read_json(path: Path) -> list[ManifestRow]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise UsageError(f"manifest '{path}' must be a JSON list of {{'video', 'conversations'}} records")
    rows = []
    for rec in data:
        if not isinstance(rec, dict) or "video" not in rec:
            raise UsageError(f"manifest '{path}' has a record without 'video'")
        answer, exact = None, None
        for turn in rec.get("conversations", []):
            if turn.get("from") == "gpt":
                m = _ANSWER.search(turn.get("value", ""))
                answer = (m.group(1) if m else turn.get("value", "")).strip()
                exact = paper_answer(turn.get("value", ""))
        video = str(rec["video"])
        dataset = "mafw" if "MAFW" in video else ("dfew" if "DFEW" in video else "default")
        rows.append(
            ManifestRow(
                path=(path.parent / video).resolve(),
                label=normalize_label(answer) if answer else None,
                dataset=dataset,
                meta={k: v for k, v in rec.items() if k not in ("video", "conversations")},
                answer=exact or None,
            )
        )
    return rows
