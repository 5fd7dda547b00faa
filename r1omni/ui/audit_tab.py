"""Audit tab: annotators confirm or reject each claim of the reasoning; agreement, adjudication, export.

Identity: with `--auth-file` the annotator is the logged-in user (`gr.Request.username`, never a value the
browser sends) and their role comes from the file (`user:password[:annotator|adjudicator]`, DESIGN 3.3);
without it the tab asks for a name, says that verdicts are unauthenticated, and nobody adjudicates.
Blind annotation: an annotator sees others' verdicts on a claim only after saving their own (adjudicators
see all; `review.blind`). Only adjudicators record decisions, never on a claim they judged; replacing a
decision asks for a confirmation. Claims are numbered from 1 wherever a person reads them.
The queue comes from `r1omni.audit.review` (ordered by suspicion); every write goes through the
`AuditStore` with the versions the annotator loaded, so a stale write is refused with one message (the
item is reloaded) and the tab stays usable. Items come from the Clip tab and the Library ("send to
audit", `clip_sender` / `library_sender`).

Public API (DESIGN 3.3): audit_queue, audit_item, audit_verdict, audit_clip_verdict, audit_adjudicate,
audit_stats, with the same roles and blindness. Every other handler here is private.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import pandas as pd

from r1omni.audit import records, review
from r1omni.audit.agreement import store_stats
from r1omni.audit.store import CATEGORIES, VERDICTS, StaleWriteError, check_name
from r1omni.errors import R1OmniError, UsageError
from r1omni.ui.backend import Backend, scrub_paths
from r1omni.ui.boundary import bind, guarded, player_file
from r1omni.ui.views import html_escape

HIDDEN = {"api_visibility": "private"}
QUEUE_COLUMNS = ["prediction_id", "clip", "label", "claims", "flagged", "suspicion", "judged by you", "annotators"]
DISAGREE_COLUMNS = ["prediction_id", "claim", "clip", "text", "verdicts", "decision"]
SHORTCUTS = {"s": "audit-supported", "h": "audit-hallucinated", "u": "audit-unsure", "n": "audit-skip",
             "p": "audit-prev"}
VERDICT_COLORS = {"supported": "#cdebd3", "hallucinated": "#f7c6c7", "unsure": "#e4e4e4"}
ADJUDICATOR = "adjudicator"
# Keyboard shortcuts (installed once per page; they work wherever focus is, a claim chip or a button
# included, except while typing in a text field) and click-to-seek on evidence buttons.
KEYS_JS = """
if (!window.__r1omniAuditKeys) {
  window.__r1omniAuditKeys = true;
  const keys = %s;
  const CHOICE = ['radio', 'checkbox', 'button', 'submit', 'reset', 'range', 'color', 'file'];
  document.addEventListener('keydown', (e) => {
    const t = e.target; const tag = (t && t.tagName || '').toLowerCase();
    const typing = tag === 'textarea' || tag === 'select' || (t && t.isContentEditable) ||
      (tag === 'input' && !CHOICE.includes((t.type || 'text').toLowerCase()));
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const id = keys[e.key.toLowerCase()]; const b = id && document.getElementById(id);
    if (b && b.offsetParent !== null) { e.preventDefault(); b.click(); }
  });
}
element.addEventListener('click', (e) => {
  const b = e.target.closest('[data-seek]'); if (!b) return;
  const v = document.querySelector('#audit-video video'); if (!v) return;
  v.currentTime = parseFloat(b.dataset.seek); v.pause();
  document.querySelectorAll('#audit-evidence [data-seek]').forEach((x) => x.classList.remove('seeked'));
  b.classList.add('seeked');
});
""" % ({k: v for k, v in SHORTCUTS.items()},)


# ---------------------------------------------------------------- identity and roles
@dataclass(frozen=True)
class Access:
    """Whether logins are on, and each user's role (DESIGN 3.3). Truthy when logins are on, so handlers
    and tests may pass a plain bool instead (no roles: everybody is an annotator)."""

    auth_on: bool
    roles: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.auth_on

    def role(self, me: str | None) -> str:
        return self.roles.get(me, "annotator") if self.auth_on and me else "annotator"

    def sees_all(self, me: str | None) -> bool:
        return self.role(me) == ADJUDICATOR


def _access(auth_on) -> Access:
    return auth_on if isinstance(auth_on, Access) else Access(bool(auth_on))


def annotator(auth_on: bool, name: str | None, request: gr.Request | None) -> tuple[str, bool]:
    """(annotator name, authenticated): the logged-in user when auth is on, else the typed name."""
    if auth_on:
        user = getattr(request, "username", None) if request is not None else None
        if not user:
            raise UsageError("log in to annotate: verdicts need an account when the app runs with --auth-file")
        return check_name(user), True
    return check_name(name), False


def need_adjudicator(auth_on, me: str) -> None:
    """UsageError unless `me` is an adjudicator of the auth file (without logins nobody adjudicates)."""
    access = _access(auth_on)
    if not access:
        raise UsageError("decisions need an adjudicator account: start the app with --auth-file and a line "
                         "'user:password:adjudicator'")
    if not access.sees_all(me):
        raise UsageError(f"only adjudicators record decisions; {me} is an annotator")


def _store(backend: Backend):
    if backend.audit is None:
        raise UsageError("this app has no audit store")
    return backend.audit


# ---------------------------------------------------------------- pure views
def reasoning_html(item: dict, current: int | None, me: str | None) -> str:
    """The completion's reasoning with each claim highlighted (flagged: red underline; judged by you: the
    verdict's colour; the current claim: outlined), numbered like the claim picker (from 1)."""
    text = item["completion"]
    pieces, pos = [], 0
    for c in item["claims"]:
        pieces.append(html_escape(text[pos:c["start"]]))
        mine = next((v["verdict"] for v in c["verdicts"] if v["annotator"] == me), None)
        style = ["padding:1px 3px", "border-radius:4px", f"background:{VERDICT_COLORS.get(mine, '#eef3fb')}"]
        if c["auto_flags"]:
            style.append("border-bottom:3px solid #e8575a")
        if c["index"] == current:
            style.append("outline:2px solid #2a6fba")
        title = "; ".join(c["auto_flags"]) or "no automatic flag"
        pieces.append(f'<mark data-claim="{c["index"]}" class="audit-claim" title="{html_escape(title)}" '
                      f'style="{";".join(style)}"><sup>{review.number(c["index"])}</sup>'
                      f'{html_escape(c["text"])}</mark>')
        pos = c["end"]
    pieces.append(html_escape(text[pos:]))
    return f'<div id="audit-reasoning-text" style="line-height:1.9">{"".join(pieces)}</div>'


def claim_markdown(item: dict, i: int, me: str | None, sees_all: bool = False) -> str:
    """The claim's facts; `item` is already blinded for `me` (review.blind)."""
    c = item["claims"][i]
    verdict, category = review.suggestion(c)
    flags = ", ".join(c["auto_flags"]) or "none"
    lines = [f"**Claim {review.number(i)} of {len(item['claims'])}**: {html_escape(c['text'])}",
             f"- cites: {', '.join(c['cites']) or 'no modality'} · automatic flags: **{flags}**",
             f"- suggestion: **{verdict}**" + (f" ({category})" if category else "")]
    if c.get("self_consistency") is not None:
        lines.append(f"- self-consistency: {c['self_consistency']:.2f}")
    others = [f"{html_escape(v['annotator'])}: {v['verdict']}" for v in c["verdicts"] if v["annotator"] != me]
    mine = next((v for v in c["verdicts"] if v["annotator"] == me), None)
    if mine:
        lines.append(f"- your verdict: **{mine['verdict']}**"
                     + (f" ({mine['category']})" if mine.get("category") else "") + f" (version {mine['version']})")
    if others:
        lines.append(f"- others: {'; '.join(others)}")
    elif not mine and not sees_all:
        lines.append("- other annotators' verdicts are shown once you saved yours")
    if c.get("adjudication"):
        lines.append(f"- decision: **{html_escape(review.decision_text(c['adjudication']))}**")
    return "\n".join(lines)


def evidence_html(item: dict, i: int) -> str:
    """Share of the cited modality and buttons that seek the player to the frame / audio window."""
    ev = review.evidence(item, item["claims"][i])
    if not ev:
        return "<p>This claim cites no modality: judge it against the answer and the clip as a whole.</p>"
    parts = []
    for e in ev:
        share = "n/a" if e["share"] is None else f"{e['share']:.0%}"
        phi = "" if e["shapley"] is None else f", φ = {e['shapley']:+.3f} nats"
        parts.append(f"<p><b>{e['modality']}</b>: share {share} of this claim's attribution{phi}</p>")
        if e["windows"]:
            btns = " ".join(
                f'<button type="button" class="audit-seek" data-seek="{w["time_s"]:.3f}" '
                f'style="margin:2px;padding:2px 8px;border:1px solid #888;border-radius:6px">{w["what"]} at '
                f'{w["time_s"]:.2f} s (Δ {w["score"] if w["score"] is not None else 0:+.3f})</button>'
                for w in e["windows"])
            parts.append(f"<div>{btns}</div>")
        elif e["modality"] in ("video", "audio"):
            parts.append("<p><i>no per-frame / per-window scores (explained in 'fast' mode)</i></p>")
    return "".join(parts)


def stats_markdown(st: dict) -> str:
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    fl = st["flags_vs_majority"]
    lines = [f"**{st['predictions']} predictions · {st['claims']} claims · {st['verdicts']} verdicts · "
             f"{st['annotators']} annotators**", "",
             f"Krippendorff's α (nominal): **{fmt(st['alpha'])}**", "", "| pair | Cohen's κ |", "|---|---|"]
    lines += [f"| {html_escape(p).replace('|', chr(92) + '|')} | {fmt(k)} |" for p, k in st["kappa"].items()] or \
        ["| – | n/a |"]
    lines += ["", f"Automatic flags vs majority verdict: precision **{fmt(fl['precision'])}**, "
              f"recall **{fmt(fl['recall'])}** (n = {fl['n']})"]
    return "\n".join(lines)


def progress_markdown(prog: dict, me: str | None) -> str:
    if not prog:
        return "No verdicts yet."
    rows = [f"| {'**' + html_escape(a) + '**' if a == me else html_escape(a)} | {p['judged']} / {p['total']} | "
            f"{p['items']} |" for a, p in prog.items()]
    return "\n".join(["| annotator | claims judged | items done |", "|---|---|---|", *rows])


def _queue_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([[r["prediction_id"], r["clip"], r["label"], r["claims"], r["flagged"], r["suspicion"],
                          r["judged"], r["annotators"]] for r in rows], columns=QUEUE_COLUMNS)


def clip_file(backend: Backend, item: dict) -> str | None:
    """The clip's file for the player when it still exists under the library root or the upload folder."""
    from gradio.utils import get_upload_folder

    meta_file = (item.get("explanation") or {}).get("file")
    candidates = [meta_file] if meta_file else []
    if backend.library_root:
        candidates.append(str(backend.library_root / item["clip"]))
    roots = [r for r in (backend.library_root, Path(get_upload_folder()).resolve()) if r]
    for c in candidates:
        p = Path(c).resolve()
        if p.is_file() and any(p == r or r in p.parents for r in roots):
            return player_file(backend, str(p))  # its browser playback copy when a browser cannot play it
    return None


# ---------------------------------------------------------------- handlers (private)
ITEM_OUTPUTS = 11  # cur, video, header, reasoning, claim, detail, category, evidence, clip verdict, clip note, status
STATUS = 10


def refusing(n_outputs: int, status_at: int):
    """A refusal (R1OmniError: a stale write, a missing choice) becomes one message in the status slot
    while every other output stays as it is (gr.skip), so no panel turns into an error badge."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except R1OmniError as err:
                out = [gr.skip()] * n_outputs
                out[status_at] = f"**Not done**: {html_escape(scrub_paths(str(err)))}"
                return tuple(out)
        return wrapper
    return deco


def _empty_item(status: str = "") -> tuple:
    return ({}, None, "Pick an item from the queue (or press **Next item**).", "", gr.Radio(choices=[], value=None),
            "", gr.Dropdown(value=None), "", gr.Radio(value=None), "", status)


def _item_outputs(backend: Backend, item: dict, i: int | None, me: str | None, status: str = "",
                  sees_all: bool = False) -> tuple:
    view = review.blind(item, me, sees_all)
    mine_clip = next((v for v in item["clip_verdicts"] if v["annotator"] == me), None)
    cur = {"pid": item["prediction_id"], "item_version": item["version"], "claim": i, "loaded_by": me,
           "versions": _versions(item, me), "clip_version": (mine_clip or {}).get("version", 0)}
    choices = [(f"{review.number(c['index'])}{' ⚑' if c['auto_flags'] else ''}"
                f"{' ✓' if any(v['annotator'] == me for v in c['verdicts']) else ''}", c["index"])
               for c in item["claims"]]
    head = (f"### {html_escape(item['clip'])} → {item['label'] or 'outside the label set'}\n"
            f"item `{item['prediction_id']}` · checkpoint: {html_escape(item['checkpoint'])} · "
            f"{len(item['claims'])} claims")
    clip_outs = (gr.Radio(value=(mine_clip or {}).get("verdict")), (mine_clip or {}).get("note") or "")
    if i is None:
        return (cur, clip_file(backend, item), head, reasoning_html(view, None, me),
                gr.Radio(choices=choices, value=None),
                "This prediction has no claims to judge; give an overall verdict below.", gr.Dropdown(value=None), "",
                *clip_outs, status)
    mine = next((v for v in item["claims"][i]["verdicts"] if v["annotator"] == me), None)
    # The category box shows only what this annotator saved (never a pre-fill: a category is saved when
    # chosen, or from the flag with a 'hallucinated' verdict); cur remembers it to tell a choice from a load.
    cur |= {"category_loaded": (mine or {}).get("category"), "category_verdict": (mine or {}).get("verdict")}
    return (cur, clip_file(backend, item), head, reasoning_html(view, i, me), gr.Radio(choices=choices, value=i),
            claim_markdown(view, i, me, sees_all), gr.Dropdown(value=cur["category_loaded"]),
            evidence_html(item, i), *clip_outs, status)


def _me(auth_on: bool, name: str | None, request) -> str | None:
    try:
        return annotator(auth_on, name, request)[0]
    except UsageError:
        return None


def _show(backend: Backend, auth_on, item: dict, i: int | None, me: str | None, status: str = "") -> tuple:
    return _item_outputs(backend, item, i, me, status, _access(auth_on).sees_all(me))


@guarded
@refusing(ITEM_OUTPUTS, STATUS)
def open_item(backend: Backend, auth_on: bool, pid: str, name: str, request: gr.Request = None):
    item = _store(backend).item(pid)
    me = _me(auth_on, name, request)
    first = review.next_claim(item, me) if item["claims"] else None
    return _show(backend, auth_on, item, first if first is not None else (0 if item["claims"] else None), me)


@guarded
@refusing(ITEM_OUTPUTS, STATUS)
def pick_queue_row(backend: Backend, auth_on: bool, name: str, evt: gr.SelectData, request: gr.Request = None):
    row = evt.row_value if getattr(evt, "row_value", None) else [evt.value]
    return open_item(backend, auth_on, str(row[0]), name, request)


@guarded
@refusing(ITEM_OUTPUTS, STATUS)
def next_item(backend: Backend, auth_on: bool, cur: dict, flag: str, modality: str, name: str,
              request: gr.Request = None):
    """The most suspicious item this annotator has not finished (other than the current one)."""
    me = _me(auth_on, name, request)
    rows = review.queue(_store(backend), me, flag or "all", modality or "all", _access(auth_on).sees_all(me))
    pending = [r for r in rows if r["judged"] < r["claims"] and r["prediction_id"] != (cur or {}).get("pid")]
    if not pending:
        return _empty_item("Nothing left in this queue for you.")
    return open_item(backend, auth_on, pending[0]["prediction_id"], name, request)


@guarded
@refusing(ITEM_OUTPUTS, STATUS)
def pick_claim(backend: Backend, auth_on: bool, cur: dict, idx, name: str, request: gr.Request = None):
    if not cur or not cur.get("pid") or idx is None:
        return _empty_item()
    item = _store(backend).item(cur["pid"])
    return _show(backend, auth_on, item, int(idx), _me(auth_on, name, request))


def _step(backend: Backend, auth_on, cur: dict, name: str, request, step: int, word: str):
    if not cur or not cur.get("pid"):
        raise UsageError("open an item first")
    item = _store(backend).item(cur["pid"])
    n = len(item["claims"])
    i = None if not n else ((cur.get("claim") or 0) + step) % n
    return _show(backend, auth_on, item, i, _me(auth_on, name, request), f"{word}: claim {review.number(i)}"
                 if i is not None else "")


@guarded
@refusing(ITEM_OUTPUTS, STATUS)
def skip_claim(backend: Backend, auth_on: bool, cur: dict, name: str, request: gr.Request = None):
    return _step(backend, auth_on, cur, name, request, 1, "skipped to")


@guarded
@refusing(ITEM_OUTPUTS, STATUS)
def previous_claim(backend: Backend, auth_on: bool, cur: dict, name: str, request: gr.Request = None):
    return _step(backend, auth_on, cur, name, request, -1, "back to")


def _side_outputs(backend: Backend, me: str | None, flag: str, modality: str, sees_all: bool = False) -> tuple:
    store = _store(backend)
    rows = review.queue(store, me, flag or "all", modality or "all", sees_all)
    return (stats_markdown(store_stats(store)), _queue_frame(rows),
            progress_markdown(review.progress(store), me), _disagree_frame(store, me, sees_all))


def saved_category(verdict: str, chosen: str | None, cur: dict, claim: dict) -> str | None:
    """The category stored with a verdict: with 'hallucinated', the one chosen or else the flag's; with any
    other verdict only one the annotator chose in this view (a category loaded from their earlier
    'hallucinated' verdict, possibly a flag's pre-fill, is not carried over)."""
    chosen = chosen or None
    if verdict == "hallucinated":
        return chosen or (review.suggestion(claim)[1] if claim.get("auto_flags") else None)
    if chosen is None:
        return None
    loaded, loaded_with = cur.get("category_loaded"), cur.get("category_verdict")
    return chosen if (chosen != loaded or loaded_with not in (None, "hallucinated")) else None


@guarded
@refusing(ITEM_OUTPUTS + 5, STATUS)
def save_verdict(backend: Backend, auth_on: bool, verdict: str, cur: dict, category: str | None, note: str,
                 name: str, flag: str, modality: str, request: gr.Request = None):
    """Store the verdict on the current claim (with the versions loaded), then go to the next open claim.
    A stale write saves nothing and reloads the item with one message."""
    if not cur or not cur.get("pid") or cur.get("claim") is None:
        raise UsageError("open an item and pick a claim first")
    me, authed = annotator(auth_on, name, request)
    sees_all = _access(auth_on).sees_all(me)
    store = _store(backend)
    i = int(cur["claim"])
    # The base of this write is what this annotator saw when the item was loaded (0: no verdict of theirs).
    expected = (cur.get("versions") or {}).get(str(i), 0) if cur.get("loaded_by") == me else 0
    item = store.item(cur["pid"])
    if i >= len(item["claims"]):
        raise UsageError(f"item {cur['pid']} has no claim {review.number(i)}")
    cat = saved_category(verdict, category, cur, item["claims"][i])
    try:
        rec = store.put_verdict(cur["pid"], i, me, verdict, category=cat, note=note, expected_version=expected,
                                item_version=cur.get("item_version"), authenticated=authed)
    except StaleWriteError as err:
        item = store.item(cur["pid"])
        msg = f"**Not saved**: {html_escape(scrub_paths(str(err)))} (reloaded: judge claim {review.number(i)} again)"
        return (*_item_outputs(backend, item, i, me, msg, sees_all), *_side_outputs(backend, me, flag, modality,
                                                                                     sees_all), gr.skip())
    item = store.item(cur["pid"])
    nxt = review.next_claim(item, me, i)
    status = f"saved: claim {review.number(i)} **{rec['verdict']}**" + \
        (f" ({rec['category']})" if rec["category"] else "") + f" (version {rec['version']})"
    if nxt is None:
        status += " · every claim judged: give an overall verdict below, or press **Next item**"
    out = _item_outputs(backend, item, nxt if nxt is not None else i, me, status, sees_all)
    return (*out, *_side_outputs(backend, me, flag, modality, sees_all), "")


def _versions(item: dict, me: str | None) -> dict:
    return {str(c["index"]): next((v["version"] for v in c["verdicts"] if v["annotator"] == me), 0)
            for c in item["claims"]}


@guarded
@refusing(2, 1)
def save_clip_verdict(backend: Backend, auth_on: bool, cur: dict, verdict: str, note: str, name: str,
                      request: gr.Request = None):
    if not cur or not cur.get("pid"):
        raise UsageError("open an item first")
    if verdict not in VERDICTS:
        raise UsageError("choose the overall verdict first")
    me, authed = annotator(auth_on, name, request)
    store = _store(backend)
    expected = cur.get("clip_version", 0) if cur.get("loaded_by") == me else 0
    rec = store.put_clip_verdict(cur["pid"], me, verdict, note=note, expected_version=expected,
                                 item_version=cur.get("item_version"), authenticated=authed)
    return {**cur, "clip_version": rec["version"]}, f"overall verdict saved: **{rec['verdict']}**"


def _disagree_frame(store, me: str | None = None, sees_all: bool = True) -> pd.DataFrame:
    return pd.DataFrame([[r[k] for k in ("prediction_id", "claim", "clip", "text", "verdicts", "decision")]
                         for r in review.disagreement_rows(store, me, sees_all)], columns=DISAGREE_COLUMNS)


@guarded
def refresh(backend: Backend, auth_on: bool, flag: str, modality: str, name: str, request: gr.Request = None):
    me = _me(auth_on, name, request)
    access = _access(auth_on)
    ident = (f"Annotating as **{html_escape(me)}** (logged in, {access.role(me)})." if auth_on and me else
             "Verdicts are **unauthenticated**: type your name; anyone can type any name." if not auth_on else
             "Log in to annotate.")
    return (ident, *_side_outputs(backend, me, flag, modality, access.sees_all(me)))


@guarded
@refusing(3, 1)
def pick_disagreement(backend: Backend, auth_on: bool, name: str, evt: gr.SelectData, request: gr.Request = None):
    row = evt.row_value if getattr(evt, "row_value", None) else None
    if not row:
        raise UsageError("pick a row of the disagreement table")
    pid, claim = str(row[0]), int(row[1]) - 1  # the table numbers claims from 1
    me = _me(auth_on, name, request)
    item = review.blind(_store(backend).item(pid), me, _access(auth_on).sees_all(me))
    if not 0 <= claim < len(item["claims"]):
        raise UsageError(f"item {pid} has no claim {claim + 1}")
    c = item["claims"][claim]
    version = (c.get("adjudication") or {}).get("version", 0)
    lines = [f"**{html_escape(item['clip'])}**, claim {review.number(claim)}: {html_escape(c['text'])}",
             f"- automatic flags: {', '.join(c['auto_flags']) or 'none'}"]
    lines += [f"- {html_escape(v['annotator'])}: **{v['verdict']}**" + (f" ({v['category']})" if v["category"] else "")
              + (f": {html_escape(v['note'])}" if v["note"] else "") for v in c["verdicts"]]
    if c.get("adjudication"):
        lines.append(f"- current decision: **{html_escape(review.decision_text(c['adjudication']))}**")
    return {"pid": pid, "claim": claim, "version": version}, "\n".join(lines), gr.Button(visible=False)


@guarded
@refusing(7, 1)
def decide(backend: Backend, auth_on: bool, confirm: bool, adj: dict, verdict: str, category: str | None, note: str,
           name: str, flag: str, modality: str, request: gr.Request = None):
    """Record the decision on the picked claim (adjudicators only, never on a claim they judged); a claim
    that already has a decision is replaced only after **Replace the decision** (`confirm`)."""
    if not adj or not adj.get("pid"):
        raise UsageError("pick a disagreement first")
    me, authed = annotator(auth_on, name, request)
    need_adjudicator(auth_on, me)
    if verdict not in VERDICTS:
        raise UsageError("choose the decision (supported, hallucinated or unsure)")
    store = _store(backend)
    skip_side = (gr.skip(),) * 4
    if adj.get("version", 0) and not confirm:
        current = store.item(adj["pid"])["claims"][adj["claim"]]["adjudication"]
        msg = (f"claim {review.number(adj['claim'])} already has a decision: "
               f"**{html_escape(review.decision_text(current))}**. Press **Replace the decision** to record yours "
               "instead (both are kept in the export; the latest counts).")
        return (adj, msg, gr.Button(visible=True), *skip_side)
    rec = store.adjudicate(adj["pid"], adj["claim"], me, verdict, category=category or None, note=note,
                           expected_version=adj.get("version", 0), authenticated=authed)
    adj = {**adj, "version": rec["version"]}
    msg = f"decision recorded: claim {review.number(adj['claim'])} **{rec['verdict']}** by {html_escape(me)}"
    return (adj, msg, gr.Button(visible=False), *_side_outputs(backend, me, flag, modality, True))


@guarded
def export_file(backend: Backend, fmt: str):
    from gradio.utils import get_upload_folder

    folder = Path(tempfile.mkdtemp(prefix="audit-export-", dir=get_upload_folder()))
    out = folder / ("audit.csv" if fmt == "csv" else "audit.jsonl")
    n = records.export(_store(backend), out, "csv" if fmt == "csv" else "jsonl")
    return str(out), f"{n} audited predictions exported"


# ---------------------------------------------------------------- public API (DESIGN 3.3)
def api_queue(backend: Backend, auth_on: bool, flag: str = "all", modality: str = "all", name: str = "",
              request: gr.Request = None) -> list[dict]:
    """Audit items, most suspicious first (flag / modality filters as in the tab)."""
    me = annotator(auth_on, name, request)[0] if (auth_on or name) else None
    return review.queue(_store(backend), me, flag, modality, _access(auth_on).sees_all(me))


def api_item(backend: Backend, auth_on: bool, prediction_id: str, name: str = "", request: gr.Request = None) -> dict:
    """One item: completion, claims with offsets, flags, support, and the verdicts the caller may see (on a
    claim they have not judged only their own; adjudicators see every verdict), each with its version."""
    me = annotator(auth_on, name, request)[0] if (auth_on or name) else None
    return review.blind(_store(backend).item(prediction_id), me, _access(auth_on).sees_all(me))


def api_verdict(backend: Backend, auth_on: bool, prediction_id: str, claim_index: int, verdict: str,
                category: str | None = None, note: str | None = None, expected_version: int = 0,
                item_version: int | None = None, name: str = "", request: gr.Request = None) -> dict:
    """Store a verdict on one claim (`claim_index` 0-based); refused when it changed since
    `expected_version` (0: none yet)."""
    me, authed = annotator(auth_on, name, request)
    return _store(backend).put_verdict(prediction_id, int(claim_index), me, verdict, category=category, note=note,
                                       expected_version=int(expected_version), item_version=item_version,
                                       authenticated=authed)


def api_clip_verdict(backend: Backend, auth_on: bool, prediction_id: str, verdict: str, note: str | None = None,
                     expected_version: int = 0, name: str = "", request: gr.Request = None) -> dict:
    """Store the overall verdict on a prediction's reasoning."""
    me, authed = annotator(auth_on, name, request)
    return _store(backend).put_clip_verdict(prediction_id, me, verdict, note=note,
                                            expected_version=int(expected_version), authenticated=authed)


def api_adjudicate(backend: Backend, auth_on: bool, prediction_id: str, claim_index: int, verdict: str,
                   category: str | None = None, note: str | None = None, expected_version: int = 0, name: str = "",
                   request: gr.Request = None) -> dict:
    """Record the decision on a claim as its own record (adjudicators only, never on a claim they judged).
    Replacing a decision means stating its version (`expected_version`), as the tab's confirmation does."""
    me, authed = annotator(auth_on, name, request)
    need_adjudicator(auth_on, me)
    return _store(backend).adjudicate(prediction_id, int(claim_index), me, verdict, category=category, note=note,
                                      expected_version=int(expected_version), authenticated=authed)


def api_stats(backend: Backend, auth_on: bool, request: gr.Request = None) -> dict:
    """DESIGN 3.7 stats: counts, Cohen's kappa per pair, Krippendorff's alpha, flags vs majority."""
    if auth_on:
        annotator(auth_on, None, request)
    return store_stats(_store(backend))


API = {"audit_queue": api_queue, "audit_item": api_item, "audit_verdict": api_verdict,
       "audit_clip_verdict": api_clip_verdict, "audit_adjudicate": api_adjudicate, "audit_stats": api_stats}


# ---------------------------------------------------------------- sending items
def clip_name(backend: Backend, path: str) -> str:
    """Library clips by their path under the library root; uploads by content hash + file name."""
    p = Path(path).resolve()
    root = backend.library_root
    if root and (root in p.parents):
        return str(p.relative_to(root))
    h = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    return f"upload/{h}/{p.name}"


@guarded
def send_clip(backend: Backend, video: str | None, result: dict | None):
    """Clip tab: store the explanation on screen as an audit item."""
    if not video or not result or not (result.get("prediction") or {}).get("text"):
        raise UsageError("explain a clip first, then send it to audit")
    video = backend.source_of(video)  # the clip itself, not the player's playback copy
    name = clip_name(backend, video)
    pid = _store(backend).add_explanation({**result, "file": str(Path(video).resolve())}, clip=name)
    gr.Info(f"sent to audit: item {pid}")
    return f"sent to the Audit queue as item `{pid}`"


def _library_results(backend: Backend, state: dict, label_set: str) -> list[tuple]:
    from r1omni.ui import library_tab

    clips = library_tab._clips(state)
    if hasattr(library_tab, "_load_results"):
        res = library_tab._load_results(backend, state, label_set)
        return [(c, res.get(c.rel)) for c in clips]
    stored = backend.store.get_many(backend.key, [Path(c.path) for c in clips], label_set)
    return [(c, stored.get(str(Path(c.path).resolve()))) for c in clips]


@guarded
def send_library(backend: Backend, state: dict, label_set: str, mode: str, progress=gr.Progress()):
    """Library: explain every stored prediction of this run (its completion teacher-forced, so the audited
    text is exactly the stored one) and add it to the audit queue, one transaction per clip."""
    pairs = [(c, r) for c, r in _library_results(backend, state, label_set)
             if r and not r.get("error") and (r.get("text") or "")]
    if not pairs:
        raise UsageError("no stored predictions to send: press Run first")
    store = _store(backend)
    sent = 0
    for k, (c, r) in enumerate(pairs):
        progress((k, len(pairs)), desc=c.rel)
        (res,) = backend.explain_completions([c.path], [r["text"]], label_set=label_set, mode=mode)
        if res.get("error"):
            continue
        store.add_explanation({**res, "file": str(Path(c.path).resolve())}, clip=c.rel,
                              settings={"source": "library"})
        sent += 1
        yield f"sent {sent} of {len(pairs)} predictions to audit…"
    yield f"sent {sent} predictions of this run to the Audit queue"


def clip_sender(backend: Backend, clip: dict) -> None:
    """A 'Send to audit' button for the Clip tab (laid out in the current context)."""
    with gr.Row():
        btn = gr.Button("Send this explanation to audit", elem_id="clip-send-audit", size="sm")
        msg = gr.Markdown(elem_id="clip-send-audit-status")
    btn.click(bind(send_clip, backend), [clip["video"], clip["outputs"][-1]], msg, **HIDDEN)


def library_sender(backend: Backend, lib: dict, label_set: gr.Dropdown) -> None:
    """A 'Send run to audit' button for the Library tab (laid out in the current context)."""
    from r1omni.ui.clip_tab import MODEL_QUEUE

    with gr.Row():
        mode = gr.Radio(["full", "fast"], value=backend.explain_mode, label="Evidence for audit", scale=1,
                        elem_id="library-audit-mode",
                        info="full: frame and audio windows to seek to; fast: modality shares only")
        btn = gr.Button("Send this run's predictions to audit", elem_id="library-send-audit", scale=1)
        msg = gr.Markdown(elem_id="library-send-audit-status")
    lib["stoppable"](btn, bind(send_library, backend), [lib["state"], label_set, mode], msg,  # Library's Stop ends it
                     concurrency_id=MODEL_QUEUE, concurrency_limit=1, **HIDDEN)


# ---------------------------------------------------------------- layout
def _warm_imports() -> None:
    """Import narwhals (gradio's Dataframe and plotly's figures both use it) in the main thread: the Audit queue
    and the Library's figures are first drawn by two handler threads at page load, and two threads importing
    it for the first time at once deadlock ('_DeadlockError ... narwhals.stable.v2')."""
    import narwhals.stable  # noqa: F401
    import plotly.basedatatypes  # noqa: F401


def build(backend: Backend, auth_on: bool = False, roles: dict | None = None) -> dict:
    """Lay out the Audit tab inside the current Blocks context and register the public audit API.
    `roles`: user -> 'annotator' | 'adjudicator' (from --auth-file; missing users are annotators)."""
    _warm_imports()
    access = Access(bool(auth_on), dict(roles or {}))
    with gr.Row():
        ident = gr.Markdown(elem_id="audit-identity")
        name = gr.Textbox(label="Your annotator name", visible=not auth_on, elem_id="audit-name", scale=1,
                          info="stored with every verdict (no login: unauthenticated)")
    with gr.Row():
        f_flag = gr.Dropdown(list(review.QUEUE_FILTERS), value="all", label="Flag", elem_id="audit-filter-flag")
        f_mod = gr.Dropdown(list(review.MODALITY_FILTERS), value="all", label="Cited modality",
                            elem_id="audit-filter-modality")
        refresh_btn = gr.Button("Refresh", elem_id="audit-refresh", scale=0)
        next_btn = gr.Button("Next item", variant="primary", elem_id="audit-next", scale=0)
    queue_df = gr.Dataframe(headers=QUEUE_COLUMNS, interactive=False, elem_id="audit-queue", max_height=260,
                            label="Queue (most suspicious first; click a row to open it)")
    cur = gr.State({})
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            video = gr.Video(label="Clip", interactive=False, elem_id="audit-video")
            evidence = gr.HTML(elem_id="audit-evidence", js_on_load=KEYS_JS, label="Evidence")
        with gr.Column(scale=2):
            header = gr.Markdown("Pick an item from the queue (or press **Next item**).", elem_id="audit-item")
            reasoning = gr.HTML(elem_id="audit-reasoning")
            claim = gr.Radio(choices=[], label="Claim (⚑ flagged, ✓ judged by you)", elem_id="audit-claim")
            detail = gr.Markdown(elem_id="audit-claim-detail")
            with gr.Row():
                category = gr.Dropdown([None, *CATEGORIES], value=None, label="Category", elem_id="audit-category",
                                       info="saved when you choose one; with 'hallucinated' the flag's category "
                                            "is used when left empty")
                note = gr.Textbox(label="Note", elem_id="audit-note", scale=2)
            with gr.Row():
                b_sup = gr.Button("Supported [S]", elem_id="audit-supported", min_width=90, scale=3, size="sm")
                b_hal = gr.Button("Hallucinated [H]", variant="stop", elem_id="audit-hallucinated", min_width=90,
                                  scale=3, size="sm")
                b_uns = gr.Button("Unsure [U]", elem_id="audit-unsure", min_width=90, scale=3, size="sm")
                b_prev = gr.Button("Prev [P]", elem_id="audit-prev", min_width=70, scale=2, size="sm")
                b_skip = gr.Button("Next [N]", elem_id="audit-skip", min_width=70, scale=2, size="sm")
            status = gr.Markdown(elem_id="audit-status")
            with gr.Row():
                clip_v = gr.Radio(list(VERDICTS), label="Overall verdict on this reasoning",
                                  elem_id="audit-clip-verdict")
                clip_note = gr.Textbox(label="Overall note", elem_id="audit-clip-note")
                clip_btn = gr.Button("Save overall verdict", elem_id="audit-clip-save", scale=0)
    with gr.Row():
        with gr.Column():
            gr.Markdown("#### Progress")
            prog = gr.Markdown(elem_id="audit-progress")
        with gr.Column():
            gr.Markdown("#### Agreement")
            stats = gr.Markdown(elem_id="audit-stats")
    with gr.Accordion("Adjudication (claims where annotators disagree; decisions by adjudicators)", open=True):
        disagree = gr.Dataframe(headers=DISAGREE_COLUMNS, interactive=False, elem_id="audit-disagreements",
                                label="Click a row to decide it (annotators see the claims they judged)", wrap=True)
        adj = gr.State({})
        adj_detail = gr.Markdown(elem_id="audit-adj-detail")
        with gr.Row():
            adj_v = gr.Radio(list(VERDICTS), label="Decision", elem_id="audit-adj-verdict")
            adj_cat = gr.Dropdown([None, *CATEGORIES], value=None, label="Category", elem_id="audit-adj-category")
            adj_note = gr.Textbox(label="Note", elem_id="audit-adj-note")
            adj_btn = gr.Button("Record decision", variant="primary", elem_id="audit-adjudicate", scale=0)
            adj_confirm = gr.Button("Replace the decision", variant="stop", elem_id="audit-adj-confirm", scale=0,
                                    visible=False)
        adj_msg = gr.Markdown(elem_id="audit-adj-status")
    with gr.Accordion("Export", open=False):
        with gr.Row():
            fmt = gr.Radio(["jsonl", "csv"], value="jsonl", label="Format")
            exp_btn = gr.Button("Export", elem_id="audit-export", scale=0)
        exp_file = gr.File(label="Export file", elem_id="audit-export-file")
        exp_msg = gr.Markdown()

    item_out = [cur, video, header, reasoning, claim, detail, category, evidence, clip_v, clip_note, status]
    assert len(item_out) == ITEM_OUTPUTS and item_out[STATUS] is status
    side_out = [stats, queue_df, prog, disagree]
    filters = [f_flag, f_mod]

    refresh_h = bind(refresh, backend, access)
    refresh_btn.click(refresh_h, [*filters, name], [ident, *side_out], **HIDDEN)
    for f in filters:
        f.change(refresh_h, [*filters, name], [ident, *side_out], **HIDDEN)
    name.submit(refresh_h, [*filters, name], [ident, *side_out], **HIDDEN)
    next_btn.click(bind(next_item, backend, access), [cur, *filters, name], item_out, **HIDDEN)
    queue_df.select(bind(pick_queue_row, backend, access), [name], item_out, **HIDDEN)
    claim.input(bind(pick_claim, backend, access), [cur, claim, name], item_out, **HIDDEN)
    b_skip.click(bind(skip_claim, backend, access), [cur, name], item_out, **HIDDEN)
    b_prev.click(bind(previous_claim, backend, access), [cur, name], item_out, **HIDDEN)
    for btn, verdict in ((b_sup, "supported"), (b_hal, "hallucinated"), (b_uns, "unsure")):
        btn.click(bind(save_verdict, backend, access, verdict), [cur, category, note, name, *filters],
                  [*item_out, *side_out, note], **HIDDEN)
    clip_btn.click(bind(save_clip_verdict, backend, access), [cur, clip_v, clip_note, name], [cur, status], **HIDDEN)
    disagree.select(bind(pick_disagreement, backend, access), [name], [adj, adj_detail, adj_confirm], **HIDDEN)
    for btn, confirm in ((adj_btn, False), (adj_confirm, True)):
        btn.click(bind(decide, backend, access, confirm), [adj, adj_v, adj_cat, adj_note, name, *filters],
                  [adj, adj_msg, adj_confirm, *side_out], **HIDDEN)
    exp_btn.click(bind(export_file, backend), [fmt], [exp_file, exp_msg], **HIDDEN)
    for api_name, fn in API.items():
        gr.api(guarded(bind(fn, backend, access)), api_name=api_name)
    return {"refresh": refresh_h, "refresh_inputs": [*filters, name], "refresh_outputs": [ident, *side_out]}
