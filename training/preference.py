"""Audit exports (DESIGN 3.7 JSONL) -> preference pairs in TRL's format (prompt / chosen / rejected).

    python -m training.preference --audit audit.jsonl --out pairs.jsonl [--root CLIPS_DIR]

A claim counts as hallucinated when its adjudication says so or, without one, when the majority of its
annotators' verdicts ("unsure" ignored) is "hallucinated"; ties are not decided. For every audited
prediction with at least one hallucinated claim, the completion is `rejected`; `chosen` is a completion
of the same clip judged clean (every claim supported, at least one verdict) when the export holds one,
else the same completion with the hallucinated claims' sentences cut out (offsets `start`/`end` index
`completion`). Each pair keeps the clip path (`path`) and the question, so the DPO stage can pass the
media. Knows the export format; nothing about models.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from r1omni.errors import UsageError
from r1omni.prompts import DEFAULT_QUESTION

logger = logging.getLogger(__name__)


def claim_verdict(prediction: dict[str, Any], claim: dict[str, Any]) -> str | None:
    """The decided verdict of one claim: adjudication, else the strict majority of the annotators' verdicts."""
    adjudicated = [a for a in prediction.get("adjudications", []) if a.get("claim_index") == claim.get("index")]
    if adjudicated:
        return max(adjudicated, key=lambda a: a.get("created_at") or "").get("verdict")
    votes = Counter(v.get("verdict") for v in claim.get("verdicts", []) if v.get("verdict") in
                    ("supported", "hallucinated"))
    if not votes or votes["supported"] == votes["hallucinated"]:
        return None
    return votes.most_common(1)[0][0]


def remove_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` without the [start, end) spans, whitespace tidied (no doubled spaces, none before a tag).

    >>> remove_spans("<think>The voice shakes. The mouth turns down.</think>", [(7, 24)])
    '<think>The mouth turns down.</think>'
    """
    out, pos = [], 0
    for start, end in sorted(spans):
        out.append(text[pos:start])
        pos = max(pos, end)
    out.append(text[pos:])
    joined = re.sub(r"[ \t]{2,}", " ", "".join(out))
    return re.sub(r"(<think>)\s+|\s+(</think>)", lambda m: m.group(1) or m.group(2), joined)


def read_audit(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read audit export '{path}': {err}") from None
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise UsageError(f"audit export '{path}' line {n} is not JSON: {err.msg}") from None
        if not isinstance(rec, dict) or "completion" not in rec or "claims" not in rec:
            raise UsageError(f"audit export '{path}' line {n} has no 'completion' / 'claims' (DESIGN 3.7)")
        records.append(rec)
    return records


def preference_pairs(records: list[dict[str, Any]], root: str | Path | None = None,
                     question: str = DEFAULT_QUESTION) -> list[dict[str, Any]]:
    """TRL preference rows {prompt, chosen, rejected, path, prediction_id, chosen_source} from audit records."""
    judged = []
    for rec in records:
        verdicts = [claim_verdict(rec, c) for c in rec["claims"]]
        judged.append((rec, verdicts))
    clean_by_clip: dict[str, list[str]] = defaultdict(list)
    for rec, verdicts in judged:
        if verdicts and all(v == "supported" for v in verdicts):
            clean_by_clip[rec["clip"]].append(rec["completion"])
    pairs = []
    for rec, verdicts in judged:
        bad = [c for c, v in zip(rec["claims"], verdicts, strict=True) if v == "hallucinated"]
        if not bad:
            continue
        text = rec["completion"]
        for c in bad:
            if text[c["start"] : c["end"]] != c["text"]:
                raise UsageError(f"prediction {rec.get('prediction_id')}: claim {c.get('index')} offsets do not "
                                 "match its text")
        clean = [t for t in clean_by_clip.get(rec["clip"], []) if t != text]
        chosen, source = (clean[0], "clean sample") if clean else (
            remove_spans(text, [(c["start"], c["end"]) for c in bad]), "claims removed")
        path = Path(rec["clip"]) if root is None else Path(root) / rec["clip"]
        pairs.append({"prompt": question, "chosen": chosen, "rejected": text, "path": str(path),
                      "prediction_id": rec.get("prediction_id"), "chosen_source": source})
    return pairs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Audit export (JSONL) -> TRL preference pairs (JSONL).")
    p.add_argument("--audit", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--root", default=None, help="folder the export's clip paths are relative to")
    a = p.parse_args(argv)
    pairs = preference_pairs(read_audit(a.audit), a.root)
    a.out.write_text("".join(json.dumps(pair, ensure_ascii=False, sort_keys=True) + "\n" for pair in pairs))
    print(f"{len(pairs)} preference pairs -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
