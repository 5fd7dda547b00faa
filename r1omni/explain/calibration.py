"""Flag thresholds calibrated per checkpoint, from evidence (DESIGN 4 "Calibration").

What is fitted: the contrastive part of the "unsupported" rule (`flags.py`): `contrast_eps` and
`relative_eps` for emotional cue claims, `contrast_neutral_eps` for neutral-state claims. A claim is
*flagged* when the rule calls it unsupported; the positive class is a false claim.

Evidence, two sources (reported separately; a stored calibration says which one it came from):

- "rewrites" (`calibrate_from_rewrites`, no annotators): the model's own completions on the given clips;
  each of its cue claims that has counterfactuals is one negative (taken as true), and the same completion
  with that one claim rewritten for another emotion (not the claim's own, not the answer: `rewrite.py`, the
  first rewrite of a label drawn with the seed) is one positive. Swapped emotions differ from a true claim in
  one expression, so they are easier to catch than real hallucinations: this certifies the rule on rewrites.
  Only `contrast_eps` (and `contrast_neutral_eps`) is fitted here and the relative test is turned off
  (`relative_eps = RELATIVE_OFF`): the rule judges what the cited modality adds and nothing else. The
  negatives are the model's own greedy words, which beat their rewrites under the real input by
  construction, so `relative` separates the two classes without saying anything about the modality (it
  would flag whatever the model would not say, and pass every claim the model does say, grounded or not);
  `contrast` measures what the cited modality adds, which is what a hallucination lacks.
- "audit" (`calibrate_from_audit`): claims of an audit export (DESIGN 3.7 JSONL) with a decided verdict: the
  adjudication where there is one, else the majority ("hallucinated" positive, "supported" negative; ties and
  "unsure" left out), with the contrast values stored in the claim's `support`.

Fit and certify (an honest split, reference section G): the items are grouped (by clip, by prediction),
the groups shuffled with the seed and dealt alternately into a *fit* half and a *certify* half. On the fit
half every grid point (thresholds at the midpoints between observed values, at most `GRID` per axis) is
tried and the one with the highest recall among those whose precision reaches the target is kept (none
reaches it: the highest precision, then recall). The certify half, never used for the choice, gives
precision and recall with one-sided Clopper-Pearson lower bounds at `confidence` (default 0.95); the result
is "certified" when the precision bound reaches the target.

Refusal: with h positives in the certify half, the best possible precision bound is the one of h flags all
correct, (1 - confidence) ** (1 / h); when that is below the target no fit could be certified, and
calibration refuses in one line (`UsageError`), naming the count needed (29 for 0.9 at 95 %).

Storage: one JSON file per user, `calibrations.json` in `data_dir()` (`$R1OMNI_DATA_DIR`, else
`$XDG_DATA_HOME/r1omni`, else `~/.local/share/r1omni`), never in the checkpoint folder. Calibrations are keyed
by the checkpoint fingerprint of the library store (`r1omni.library_store.checkpoint_fingerprint`: folder name +
hash of config and weights), so a retrained folder is uncalibrated and a copy under the same folder name
shares its calibration. The file also keeps, per folder path, the (name, size, mtime) stamp of the hashed
files, so `explain` finds a folder's fingerprint without hashing its weights again; a folder never
calibrated here (no calibration with its folder name) is not hashed at all.

Python API (for bench/faithfulness.py and the app): `calibrate_from_rewrites(pipe, clips, ...)`,
`calibrate_from_audit(records, fingerprint, ...)`, `fit(items, ...)` -> `Calibration`; `save_calibration`,
`load_calibration(fingerprint)`, `calibration_for_pipe(pipe)`, `resolve_thresholds(pipe, given)`.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from r1omni.errors import UsageError
from r1omni.explain.flags import FlagThresholds

FILE = "calibrations.json"
GRID = 48
RELATIVE_OFF = -1000.0  # relative_eps of a rule fitted on contrast alone (per-token log-probs never reach it)
DEFAULT_TARGET = 0.9
DEFAULT_CONFIDENCE = 0.95
UNCALIBRATED_NOTICE = ("uncalibrated checkpoint: the claim-flag thresholds are defaults, not fitted to this "
                       "checkpoint (run 'r1omni flags calibrate')")


# ----------------------------------------------------------------------------------------------- statistics
def cp_lower(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> float | None:
    """One-sided Clopper-Pearson lower bound of a proportion k/n (None when n == 0)."""
    if n == 0:
        return None
    if k == 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(1 - confidence, k, n - k + 1))


def min_positives(target: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Fewest flags, all correct, whose precision lower bound reaches `target`.

    >>> min_positives(0.9), min_positives(0.8)
    (29, 14)
    """
    if not 0 < target < 1:
        raise UsageError(f"target precision must be between 0 and 1, got {target}")
    return math.ceil(math.log(1 - confidence) / math.log(target))


@dataclass(frozen=True)
class Item:
    """One judged claim: its contrast values (nats per token), whether it states a neutral state, whether it is
    false (the positive class), and its group (clip / prediction) for the split."""

    contrast: float
    relative: float
    neutral: bool
    false: bool
    group: str = ""


def flagged(item: Item, t: FlagThresholds) -> bool:
    return not t.contrast_supported(item.contrast, item.relative, item.neutral)


def confusion(items: Sequence[Item], t: FlagThresholds, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    tp = sum(flagged(i, t) and i.false for i in items)
    fp = sum(flagged(i, t) and not i.false for i in items)
    fn = sum(not flagged(i, t) and i.false for i in items)
    r6 = lambda x: None if x is None else round(x, 6)  # noqa: E731
    return {"n": len(items), "positives": tp + fn, "tp": tp, "fp": fp, "fn": fn,
            "precision": r6(tp / (tp + fp)) if tp + fp else None, "recall": r6(tp / (tp + fn)) if tp + fn else None,
            "precision_lower": r6(cp_lower(tp, tp + fp, confidence)),
            "recall_lower": r6(cp_lower(tp, tp + fn, confidence))}


def _cuts(values: Iterable[float]) -> list[float]:
    """Candidate thresholds: midpoints between sorted distinct values, plus one below and one above all,
    thinned to at most GRID."""
    v = sorted(set(round(float(x), 9) for x in values))
    if not v:
        return [0.0]
    cuts = [v[0] - 1.0] + [(a + b) / 2 for a, b in zip(v, v[1:], strict=False)] + [v[-1] + 1.0]
    if len(cuts) > GRID:
        cuts = [cuts[round(j * (len(cuts) - 1) / (GRID - 1))] for j in range(GRID)]
    return cuts


def _best(items: Sequence[Item], grid: Iterable[FlagThresholds], target: float) -> FlagThresholds:
    def key(t):
        c = confusion(items, t)
        p, r = c["precision"] or 0.0, c["recall"] or 0.0
        return (p >= target, r if p >= target else p, r if p < target else p)

    return max(grid, key=key)


def split(items: Sequence[Item], seed: int = 0) -> tuple[list[Item], list[Item]]:
    """(fit, certify): groups shuffled with `seed` and dealt alternately."""
    groups = sorted({i.group for i in items})
    random.Random(seed).shuffle(groups)
    half = {g: k % 2 for k, g in enumerate(groups)}
    return [i for i in items if half[i.group] == 0], [i for i in items if half[i.group] == 1]


@dataclass(frozen=True)
class Calibration:
    """A fitted rule for one checkpoint (module docstring). `thresholds` holds the fitted fields only."""

    fingerprint: str
    source: str  # "rewrites" | "audit"
    thresholds: dict[str, float]
    target_precision: float
    confidence: float
    fit: dict
    certify: dict
    certified: bool
    seed: int = 0
    counterfactuals: str = "rewrite"
    inputs: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def flag_thresholds(self, base: FlagThresholds | None = None) -> FlagThresholds:
        return replace(base or FlagThresholds(), **self.thresholds)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def summary(self) -> str:
        c = self.certify
        fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
        return (f"{self.fingerprint}: from {self.source}, thresholds "
                + ", ".join(f"{k}={v:.4g}" for k, v in self.thresholds.items())
                + f"; certify half n={c['n']}: precision {fmt(c['precision'])} "
                f"(lower bound {fmt(c['precision_lower'])} at {self.confidence:.0%}), recall {fmt(c['recall'])} "
                f"(lower bound {fmt(c['recall_lower'])}); "
                + ("certified" if self.certified else f"NOT certified for precision {self.target_precision}"))


def fit(items: Sequence[Item], fingerprint: str, source: str, *, target_precision: float = DEFAULT_TARGET,
        confidence: float = DEFAULT_CONFIDENCE, seed: int = 0, what: str = "judged claims",
        fit_relative: bool = True, **meta) -> Calibration:
    """Fit the contrastive thresholds on one half of `items`, certify them on the other (module docstring).
    `fit_relative=False` turns the relative test off (`relative_eps = RELATIVE_OFF`) and fits `contrast_eps`
    alone."""
    need = min_positives(target_precision, confidence)
    items = list(items)
    fit_half, cert_half = split(items, seed)
    h = sum(i.false for i in cert_half)
    if h < need:
        raise UsageError(f"too few {what} to calibrate: {sum(i.false for i in items)} false of {len(items)} in all, "
                         f"{h} false in the certification half; precision {target_precision} at {confidence:.0%} "
                         f"confidence needs at least {need} there")
    base = FlagThresholds()
    cue = [i for i in fit_half if not i.neutral]
    rels = _cuts(i.relative for i in cue) if fit_relative else [RELATIVE_OFF]
    grid = [replace(base, contrast_eps=c, relative_eps=r) for c in _cuts(i.contrast for i in cue) for r in rels]
    best = _best(cue, grid, target_precision) if cue else base
    neutral = [i for i in fit_half if i.neutral]
    if neutral and any(i.false for i in neutral):
        best = _best(neutral, [replace(best, contrast_neutral_eps=-c) for c in _cuts(i.contrast for i in neutral)],
                     target_precision)
    fitted = {k: round(float(getattr(best, k)), 6) for k in ("contrast_eps", "relative_eps", "contrast_neutral_eps")}
    best = replace(base, **fitted)
    cert = confusion(cert_half, best, confidence)
    return Calibration(fingerprint, source, fitted, target_precision, confidence,
                       confusion(fit_half, best, confidence), cert,
                       (cert["precision_lower"] or 0.0) >= target_precision, seed, **meta)


# ----------------------------------------------------------------------------------------------- evidence
def _claim_items(claims: Sequence[dict], group: str, false: bool | None = None) -> list[Item]:
    """Items from explain claim rows (or audit claims with their `support`); `false` for all, else None."""
    from r1omni.audit.claims import is_neutral_claim

    out = []
    for c in claims:
        sup = c.get("support") or {}
        con, rel = sup.get("contrastive") or {}, sup.get("relative") or {}
        for m in c.get("cites", ()):
            if m in con and m in rel:
                out.append(Item(float(con[m]), float(rel[m]), is_neutral_claim(c["text"]), bool(false), group))
                break  # one item per claim: its first judged modality
    return out


def rewrite_completion(text: str, claim: dict, labels: tuple[str, ...], avoid: Iterable[str], rng: random.Random
                       ) -> str | None:
    """`text` with one claim's emotion-bearing expressions rewritten for a label outside `avoid` (None when the
    claim has no such rewrite)."""
    from r1omni.explain.rewrite import rewrite_claim

    r = rewrite_claim(claim["text"], tuple(claim["cites"]), labels, per_label=1)
    options = [lab for lab in labels if lab in r.alternatives and lab not in set(avoid)]
    if not options:
        return None
    lab = rng.choice(options)
    a, z = r.span
    s = claim["start"]
    return text[: s + a] + r.alternatives[lab][0] + text[s + z :]


def rewrite_items(pipe, clips: Sequence, *, label_set: str = "dfew", seed: int = 0, max_new_tokens: int | None = None,
                  batch_size: int = 4, question: str | None = None) -> list[Item]:
    """Negatives (the model's own cue claims) and positives (each rewritten for another emotion) on `clips`."""
    from r1omni.explain import explain
    from r1omni.prompts import label_set as get_labels

    labels = get_labels(label_set)
    rng = random.Random(seed)
    common = {"mode": "fast", "label_set": label_set, "question": question, "batch_size": batch_size,
              "thresholds": FlagThresholds(), "counterfactuals": "rewrite"}
    own = explain(pipe, list(clips), do_sample=False, max_new_tokens=max_new_tokens, **common)
    items: list[Item] = []
    f_clips, f_texts, f_spans = [], [], []
    for clip, e in zip(clips, own, strict=True):
        if not hasattr(e, "claims"):
            continue  # a clip that failed to decode
        group = str(getattr(e, "clip", clip))
        text = e.prediction["text"]
        for c in e.claims:
            if not set(c["cites"]) & set((c["support"] or {}).get("contrastive", {})):
                continue
            items += _claim_items([c], group, false=False)
            alt = rewrite_completion(text, c, labels, [e.prediction.get("label")], rng)
            if alt is not None:
                f_clips.append(clip)
                f_texts.append(alt)
                f_spans.append((group, c["start"], len(alt) - len(text) + c["end"]))
    if f_clips:
        for e, (group, a, z) in zip(explain(pipe, f_clips, completions=f_texts, **common), f_spans, strict=True):
            if not hasattr(e, "claims"):
                continue
            hit = [c for c in e.claims if c["start"] < z and c["end"] > a]  # the unit holding the rewrite
            items += _claim_items(hit[:1], group, false=True)
    return items


def calibrate_from_rewrites(pipe, clips: Sequence, *, fingerprint: str | None = None, label_set: str = "dfew",
                            target_precision: float = DEFAULT_TARGET, confidence: float = DEFAULT_CONFIDENCE,
                            seed: int = 0, max_new_tokens: int | None = None, batch_size: int = 4,
                            inputs: str = "") -> Calibration:
    """Fit the rule to tell the model's own cue claims from their emotion-swapped rewrites (not saved)."""
    fp = fingerprint or pipe_fingerprint(pipe) or str(pipe.display_name)
    items = rewrite_items(pipe, clips, label_set=label_set, seed=seed, max_new_tokens=max_new_tokens,
                          batch_size=batch_size)
    return fit(items, fp, "rewrites", target_precision=target_precision, confidence=confidence, seed=seed,
               what="rewritten claims (use more clips)", fit_relative=False, inputs=inputs)


def audit_items(records: Iterable[dict], checkpoint: str | None = None) -> list[Item]:
    """Decided claims of audit records (DESIGN 3.7 JSONL objects), optionally of one checkpoint only."""
    from r1omni.audit.agreement import majority

    items = []
    for rec in records:
        if checkpoint is not None and rec.get("checkpoint") != checkpoint:
            continue
        adj = {int(a["claim_index"]): a["verdict"] for a in rec.get("adjudications", ())}
        for c in rec.get("claims", ()):
            verdicts = {v["annotator"]: v["verdict"] for v in c.get("verdicts", ())}
            m = majority(verdicts, adj.get(int(c["index"])))
            if m in ("supported", "hallucinated"):
                items += _claim_items([c], str(rec.get("prediction_id")), false=m == "hallucinated")
    return items


def calibrate_from_audit(records: Iterable[dict], fingerprint: str, *, checkpoint: str | None = None,
                         target_precision: float = DEFAULT_TARGET, confidence: float = DEFAULT_CONFIDENCE,
                         seed: int = 0, inputs: str = "") -> Calibration:
    """Fit the rule to annotators' majority / adjudicated verdicts for a target precision (not saved)."""
    items = audit_items(records, checkpoint)
    return fit(items, fingerprint, "audit", target_precision=target_precision, confidence=confidence, seed=seed,
               what="decided verdicts with contrast values", inputs=inputs)


# ----------------------------------------------------------------------------------------------- storage
def data_dir() -> Path:
    """The per-user data folder: $R1OMNI_DATA_DIR, else $XDG_DATA_HOME/r1omni, else ~/.local/share/r1omni."""
    if os.environ.get("R1OMNI_DATA_DIR"):
        return Path(os.environ["R1OMNI_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "r1omni"


def _path() -> Path:
    return data_dir() / FILE


def _read() -> dict:
    p = _path()
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"calibrations": {}, "folders": {}}
    except (OSError, ValueError) as err:
        raise UsageError(f"calibration file '{p}' is unreadable: {err}") from None
    if not isinstance(d, dict):
        raise UsageError(f"calibration file '{p}' is not a JSON object")
    d.setdefault("calibrations", {})
    d.setdefault("folders", {})
    return d


def _write(d: dict) -> Path:
    p = _path()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".calibrations.", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(d, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, p)
    return p


def _stamp(folder: Path) -> list:
    from r1omni.library_store import CHECKPOINT_FILES

    def hashed(f: Path) -> bool:  # the files checkpoint_fingerprint hashes
        return f.is_file() and (f.name == "config.json" or f.suffix in CHECKPOINT_FILES
                                or f.name.endswith(".index.json"))

    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(folder.iterdir()) if hashed(f)]


def folder_fingerprint(folder: str | Path, remember: bool = False) -> str:
    """The library store's fingerprint of a checkpoint folder, from the stamp cache when its files are unchanged
    (`remember`: store the stamp)."""
    from r1omni.library_store import checkpoint_fingerprint

    folder = Path(folder).resolve()
    d = _read()
    stamp = _stamp(folder)
    known = d["folders"].get(str(folder))
    if known and known.get("stamp") == stamp:
        return known["fingerprint"]
    fp = checkpoint_fingerprint(folder)
    if remember:
        d["folders"][str(folder)] = {"stamp": stamp, "fingerprint": fp}
        _write(d)
    return fp


def save_calibration(cal: Calibration, folder: str | Path | None = None) -> Path:
    """Store `cal` under its fingerprint (and the folder's stamp, so explain finds it without hashing)."""
    d = _read()
    d["calibrations"][cal.fingerprint] = cal.to_dict()
    if folder is not None:
        folder = Path(folder).resolve()
        d["folders"][str(folder)] = {"stamp": _stamp(folder), "fingerprint": cal.fingerprint}
    return _write(d)


def load_calibration(fingerprint: str) -> Calibration | None:
    """The stored calibration of a checkpoint fingerprint, or None."""
    found = _read()["calibrations"].get(fingerprint)
    return Calibration.from_dict(found) if found else None


def pipe_folder(pipe) -> Path | None:
    from r1omni.inference import DEMO_CHECKPOINT, DEMO_DISPLAY_NAME

    if pipe.display_name == DEMO_DISPLAY_NAME:
        return DEMO_CHECKPOINT
    p = Path(str(pipe.checkpoint))
    return p if p.is_dir() else None


def pipe_fingerprint(pipe) -> str | None:
    folder = pipe_folder(pipe)
    return folder_fingerprint(folder) if folder is not None else None


_FOR_PIPE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pipe -> (file mtime, Calibration | None)


def calibration_for_pipe(pipe) -> Calibration | None:
    """The pipeline's checkpoint calibration, or None (re-read when the calibration file changes)."""
    p = _path()
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        return None
    try:
        cached = _FOR_PIPE.get(pipe)
    except TypeError:
        cached = None
    if cached is not None and cached[0] == mtime:
        return cached[1]
    folder = pipe_folder(pipe)
    cal = None
    if folder is not None:
        d = _read()
        known = d["folders"].get(str(folder.resolve()))
        names = {fp.split("@")[0] for fp in d["calibrations"]}
        if known or folder.resolve().name in names:  # never hash a folder that cannot have a calibration
            cal = load_calibration(folder_fingerprint(folder))
    try:
        _FOR_PIPE[pipe] = (mtime, cal)
    except TypeError:
        pass
    return cal


def resolve_thresholds(pipe, given: FlagThresholds | None) -> tuple[FlagThresholds, str, str | None]:
    """(thresholds, their source, the notice for the explanation): the caller's, else the checkpoint's
    calibration, else the defaults with the uncalibrated notice."""
    if given is not None:
        return given, "caller", None
    try:
        cal = calibration_for_pipe(pipe)
    except UsageError as err:
        return FlagThresholds(), "default", f"{UNCALIBRATED_NOTICE}; {err}"
    if cal is None:
        return FlagThresholds(), "default", UNCALIBRATED_NOTICE
    note = None if cal.certified else (f"claim-flag calibration from {cal.source} is not certified for precision "
                                       f"{cal.target_precision} (lower bound {cal.certify.get('precision_lower')})")
    return cal.flag_thresholds(), f"calibration: {cal.source} {cal.created_at}", note


# ----------------------------------------------------------------------------------------------- stored claims
def reflag(claim: dict, thresholds: FlagThresholds) -> list[str]:
    """A stored claim's automatic flags under other thresholds: its "unsupported" flag recomputed from the
    contrast values kept in its `support` (claims without one keep their stored flag), the others as stored."""
    from r1omni.audit.claims import is_neutral_claim

    stored = list(claim.get("auto_flags") or [])
    sup = claim.get("support") or {}
    con, rel = sup.get("contrastive") or {}, sup.get("relative") or {}
    judged = [m for m in claim.get("cites", ()) if m in con and m in rel]
    if not judged:
        return stored
    neutral = is_neutral_claim(claim.get("text", ""))
    bad = any(not thresholds.contrast_supported(float(con[m]), float(rel[m]), neutral) for m in judged)
    out = [f for f in stored if f != "unsupported"]
    if bad:
        out.append("unsupported")
    from r1omni.explain.flags import FLAG_ORDER

    return sorted(out, key=lambda f: FLAG_ORDER.index(f) if f in FLAG_ORDER else len(FLAG_ORDER))


def audit_stats_calibrated(store, folder: str | Path) -> dict:
    """For `audit stats --checkpoint`: the checkpoint's calibration and the flags-vs-majority figures with the
    stored claims re-flagged under it (`reflag`); {"calibration": None} when the checkpoint is uncalibrated."""
    from r1omni.audit.agreement import by_claim, flags_vs_majority

    cal = load_calibration(folder_fingerprint(folder))
    if cal is None:
        return {"calibration": None, "flags_vs_majority_calibrated": None}
    t = cal.flag_thresholds()
    claims = [dict(c, auto_flags=reflag(c, t)) for c in store.claim_rows()]
    adj = {(a["prediction_id"], int(a["claim_idx"])): a["verdict"] for a in store.adjudication_rows()}
    return {"calibration": {"fingerprint": cal.fingerprint, "source": cal.source, "created_at": cal.created_at,
                            "thresholds": cal.thresholds, "certified": cal.certified,
                            "precision_lower": cal.certify.get("precision_lower")},
            "flags_vs_majority_calibrated": flags_vs_majority(claims, by_claim(store.verdict_rows()), adj)}
