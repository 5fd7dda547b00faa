"""Agreement between annotators and with the automatic flags (DESIGN 3.7 `stats`).

Cohen's kappa per annotator pair (scikit-learn's `cohen_kappa_score`, over the claims both judged, the
verdict as a nominal label with "unsure" included), Krippendorff's alpha nominal (the `krippendorff`
package, over claims with two or more verdicts) and precision / recall of the automatic flags against the
majority verdict ("hallucinated" is the positive class; an adjudication replaces the majority; ties and
"unsure" majorities are left out). Undefined values are None. Pure: takes rows, returns numbers.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations

import numpy as np

VERDICT_CODES = {"supported": 0, "hallucinated": 1, "unsure": 2}


def _finite(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


def by_claim(verdicts: Iterable[dict]) -> dict[tuple[str, int], dict[str, str]]:
    """{(prediction_id, claim index): {annotator: verdict}} from rows with those keys."""
    out: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    for v in verdicts:
        out[(v["prediction_id"], int(v["claim_idx"]))][v["annotator"]] = v["verdict"]
    return dict(out)


def pairwise_kappa(units: dict[tuple, dict[str, str]]) -> dict[str, float | None]:
    """{"a|b": kappa} for every annotator pair (names sorted), over the claims both judged; None when they
    share no claim or kappa is undefined (e.g. both gave one same label throughout)."""
    from sklearn.metrics import cohen_kappa_score

    names = sorted({a for u in units.values() for a in u})
    out: dict[str, float | None] = {}
    for a, b in combinations(names, 2):
        both = [(u[a], u[b]) for u in units.values() if a in u and b in u]
        if not both:
            out[f"{a}|{b}"] = None
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k = cohen_kappa_score([x for x, _ in both], [y for _, y in both], labels=list(VERDICT_CODES))
        out[f"{a}|{b}"] = _finite(k)
    return out


def alpha_nominal(units: dict[tuple, dict[str, str]]) -> float | None:
    """Krippendorff's alpha (nominal) over the claims with two or more verdicts; None when undefined."""
    import krippendorff

    multi = [u for u in units.values() if len(u) >= 2]
    names = sorted({a for u in multi for a in u})
    if len(names) < 2 or not multi:
        return None
    data = np.full((len(names), len(multi)), np.nan)
    for j, u in enumerate(multi):
        for a, v in u.items():
            data[names.index(a), j] = VERDICT_CODES[v]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            a = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal",
                                   value_domain=list(VERDICT_CODES.values()))
        except ValueError:  # a single value in the whole data: no variation to measure
            return None
    return _finite(a)


def majority(verdicts: dict[str, str], adjudicated: str | None = None) -> str | None:
    """The adjudication when there is one, else the most frequent verdict (None on a tie)."""
    if adjudicated:
        return adjudicated
    if not verdicts:
        return None
    (top, n), *rest = Counter(verdicts.values()).most_common() + [(None, 0)]
    return None if rest and rest[0][1] == n else top


def flags_vs_majority(claims: Iterable[dict], units: dict[tuple, dict[str, str]],
                      adjudications: dict[tuple, str] | None = None) -> dict:
    """Precision / recall of "any automatic flag" against a "hallucinated" majority, over claims whose
    majority is supported or hallucinated."""
    adjudications = adjudications or {}
    tp = fp = fn = n = 0
    for c in claims:
        key = (c["prediction_id"], int(c["idx"]))
        m = majority(units.get(key, {}), adjudications.get(key))
        if m not in ("supported", "hallucinated"):
            continue
        n += 1
        flagged = bool(c["auto_flags"])
        tp += flagged and m == "hallucinated"
        fp += flagged and m == "supported"
        fn += (not flagged) and m == "hallucinated"
    return {"precision": round(tp / (tp + fp), 6) if tp + fp else None,
            "recall": round(tp / (tp + fn), 6) if tp + fn else None, "n": n}


def stats(counts: dict, claims: list[dict], verdicts: list[dict], adjudications: list[dict]) -> dict:
    """The DESIGN 3.7 stats object."""
    units = by_claim(verdicts)
    adj = {(a["prediction_id"], int(a["claim_idx"])): a["verdict"] for a in adjudications}
    return {**counts, "kappa": pairwise_kappa(units), "alpha": alpha_nominal(units),
            "flags_vs_majority": flags_vs_majority(claims, units, adj)}


def store_stats(store) -> dict:
    """`stats` of an AuditStore."""
    return stats(store.counts(), store.claim_rows(), store.verdict_rows(), store.adjudication_rows())


def disagreements(units: dict[tuple, dict[str, str]]) -> list[tuple]:
    """Claims where the annotators gave different verdicts, in key order."""
    return sorted(k for k, u in units.items() if len(set(u.values())) > 1)
