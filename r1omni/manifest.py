"""Clip manifests (DESIGN 3.4): CSV with a `path` column (relative to the manifest) and optional `label`,
`dataset`, `split` and any metadata columns; or R1-Omni's training JSON (`video`, `conversations`).

Knows nothing about models or media decoding.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from r1omni.errors import UsageError
from r1omni.prompts import normalize_label, paper_answer

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class ManifestRow:
    path: Path
    label: str | None = None
    dataset: str = "default"
    split: str | None = None
    meta: dict = field(default_factory=dict)
    answer: str | None = None  # the ground truth as written (the paper's exact-match reference)


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
        for rec in reader:
            if not rec.get("path"):
                continue
            meta = {k: v for k, v in rec.items() if k not in ("path", "label", "dataset", "split") and k}
            label = rec.get("label") or None
            rows.append(
                ManifestRow(
                    path=(path.parent / rec["path"]).resolve(),
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
