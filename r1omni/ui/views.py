"""Pure converters from result dicts (DESIGN 3.2 predict / explain JSON) to what the UI shows.

Plotly figures, HighlightedText tuples, gallery items, tables and short markdown. No gradio import, no
model, no I/O: every function takes plain dicts/arrays and returns plain values, so each is unit-testable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

VISUAL, AUDIO, WEAK, FLAGGED = "visual", "audio", "weak evidence", "flagged claim"
COLOR_MAP = {VISUAL: "#4c9be8", AUDIO: "#f29e4c", WEAK: "#d9d9d9", FLAGGED: "#e8575a", "text": "#9b7fd1"}
MODALITY_COLORS = {"video": COLOR_MAP[VISUAL], "audio": COLOR_MAP[AUDIO]}
_CITE_NAMES = {"video": VISUAL, "audio": AUDIO, "text": "text"}
LIBRARY_COLUMNS = ["file", "duration_s", "true label", "predicted", "correct", "confidence", "flags"]


def _layout(fig: go.Figure, title: str, height: int = 260, title_size: int = 15) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=title_size)), height=height,
                      margin=dict(l=40, r=10, t=40, b=30), template="plotly_white")
    return fig


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


# ---------------------------------------------------------------- prediction
def prediction_of(result: dict) -> dict:
    """The predict JSON inside an explain JSON (or the dict itself when it already is one)."""
    return result.get("prediction", result) if result else {}


def confidence(pred: dict) -> float | None:
    """Probability of the predicted label, or None when the answer is outside the label set."""
    label, probs = pred.get("label"), pred.get("probs") or {}
    return _num(probs.get(label)) if label else None


def label_markdown(result: dict) -> str:
    """One headline: predicted label, its probability and the checkpoint that made it."""
    pred = prediction_of(result)
    label = pred.get("label")
    conf = confidence(pred)
    answer = html_escape(pred.get("answer") or "")
    head = f"## {label}" if label else (f"## outside the label set: '{answer}'" if answer else "## no answer")
    if conf is not None:
        head += f"  ·  p = {conf:.2f}"
    return f"{head}\n\ncheckpoint: {pred.get('checkpoint', '?')}"


def html_escape(text: str) -> str:
    """Escape < > & so tags such as <think> in notices are shown, not swallowed by the HTML renderer."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notices_markdown(lines: list[str]) -> str:
    return "\n".join(f"- {html_escape(n)}" for n in lines) or "no notices"


def probs_figure(pred: dict) -> go.Figure:
    """Bar chart of the class distribution at the answer; the predicted label is highlighted."""
    probs = pred.get("probs") or {}
    labels = list(probs)
    colors = ["#2a6fba" if lab == pred.get("label") else "#a9c6e8" for lab in labels]
    fig = go.Figure(go.Bar(x=labels, y=[probs[k] for k in labels], marker_color=colors))
    fig.update_yaxes(range=[0, 1], title="p")
    return _layout(fig, "Class distribution")


_BASELINE = {"video": "grey frames", "audio": "silence"}


def _fact(note: str) -> tuple[str, str] | None:
    """The fact a notice states when several layers word it differently (decoder, pipeline, explainer):
    ("absent", modality) for a missing track, ("masked", modality) for a masked one, ("no answer", "") for a
    completion without <answer>; else None."""
    if note.startswith("no <answer>"):
        return "no answer", ""
    for m in ("video", "audio"):
        if note.startswith((f"no {m} track", f"{m} track could not be decoded", f"{m} track is empty")):
            return "absent", m
        if note.startswith(f"{m} was masked"):
            return "masked", m
    return None


def _fact_line(kind: str, m: str, first: str) -> str:
    if kind == "masked":
        return f"{m} was masked (replaced by {_BASELINE[m]}) for this run: it is not explained (φ 0, share 0)"
    why = first.split(":", 1)[0]  # "no audio track" / "audio track could not be decoded" / ...
    return f"{why}: the {m} modality is absent (replaced by {_BASELINE[m]}) and not explained (φ 0, share 0)"


def notices(result: dict, label_set: Sequence[str] | None = None) -> list[str]:
    """Everything the user must know about this result, one line per fact, in order: the decoder, the
    pipeline and the explainer each word a missing or masked modality their own way; it is said once."""
    pred = prediction_of(result)
    out = list(pred.get("notices") or []) + list(result.get("notices") or [] if "prediction" in result else [])
    mods = pred.get("modalities") or {}
    for m in ("audio", "video"):
        if mods.get(m) is False:
            out.append(f"no {m} track")
    masked = (result.get("modality") or {}).get("masked") or []
    for m in ("video", "audio"):
        if m in masked and mods.get(m) is not False:
            out.append(f"{m} was masked")
    if pred.get("label") is None and pred.get("answer"):
        out.append(f"answer '{pred['answer']}' is outside the label set")
    lines: list[str] = []
    facts: dict[tuple[str, str], int] = {}  # fact -> its line
    for n in out:
        fact = _fact(n)
        if fact is None:
            if n not in lines:
                lines.append(n)
        elif fact == ("no answer", ""):  # the parser's and the explainer's wording: keep the one that says more
            if fact not in facts:
                facts[fact] = len(lines)
                lines.append(n)
            elif ":" in n and ":" not in lines[facts[fact]]:
                lines[facts[fact]] = n
        elif fact not in facts and (fact[0] == "absent" or ("absent", fact[1]) not in facts):
            facts[fact] = len(lines)
            lines.append(_fact_line(*fact, n))
    return lines


# ---------------------------------------------------------------- reasoning
def _token_phi(tok: dict) -> tuple[float, float]:
    src = tok.get("shapley") or tok.get("phi") or tok
    return _num(src.get("video")) or 0.0, _num(src.get("audio")) or 0.0


def token_modality(video: float, audio: float, weak: float) -> str:
    """visual / audio by the larger positive Shapley value; weak evidence when neither passes `weak`."""
    if max(video, audio) < weak:
        return WEAK
    return VISUAL if video >= audio else AUDIO


def _reasoning_window(result: dict) -> tuple[int, int] | None:
    """Character span of <think> content inside the completion text, when the text is known."""
    text = prediction_of(result).get("text") or ""
    if "<think>" not in text:
        return None
    start = text.index("<think>") + len("<think>")
    end = text.find("</think>", start)
    return start, end if end >= 0 else len(text)


def _words(tokens: list[dict], phis: list[tuple[float, float]], window) -> list[dict]:
    """Sub-word tokens joined into whole words (a word starts at a token that begins with whitespace), each
    with the summed Shapley values of its pieces and the start offset of its first piece."""
    words: list[dict] = []
    for tok, (v, a) in zip(tokens, phis, strict=True):
        text = str(tok.get("text", tok.get("token", "")))
        start = tok.get("start")
        if window and start is not None and not (window[0] <= start < window[1]):
            continue
        if not words or text[:1].isspace() or not text:
            words.append({"text": text, "v": v, "a": a, "starts": [start]})
        else:
            w = words[-1]
            w["text"] += text
            w["v"] += v
            w["a"] += a
            w["starts"].append(start)
    return words


def reasoning_highlights(result: dict, weak: float | None = None) -> list[tuple[str, str | None]]:
    """Reasoning words labelled by the modality that supports them; words of flagged claims are marked.

    Tokens are joined into whole words first (so "o", "ver", "all" shows as "overall"), with a word's
    Shapley values the sum over its pieces. `weak` defaults to 10% of the largest per-word |phi|, so the
    colouring is relative within a clip. Without token attributions the plain reasoning is returned unlabelled.
    """
    tokens = [t for t in result.get("tokens") or [] if isinstance(t, dict)]
    if not tokens:
        text = prediction_of(result).get("reasoning") or ""
        return [(text, None)] if text else []
    words = _words(tokens, [_token_phi(t) for t in tokens], _reasoning_window(result))
    scale = max((max(abs(w["v"]), abs(w["a"])) for w in words), default=0.0)
    thr = weak if weak is not None else 0.1 * scale
    flagged = [(c.get("start"), c.get("end")) for c in result.get("claims") or [] if c.get("flag")]
    out: list[tuple[str, str | None]] = []
    for w in words:
        label = token_modality(w["v"], w["a"], thr if scale > 0 else math.inf)
        if any(st is not None and s is not None and s <= st < e for st in w["starts"] for s, e in flagged):
            label = FLAGGED
        out.append((w["text"], label))
    return out


def claim_label(claim: dict) -> str:
    """'visual', 'audio + visual', ... plus the flag text when the claim is flagged."""
    cites = " + ".join(_CITE_NAMES.get(c, c) for c in claim.get("cites") or []) or "no modality cited"
    flag = claim.get("flag")
    return f"⚑ {flag}" if flag else cites


def claim_highlights(result: dict) -> list[tuple[str, str | None]]:
    """Each claim of the reasoning as one span labelled with what it cites or why it is flagged."""
    claims = result.get("claims") or []
    return [(c.get("text", ""), claim_label(c)) for c in claims]


def claims_color_map(result: dict) -> dict[str, str]:
    """Colours for `claim_highlights` labels: flags red, otherwise by the first cited modality."""
    cmap = {}
    for c in result.get("claims") or []:
        label = claim_label(c)
        first = (c.get("cites") or ["none"])[0]
        cmap[label] = COLOR_MAP[FLAGGED] if c.get("flag") else COLOR_MAP.get(_CITE_NAMES.get(first, ""), "#cccccc")
    return cmap


# ---------------------------------------------------------------- modality and gate
def modality_figure(result: dict) -> go.Figure:
    """Stacked bar of video vs audio share (|phi| / sum |phi|); an absent modality is marked unavailable."""
    mod = result.get("modality") or {}
    share, phi = mod.get("share") or {}, mod.get("shapley") or {}
    present = prediction_of(result).get("modalities") or {}
    fig = go.Figure()
    for m in ("video", "audio"):
        s = _num(share.get(m))
        off = m in (mod.get("absent") or []) or m in (mod.get("masked") or [])
        unavailable = present.get(m) is False or off or s is None
        text = f"{m}: unavailable" if unavailable else f"{m} {s:.0%} (φ={_num(phi.get(m)) or 0:+.2f})"
        fig.add_trace(go.Bar(y=["share"], x=[0 if unavailable else s], name=m, orientation="h", text=[text],
                             textposition="inside", marker_color=MODALITY_COLORS[m]))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(range=[0, 1])
    target = mod.get("target") or (result.get("params") or {}).get("target") or "completion"
    return _layout(fig, f"Modality share of φ ({target} log-prob)", height=180, title_size=13)


def gate_figure(gate: dict | None) -> go.Figure:
    """The instruction gate's scene / body / face branch weights."""
    gate = gate or {}
    keys = ["scene", "body", "face"]
    vals = [_num(gate.get(k)) or 0.0 for k in keys]
    fig = go.Figure(go.Bar(x=vals, y=keys, orientation="h", marker_color=["#7fb3d5", "#76d7c4", "#f7dc6f"],
                           text=[f"{v:.2f}" for v in vals], textposition="auto"))
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, "Visual gate (scene / body / face)", height=180, title_size=13)


# ---------------------------------------------------------------- temporal
def frame_figure(frames: list[dict]) -> go.Figure:
    """Per-frame attribution (drop in answer log-prob when that frame is occluded) over time."""
    t = [_num(f.get("time_s")) or 0.0 for f in frames]
    s = [_num(f.get("score")) or 0.0 for f in frames]
    fig = go.Figure(go.Bar(x=t, y=s, marker_color=["#2a9d8f" if v >= 0 else "#e76f51" for v in s],
                           hovertext=[f"frame {f.get('index')}" for f in frames]))
    fig.update_xaxes(title="time (s)")
    fig.update_yaxes(title="Δ log p")
    return _layout(fig, "Frame attribution" if frames else "Frame attribution (computed in 'full' mode)")


def frame_gallery(thumbnails: Sequence[np.ndarray], frames: list[dict]) -> list[tuple[np.ndarray, str]]:
    """Thumbnails captioned with time and occlusion score, short enough for a thumbnail ("0.5s +0.50");
    missing scores are shown as '–'."""
    items = []
    for i, img in enumerate(thumbnails):
        f = frames[i] if i < len(frames) else {}
        score = _num(f.get("score"))
        t = _num(f.get("time_s"))
        when = f"{t:.1f}s" if t is not None else f"#{i + 1}"
        items.append((img, f"{when} {score:+.2f}" if score is not None else f"{when} –"))
    return items


def envelope(audio: np.ndarray, sr: int, points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, min, max) of the waveform in `points` buckets: enough to draw, small to send."""
    n = len(audio)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    step = max(1, math.ceil(n / points))
    pad = (-n) % step
    a = np.pad(audio.astype(np.float32), (0, pad)).reshape(-1, step)
    times = np.arange(a.shape[0]) * step / sr
    return times, a.min(axis=1), a.max(axis=1)


def audio_figure(audio: np.ndarray | None, sr: int, segments: list[dict]) -> go.Figure:
    """Waveform envelope with each window shaded by its attribution (green helps, red hurts)."""
    fig = go.Figure()
    if audio is not None and len(audio):
        t, lo, hi = envelope(audio, sr)
        fig.add_trace(go.Scatter(x=np.concatenate([t, t[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
                                 line=dict(color="#555", width=0.5), name="waveform", hoverinfo="skip"))
    scores = [_num(s.get("score")) or 0.0 for s in segments]
    scale = max((abs(v) for v in scores), default=0.0) or 1.0
    for seg, v in zip(segments, scores, strict=True):
        color = f"rgba(42,157,143,{0.15 + 0.6 * v / scale:.2f})" if v >= 0 else \
            f"rgba(231,111,81,{0.15 + 0.6 * -v / scale:.2f})"
        fig.add_vrect(x0=seg.get("start_s", 0), x1=seg.get("end_s", 0), fillcolor=color, line_width=0, layer="below")
    fig.add_trace(go.Scatter(x=[(s.get("start_s", 0) + s.get("end_s", 0)) / 2 for s in segments], y=scores,
                             mode="markers+lines", name="Δ log p", yaxis="y2", marker_color="#264653"))
    fig.update_layout(yaxis=dict(title="amplitude"), yaxis2=dict(title="Δ log p", overlaying="y", side="right"),
                      showlegend=False)
    fig.update_xaxes(title="time (s)")
    title = "Audio attribution" if segments else "Audio attribution (computed in 'full' mode)"
    if audio is None or not len(audio):
        title = "Audio attribution (no audio track)"
    return _layout(fig, title)


# ---------------------------------------------------------------- library
def library_row(rel: str, duration_s: float | None, true_label: str | None, result: dict | None) -> dict:
    """One table row from a stored predict result (None = not run yet)."""
    pred = prediction_of(result or {})
    error = (result or {}).get("error")
    label = pred.get("label") if result and not error else None
    conf = confidence(pred) if result and not error else None
    flags = error or "; ".join(pred.get("notices") or [])
    return {
        "file": rel,
        "duration_s": round(duration_s, 2) if duration_s is not None else None,
        "true label": true_label or "",
        "predicted": ("error" if error else (label or pred.get("answer") or "outside set")) if result else "",
        "correct": ("✓" if label == true_label else "✗") if result and not error and true_label else "",
        "confidence": round(conf, 3) if conf is not None else None,
        "flags": flags,
    }


def library_table(rows: list[dict], label: str = "all", predicted: str = "all", correct: str = "all",
                  search: str = "") -> pd.DataFrame:
    """Filtered table of library rows (filters: true label, predicted label, ✓/✗/not run, file substring)."""
    keep = []
    for r in rows:
        if label != "all" and r["true label"] != label:
            continue
        if predicted != "all" and r["predicted"] != predicted:
            continue
        if correct == "correct" and r["correct"] != "✓" or correct == "wrong" and r["correct"] != "✗":
            continue
        if correct == "not run" and r["predicted"]:
            continue
        if search and search.lower() not in r["file"].lower():
            continue
        keep.append(r)
    return pd.DataFrame(keep, columns=LIBRARY_COLUMNS)


def metrics_markdown(scores: dict[str, dict[str, float]], n_done: int, n_total: int) -> str:
    """WAR/UAR per dataset as a markdown table, plus progress."""
    lines = [f"**{n_done} / {n_total} clips scored**", "", "| dataset | WAR | UAR | n |", "|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['WAR']:.3f} | {s['UAR']:.3f} | {s['n']} |")
    return "\n".join(lines) if scores else lines[0]


def confusion_figure(rows: list[str], cols: list[str], matrix: list[list[int]]) -> go.Figure:
    """Confusion heatmap: rows true, columns predicted, counts annotated."""
    fig = go.Figure(go.Heatmap(z=matrix, x=cols, y=rows, colorscale="Blues", text=matrix, texttemplate="%{text}",
                               showscale=False))
    fig.update_xaxes(title="predicted")
    fig.update_yaxes(title="true", autorange="reversed")
    return _layout(fig, "Confusion matrix", height=360)


def compare_table(rels: list[str], truth: list[str | None], a: list[dict | None],
                  b: list[dict | None]) -> pd.DataFrame:
    """Clips where checkpoints A and B disagree (both run): file, truth, A, B."""
    out = []
    for rel, t, ra, rb in zip(rels, truth, a, b, strict=True):
        if not ra or not rb or ra.get("error") or rb.get("error"):
            continue
        la, lb = prediction_of(ra).get("label"), prediction_of(rb).get("label")
        if la != lb:
            out.append({"file": rel, "true label": t or "", "A": la or "outside set", "B": lb or "outside set"})
    return pd.DataFrame(out, columns=["file", "true label", "A", "B"])


# ---------------------------------------------------------------- live
def _runs(history: list[dict]) -> list[list[dict]]:
    """Timeline points split where the run (one Start press) changes."""
    runs: list[list[dict]] = []
    for h in history:
        if not runs or h.get("run") != runs[-1][-1].get("run"):
            runs.append([])
        runs[-1].append(h)
    return runs


def timeline_figure(history: list[dict]) -> go.Figure:
    """The live timeline of the latest run: the predicted emotion in a lane on top (one row per label, so a
    label is written once whatever the timeline's length), confidence and modality shares below, over
    seconds since Start, each point at the end of the window it explains. Earlier runs stay as faint lines
    until the timeline is cleared."""
    from plotly.subplots import make_subplots

    runs = _runs(history or [])
    cur = runs[-1] if runs else []
    t = [h["t"] for h in cur]
    labels = [h.get("label") or "outside set" for h in cur]
    order = sorted(set(labels))
    lane_px, lower_px = max(60, 24 * len(order)), 180  # at least 24 px per label row: names never collide
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[lane_px, lower_px], vertical_spacing=0.08)
    windows = [h.get("window") or [h["t"], h["t"]] for h in cur]
    hover = [f"{lab} · p={h.get('confidence') or 0:.2f} · window {w[0]:.1f}–{w[1]:.1f} s"
             for lab, h, w in zip(labels, cur, windows, strict=True)]
    fig.add_trace(go.Scatter(x=t, y=labels, mode="markers", name="emotion", hovertext=hover, hoverinfo="text",
                             marker=dict(size=9, color="#2a6fba"), showlegend=False), row=1, col=1)
    for k, old in enumerate(runs[:-1], 1):
        fig.add_trace(go.Scatter(x=[h["t"] for h in old], y=[h.get("confidence") or 0 for h in old], mode="lines",
                                 name=f"earlier run {k}", line=dict(color="#c8c8c8", width=1)), row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=[h.get("confidence") or 0 for h in cur], mode="lines+markers",
                             name="confidence", line=dict(color="#2a6fba")), row=2, col=1)
    for m in ("video", "audio"):
        fig.add_trace(go.Scatter(x=t, y=[h.get(f"{m}_share") for h in cur], mode="lines", name=f"{m} share",
                                 line=dict(color=MODALITY_COLORS[m], dash="dot")), row=2, col=1)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=order, row=1, col=1)
    fig.update_yaxes(range=[0, 1.1], title="p / share", row=2, col=1)
    fig.update_xaxes(title="time since Start (s), at the end of each explained window", row=2, col=1)
    fig = _layout(fig, "Live timeline", height=lane_px + lower_px + 150)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return fig


# ---------------------------------------------------------------- legend and progress
LEGEND = (
    "**How to read this.** "
    "**φ (Shapley value)**: how much a modality adds to the log-probability of the model's own completion, "
    "in nats (natural-log units; +0.7 nats ≈ twice as likely), averaged over both orders of adding video and "
    "audio; the share is |φ| of one over the sum of both. "
    "**Occlusion score** (frame captions, timelines): the drop in that log-probability when one frame is greyed "
    "or one audio window silenced, averaged with the gain when only it is kept; positive = the answer relies "
    "on it. **Gate**: the weights the question gives the visual branches (scene / body / face); they depend on "
    "the question, not on the clip. Token colours: the modality with the larger φ; grey = weak evidence."
)


def duration_text(seconds: float | None) -> str:
    """'about 12 s', 'about 3 min'; '' when unknown."""
    if seconds is None:
        return ""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60)} min"


def waiting_markdown(place: int, estimate_s: float | None, per_request_s: float | None) -> str:
    """What a request waiting for the model is told: its place and, once measured, how long."""
    ahead = f"{place} request{'s' if place != 1 else ''} ahead of yours"
    if estimate_s is None:
        return f"**Waiting for the model**: {ahead} (no estimate yet: nothing measured since start)"
    return (f"**Waiting for the model**: {ahead}; {duration_text(estimate_s)} "
            f"(measured {per_request_s:.1f} s per request)")


def generating_markdown(n_tokens: int, s_per_token: float | None, limit: int) -> str:
    """Progress of generation: tokens so far and the longest it can still take (at the token limit)."""
    head = f"**1/2 Generating**: {n_tokens} token{'s' if n_tokens != 1 else ''}"
    if not s_per_token:
        return head
    left = max(0, limit - n_tokens) * s_per_token
    return (f"{head} ({s_per_token * 1000:.0f} ms per token; at most {duration_text(left)} more, "
            f"at the {limit}-token limit)")


def scoring_markdown(stage: str, done: int, total: int, s_per_variant: float | None) -> str:
    """Progress of attribution: variants scored / total and, from the measured rate, the time left."""
    head = f"**2/2 Attribution**: {done} / {total} variants scored"
    if stage:
        head += f" ({stage} next)" if done < total else ""
    if s_per_variant and done < total:
        head += f"; {duration_text((total - done) * s_per_variant)} left ({s_per_variant:.2f} s per variant, measured)"
    return head

