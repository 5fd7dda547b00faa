"""What an annotator works through: the queue ordered by suspicion, suggestions, evidence, progress.

Pure functions over `AuditStore` reads (no gradio): the Audit tab and its API endpoints call these.
The queue orders predictions by the sum of their claims' suspicion (`store.claim_suspicion`: automatic
flags, weak or contrastive support, low self-consistency, disagreement between annotators).

Blind annotation: an annotator sees the other annotators' verdicts (and a decision) on a claim only once
they saved their own (`blind`, `disagreement_rows(viewer=...)`); adjudicators see everything. Claims are
numbered from 1 wherever a person reads them (`number`); `index` stays 0-based in records.
"""

from __future__ import annotations

from collections import defaultdict

from r1omni.audit.agreement import by_claim
from r1omni.audit.store import FLAG_CATEGORY, AuditStore, claim_suspicion

QUEUE_FILTERS = ("all", "any flag", "cites absent modality", "cites masked modality", "cue not present",
                 "contradicts answer", "unsupported", "disagreement", "not judged by me")
MODALITY_FILTERS = ("all", "video", "audio", "text")


def number(index: int) -> int:
    """The number a person reads for a claim: index 0 is claim 1."""
    return int(index) + 1


def queue(store: AuditStore, annotator: str | None = None, flag: str = "all", modality: str = "all",
          sees_all: bool = True) -> list[dict]:
    """One row per prediction, most suspicious first: id, clip, label, claims, flagged, suspicion, judged
    (by `annotator`), annotators; filtered by a flag (or 'any flag' / 'disagreement' / 'not judged by me')
    and a cited modality. Without `sees_all`, 'disagreement' counts only claims `annotator` judged."""
    claims = store.claim_rows()
    units = by_claim(store.verdict_rows())
    adjudicated = {(a["prediction_id"], int(a["claim_idx"])) for a in store.adjudication_rows()}
    items: dict[str, dict] = {}
    for c in claims:
        key = (c["prediction_id"], c["idx"])
        u = units.get(key, {})
        it = items.setdefault(c["prediction_id"], {
            "prediction_id": c["prediction_id"], "clip": c["clip"], "label": c["label"], "claims": 0, "flagged": 0,
            "suspicion": 0.0, "judged": 0, "annotators": set(), "_flags": set(), "_mods": set(), "_disagree": False})
        it["claims"] += 1
        it["flagged"] += bool(c["auto_flags"])
        it["suspicion"] += claim_suspicion(c, list(u.values()), key in adjudicated)
        it["judged"] += bool(annotator) and annotator in u
        it["annotators"].update(u)
        it["_flags"].update(c["auto_flags"])
        it["_mods"].update(c["cites"])
        it["_disagree"] |= len(set(u.values())) > 1 and (sees_all or annotator in u)
    out = []
    for it in items.values():
        if flag == "any flag" and not it["_flags"]:
            continue
        if flag == "disagreement" and not it["_disagree"]:
            continue
        if flag == "not judged by me" and it["judged"] >= it["claims"]:
            continue
        if flag not in ("all", "any flag", "disagreement", "not judged by me") and flag not in it["_flags"]:
            continue
        if modality != "all" and modality not in it["_mods"]:
            continue
        out.append({k: v for k, v in it.items() if not k.startswith("_")} |
                   {"annotators": len(it["annotators"]), "suspicion": round(it["suspicion"], 3)})
    out.sort(key=lambda r: (-r["suspicion"], r["prediction_id"]))
    return out


def progress(store: AuditStore) -> dict[str, dict]:
    """{annotator: {"judged": claims with their verdict, "total": claims in the store, "items": predictions
    they judged every claim of}}."""
    claims = store.claim_rows()
    per_pred: dict[str, int] = defaultdict(int)
    for c in claims:
        per_pred[c["prediction_id"]] += 1
    done: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in store.verdict_rows():
        done[v["annotator"]][v["prediction_id"]] += 1
    return {a: {"judged": sum(d.values()), "total": len(claims),
                "items": sum(1 for p, n in d.items() if n >= per_pred.get(p, 0))} for a, d in sorted(done.items())}


def suggestion(claim: dict) -> tuple[str, str | None]:
    """The automatic pre-fill for a claim: ('hallucinated', category) when flagged, else ('supported', None)."""
    flags = claim.get("auto_flags") or []
    if flags:
        return "hallucinated", FLAG_CATEGORY.get(flags[0], "other")
    return "supported", None


def next_claim(item: dict, annotator: str | None, after: int = -1) -> int | None:
    """Index of the next claim after `after` that `annotator` has not judged (wrapping), or None."""
    n = len(item["claims"])
    for k in range(1, n + 1):
        i = (after + k) % n
        if not any(v["annotator"] == annotator for v in item["claims"][i]["verdicts"]):
            return i
    return None


def evidence(item: dict, claim: dict, top: int = 3) -> list[dict]:
    """For each modality the claim cites: its share of the claim's attribution and the frames / audio
    windows that carry the most evidence (by occlusion score), each with the time to seek to."""
    ex = item.get("explanation") or {}
    support = claim.get("support") or {}
    share, cited = support.get("share") or {}, support.get("cited") or {}
    out = []
    for m in claim.get("cites") or []:
        if m == "video":
            frames = sorted(ex.get("frames") or [], key=lambda f: -(f.get("score") or 0.0))[:top]
            windows = [{"what": f"frame {f.get('index')}", "time_s": float(f.get("time_s") or 0.0),
                        "end_s": None, "score": f.get("score")} for f in frames]
        elif m == "audio":
            segs = sorted(ex.get("audio_segments") or [], key=lambda s: -(s.get("score") or 0.0))[:top]
            windows = [{"what": "audio window", "time_s": float(s.get("start_s") or 0.0),
                        "end_s": s.get("end_s"), "score": s.get("score")} for s in segs]
        else:
            windows = []
        out.append({"modality": m, "share": share.get(m), "shapley": cited.get(m), "windows": windows})
    return out


def blind(item: dict, me: str | None, sees_all: bool = False) -> dict:
    """`item` as `me` may see it: on a claim `me` has not judged, only their own verdict (none) and no
    decision; others' overall verdicts only once `me` gave one. Adjudicators (`sees_all`) see everything."""
    if sees_all:
        return item
    claims = []
    for c in item["claims"]:
        if any(v["annotator"] == me for v in c["verdicts"]):
            claims.append(c)
        else:
            claims.append({**c, "verdicts": [], "adjudication": None, "adjudications": []})
    mine = any(v["annotator"] == me for v in item["clip_verdicts"])
    return {**item, "claims": claims,
            "clip_verdicts": item["clip_verdicts"] if mine else []}


def decision_text(a: dict | None) -> str:
    """A decision in full: verdict, category, who, when (UTC, to the minute) and the note."""
    if not a:
        return ""
    when = str(a.get("created_at") or "")[:16].replace("T", " ")
    parts = [a["verdict"]] + ([a["category"]] if a.get("category") else [])
    text = f"{' · '.join(parts)} by {a['adjudicator']}" + (f" at {when} UTC" if when else "")
    return text + (f": {a['note']}" if a.get("note") else "")


def disagreement_rows(store: AuditStore, viewer: str | None = None, sees_all: bool = True) -> list[dict]:
    """Claims whose annotators disagree: id, claim number (from 1), text, each verdict, the current decision
    in full. Without `sees_all`, only the claims `viewer` judged (blind annotation)."""
    units = by_claim(store.verdict_rows())
    adj = {(a["prediction_id"], int(a["claim_idx"])): a for a in store.adjudication_rows()}
    texts = {(c["prediction_id"], c["idx"]): c for c in store.claim_rows()}
    rows = []
    for key in sorted(k for k, u in units.items() if len(set(u.values())) > 1):
        if not sees_all and viewer not in units[key]:
            continue
        a = adj.get(key)
        rows.append({"prediction_id": key[0], "claim": number(key[1]), "index": key[1], "clip": texts[key]["clip"],
                     "text": texts[key]["text"],
                     "verdicts": "; ".join(f"{n}: {v}" for n, v in sorted(units[key].items())),
                     "decision": decision_text(a), "decision_version": a["version"] if a else 0})
    return rows
