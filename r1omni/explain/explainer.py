"""`explain()`: predict, then attribute the completion to video / audio, frames, audio windows and claims.

One pass per batch of clips: generate (or take given completions) and the class distribution, exactly as
`Pipeline.predict`; then every teacher-forced variant of every clip (the 4 modality coalitions and, in
mode "full", one occluded frame / silenced audio window at a time) is scored by one `r1omni.scoring`
session, which keeps the clip's towers and prompt KV from the prediction and feeds each variant from the
longest prompt prefix it shares with a cached one, in batches of `forward_batch_size`. All
attributions (answer, reasoning, each sentence, each token) come from those per-token log-probs. Contrastive
claim support forks alternatives from the coalitions' completions, whose KV the same session keeps.
Methods: exact 2-player Shapley + MM-SHAP share (`shapley.py`), leave-one-out occlusion (`temporal.py`),
claim flags (`flags.py`). This module knows the Pipeline's public methods, not the model internals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from r1omni.audit.claims import answer_span, extract_claims, think_span
from r1omni.errors import R1OmniError, UsageError
from r1omni.explain import contrast as contrast_lib
from r1omni.explain import flags as flag_lib
from r1omni.explain import shapley, temporal
from r1omni.explain.result import Explanation
from r1omni.explain.tokens import token_offsets, tokens_in
from r1omni.prompts import label_set as get_label_set
from r1omni.prompts import parse_response
from r1omni.scoring import ScoringSession

logger = logging.getLogger(__name__)

MODES = ("full", "fast")
TARGETS = ("answer", "reasoning", "completion")
GATE_BRANCHES = ("scene", "body", "face")
_DOMINANT_EPS = 1e-3  # nats: below this a token has no dominant modality


@dataclass(frozen=True)
class ExplainParams:
    """Every knob of one explain run; copied into `Explanation.params`."""

    mode: str = "full"
    label_set: str = "dfew"
    question: str | None = None
    do_sample: bool = False
    max_new_tokens: int | None = None
    batch_size: int = 8
    forward_batch_size: int = 32
    target: str = "completion"
    audio_window_s: float = temporal.DEFAULT_AUDIO_WINDOW_S
    max_audio_windows: int = temporal.DEFAULT_MAX_AUDIO_WINDOWS
    audio_occlusion: str = temporal.DEFAULT_AUDIO_OCCLUSION
    temporal: str = "both"
    cache: bool = True
    contrastive: bool = True
    counterfactuals: str = contrast_lib.REWRITE  # "rewrite" | "bank" (contrast.py)
    alternatives_per_label: int = 2
    self_consistency: int = 0
    consistency_max_new_tokens: int = 256
    thresholds: flag_lib.FlagThresholds | None = None  # None: the checkpoint's calibration, else the defaults
    threshold_source: str = "default"  # set by explain(): "calibration" | "caller" | "default"
    # given completions: also teacher-force `<answer>label</answer>` for every label (prediction "probs");
    # False leaves "probs" None (a caller that reads the claims only, e.g. a training reward's judge)
    class_distribution: bool = True

    def __post_init__(self):
        if self.mode not in MODES:
            raise UsageError(f"unknown explain mode '{self.mode}'; choose one of: {', '.join(MODES)}")
        if self.target not in TARGETS:
            raise UsageError(f"unknown explain target '{self.target}'; choose one of: {', '.join(TARGETS)}")
        if self.temporal not in temporal.TEMPORAL_MODES:
            raise UsageError(f"unknown temporal mode '{self.temporal}'; choose one of: "
                             f"{', '.join(temporal.TEMPORAL_MODES)}")
        if self.audio_occlusion not in temporal.AUDIO_OCCLUSIONS:
            raise UsageError(f"unknown audio occlusion '{self.audio_occlusion}'; choose one of: "
                             f"{', '.join(temporal.AUDIO_OCCLUSIONS)}")
        get_label_set(self.label_set)
        if self.counterfactuals not in contrast_lib.SOURCES:
            raise UsageError(f"unknown counterfactual source '{self.counterfactuals}'; choose one of: "
                             f"{', '.join(contrast_lib.SOURCES)}")
        if self.self_consistency < 0 or self.alternatives_per_label < 1:
            raise UsageError("self_consistency must be >= 0 and alternatives_per_label >= 1")

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "thresholds"}
        t = self.thresholds or flag_lib.FlagThresholds()
        return d | {"unsupported_abs_eps": t.abs_eps, "unsupported_rel": t.rel,
                    "unsupported_token_eps": t.token_eps, "unsupported_neutral_eps": t.neutral_eps,
                    "contrast_eps": t.contrast_eps, "relative_eps": t.relative_eps,
                    "contrast_neutral_eps": t.contrast_neutral_eps}


@dataclass
class _Job:
    """One clip on its way through explain()."""

    index: int
    media: object
    text: str = ""
    ids: list[int] = field(default_factory=list)
    prediction: dict = field(default_factory=dict)
    players: tuple[str, ...] = ()
    coalition_media: dict = field(default_factory=dict)  # coalition key -> variant slot
    frames: list = field(default_factory=list)
    windows: list = field(default_factory=list)
    audio_media: list = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # positions in the flat variant list
    claims: list = field(default_factory=list)  # the completion's claims (r1omni.audit.claims), split once
    gradient: tuple = ((), ())  # temporal="gradient": (frame rows, audio rows)


def explain(
    pipe,
    clips: Sequence,
    *,
    mode: str = "full",
    label_set: str = "dfew",
    question: str | None = None,
    do_sample: bool = False,
    max_new_tokens: int | None = None,
    batch_size: int = 8,
    completions: Sequence[str] | None = None,
    truth: Sequence[Mapping | None] | None = None,
    on_progress: Callable[[str, dict], None] | None = None,
    **options,
) -> list:
    """Explain each clip (path, `media.Clip` or `MediaInputs`): a list of `Explanation` or `ClipError`.

    `completions` teacher-forces given texts instead of generating (audits, planted-claim benchmarks);
    `truth` gives synthetic manifest rows to check cues ("cue not present"). Extra `options` are
    `ExplainParams` fields (target, forward_batch_size, audio_window_s, max_audio_windows, thresholds).
    `on_progress(event, info)` is told what is ready as it comes (for showing results early): "predicted"
    (info: predictions, variants total), "scored" after each stage of teacher-forced variants (info: stage,
    done, total, and after the coalitions the modality block per clip index), "contrast" before claim support.
    """
    from dataclasses import replace

    from r1omni.explain import calibration

    params = ExplainParams(mode, label_set, question, do_sample, max_new_tokens, batch_size, **options)
    thresholds, source, cal_notice = calibration.resolve_thresholds(pipe, params.thresholds)
    params = replace(params, thresholds=thresholds, threshold_source=source)
    if completions is not None and len(completions) != len(clips):
        raise UsageError(f"{len(completions)} completions for {len(clips)} clips; give one per clip")
    results: list = [None] * len(clips)
    gate, gate_notice = _gate(pipe, question)
    session = ScoringSession(pipe, question, cache=params.cache)
    for start in range(0, len(clips), max(1, batch_size)):
        chunk = range(start, min(len(clips), start + batch_size))
        forced = None if completions is None else [completions[i] for i in chunk]
        rows = None if truth is None else [truth[i] for i in chunk]
        batch = _explain_batch(pipe, session, [clips[i] for i in chunk], forced, rows, params, gate, gate_notice,
                               on_progress)
        for i, r in zip(chunk, batch, strict=True):
            results[i] = r
            if cal_notice and hasattr(r, "notices"):
                r.notices.append(cal_notice)
        session.forget_clips()
    return results


def _gate(pipe, question: str | None) -> tuple[dict | None, str | None]:
    """The instruction gate's branch weights (they depend on the question only, not on the clip)."""
    try:
        with torch.inference_mode():
            probs = pipe.gate_probs(question)[0].float().cpu()  # once per checkpoint and question
    except (AttributeError, TypeError, RuntimeError) as err:
        logger.warning("gate weights unavailable: %s", err)
        return None, "gate weights unavailable for this checkpoint"
    return {b: round(float(p), 5) for b, p in zip(GATE_BRANCHES, probs, strict=True)}, None


def _explain_batch(pipe, session, clips, forced, rows, params: ExplainParams, gate, gate_notice,
                   on_progress=None) -> list:
    from r1omni.inference import ClipError, MediaInputs

    t_start = time.perf_counter()
    out: list = [None] * len(clips)
    jobs: list[_Job] = []
    for i, clip in enumerate(clips):
        try:
            jobs.append(_Job(i, clip if isinstance(clip, MediaInputs) else pipe.encode(clip)))
        except R1OmniError as err:
            out[i] = ClipError(str(getattr(clip, "path", clip)), str(err))
    t_enc = time.perf_counter()
    if jobs:
        _predict(pipe, session, jobs, forced, params)
        labels = get_label_set(params.label_set)
        for job in jobs:
            job.claims = extract_claims(job.text, labels)
    t_pred = time.perf_counter()
    flat_media, flat_ids = [], []
    for job in jobs:
        _plan(pipe, job, params, flat_media, flat_ids)
    # contrastive support continues the coalitions' completions (real input, one modality masked): keep their KV
    keep = [False] * len(flat_media)
    if params.contrastive:
        for job in jobs:
            for key in ("both", "video", "audio"):
                keep[job.slots[job.coalition_media[key]]] = True
    if jobs and on_progress is not None:
        on_progress("predicted", {"predictions": {j.index: j.prediction for j in jobs}, "total": len(flat_media)})
        logps = _scored_in_stages(pipe, session, jobs, flat_media, flat_ids, keep, params, on_progress)
    else:
        logps = session.token_logprobs(flat_media, flat_ids, batch_size=params.forward_batch_size,
                                       keep=keep) if jobs else []
    if jobs and params.mode == "full" and params.temporal == "gradient":
        from r1omni.explain import gradients

        for job in jobs:
            offsets = token_offsets(pipe.tokenizer, job.ids, job.text)
            idx = _target_tokens(job.text, offsets)[0][params.target]
            job.gradient = gradients.timeline(pipe, session, job.media, job.ids, idx, job.windows)
    t_tf = time.perf_counter()
    if jobs and params.contrastive and on_progress is not None:
        on_progress("contrast", {})
    contrasts, sources = _contrast(pipe, session, jobs, params) if jobs and params.contrastive else ({}, {})
    t_con = time.perf_counter()
    consistency = _consistency(pipe, jobs, params) if jobs and params.self_consistency else {}
    n = max(1, len(jobs))
    shared = {"encode": (t_enc - t_start) * 1000 / n, "predict": (t_pred - t_enc) * 1000 / n,
              "teacher_forcing": (t_tf - t_pred) * 1000 / n, "contrast": (t_con - t_tf) * 1000 / n}
    for job in jobs:
        t0 = time.perf_counter()
        row = None if rows is None else rows[job.index]
        out[job.index] = _assemble(pipe, job, [logps[s] for s in job.slots], row, params, gate, gate_notice, shared,
                                   contrasts.get(job.index, {}), consistency.get(job.index, {}),
                                   sources.get(job.index, {}))
        out[job.index].timings_ms["assemble"] = round((time.perf_counter() - t0) * 1000, 2)
    return out


def _scored_in_stages(pipe, session, jobs: list[_Job], flat_media, flat_ids, keep, params, on_progress) -> list:
    """`session.token_logprobs` over the flat variants in three calls (modality coalitions, occluded frames,
    silenced audio windows), telling `on_progress` after each; the modality block is ready after the first."""
    stages: dict[str, list[int]] = {"coalitions": [], "frames": [], "audio windows": []}
    for job in jobs:
        n_c = len(set(job.coalition_media.values()))
        stages["coalitions"] += job.slots[:n_c]
        stages["frames"] += job.slots[n_c : n_c + len(job.frames)]
        stages["audio windows"] += job.slots[n_c + len(job.frames) :]
    logps: list = [None] * len(flat_media)
    done = 0
    for stage, slots in stages.items():
        if not slots:
            continue
        out = session.token_logprobs([flat_media[s] for s in slots], [flat_ids[s] for s in slots],
                                     batch_size=params.forward_batch_size, keep=[keep[s] for s in slots])
        for s, lp in zip(slots, out, strict=True):
            logps[s] = lp
        done += len(slots)
        info = {"stage": stage, "done": done, "total": len(flat_media)}
        if stage == "coalitions":
            info["modality"] = {}
            for job in jobs:
                values = {k: logps[job.slots[job.coalition_media[k]]] for k in shapley.COALITIONS}
                targets, _ = _target_tokens(job.text, token_offsets(pipe.tokenizer, job.ids, job.text))
                info["modality"][job.index] = _modality_block(values, job.players, targets, params.target, job.media)
        on_progress("scored", info)
    return logps


def _predict(pipe, session, jobs: list[_Job], forced, params: ExplainParams) -> None:
    """Fill text, ids and the predict JSON of each job: generated, or the given completions teacher-forced.

    The session watches the prediction: the clips' tower outputs and prompt KV are kept for the variants."""
    media = [j.media for j in jobs]
    if forced is None:
        kw = {} if params.max_new_tokens is None else {"max_new_tokens": params.max_new_tokens}
        with session.watch():
            preds = pipe.predict(media, params.label_set, params.question, params.do_sample,
                                 batch_size=params.batch_size, **kw)
        for job, p in zip(jobs, preds, strict=True):
            job.text, job.ids, job.prediction = p.text, list(p.completion_ids), p.to_dict()
        return
    labels = get_label_set(params.label_set)
    texts = [forced[j.index] for j in jobs]
    dists = (pipe.label_distribution(media, texts, labels, params.question) if params.class_distribution
             else [None] * len(jobs))
    for job, text, dist in zip(jobs, texts, dists, strict=True):
        parsed = parse_response(text, labels)
        job.text, job.ids = text, pipe.completion_ids(text)
        job.prediction = {
            "clip": job.media.clip, "checkpoint": pipe.display_name, "label": parsed.label,
            "answer": parsed.answer, "reasoning": parsed.think, "text": text, "well_formed": parsed.well_formed,
            "probs": dist, "modalities": {"video": job.media.has_video, "audio": job.media.has_audio},
            "notices": list(job.media.notices) + parsed.notices + ["completion given, not generated"],
            "timings_ms": {},
        }


def _plan(pipe, job: _Job, params: ExplainParams, flat_media: list, flat_ids: list) -> None:
    """Append the job's teacher-forced variants: distinct coalitions, then occluded frames / audio windows."""
    m = job.media
    job.players = tuple(p for p, used in (("video", m.uses_video), ("audio", m.uses_audio)) if used)
    variants: dict[tuple[bool, bool], object] = {}
    for key in shapley.COALITIONS:
        vid, aud = key in ("video", "both"), key in ("audio", "both")
        # A modality that is no player keeps its input (already a baseline: absent track or masked).
        eff = (vid or "video" not in job.players, aud or "audio" not in job.players)
        if eff not in variants:
            variants[eff] = pipe.mask(m, video=not eff[0], audio=not eff[1])
        job.coalition_media[key] = list(variants).index(eff)
    media_list = list(variants.values())
    if params.mode == "full":
        dur = m.audio_duration_s if m.uses_audio else 0.0
        job.windows = temporal.audio_windows(dur, params.audio_window_s, params.max_audio_windows)
    if params.mode == "full" and params.temporal != "gradient":
        job.frames, job.audio_media = temporal.occlusion_variants(pipe, m, job.windows,
                                                                  keep=params.temporal == "both",
                                                                  audio_level=params.audio_occlusion)
        media_list += job.frames + job.audio_media
    job.slots = list(range(len(flat_media), len(flat_media) + len(media_list)))
    flat_media += media_list
    flat_ids += [job.ids] * len(media_list)


def _assemble(pipe, job: _Job, logps: list[torch.Tensor], row, params, gate, gate_notice, shared,
              contrasts: dict, consistency: dict, sources: dict | None = None) -> Explanation:
    m = job.media
    values = {k: logps[job.coalition_media[k]] for k in shapley.COALITIONS}  # per-token log-probs (n,)
    phi_tok = shapley.shapley2(values, job.players)  # modality -> (n,)
    offsets = token_offsets(pipe.tokenizer, job.ids, job.text)
    targets, target_notices = _target_tokens(job.text, offsets)
    target_idx = targets[params.target]
    modality = _modality_block(values, job.players, targets, params.target, m)
    full = float(values["both"][target_idx].sum())
    n_c = len(set(job.coalition_media.values()))
    frames, segments = [], []
    if params.mode == "full" and params.temporal == "gradient":
        frames, segments = job.gradient
    elif params.mode == "full":
        k = n_c + len(job.frames)
        keep = params.temporal == "both"
        no_video = float(values["audio"][target_idx].sum()) if keep else None  # video masked, audio kept
        no_audio = float(values["video"][target_idx].sum()) if keep else None
        n_frames = len(job.frames) // 2 if keep else len(job.frames)
        frames = temporal.frame_rows(full, [float(t[target_idx].sum()) for t in logps[n_c:k]], m.frame_times_s,
                                     base=no_video, n=n_frames)
        segments = temporal.audio_rows(full, [float(t[target_idx].sum()) for t in logps[k:]], job.windows,
                                       base=no_audio)
    claims = _claims(job, phi_tok, offsets, row, params.thresholds, contrasts, sources or {},
                     params.contrastive)
    for k, c in enumerate(claims):
        c["consistency"] = consistency.get(k)
    notices = list(job.prediction.get("notices", [])) + target_notices + _modality_notices(m)
    if gate_notice:
        notices.append(gate_notice)
    used = counterfactual_source(pipe, params) if params.contrastive else "off"
    if params.contrastive and params.counterfactuals == "bank" and used == contrast_lib.REWRITE:
        notices.append(f"no {contrast_lib.BANK_FILE} with this checkpoint: counterfactuals are rewrites of the "
                       "claims themselves")
    timings = {k: round(v, 2) for k, v in shared.items()} | {"variants": len(logps)}
    return Explanation(
        clip=m.clip, checkpoint=pipe.display_name, prediction=job.prediction, modality=modality, gate=gate,
        frames=frames, audio_segments=segments, tokens=_token_rows(job.text, offsets, values["both"], phi_tok,
                                                                   job.players),
        claims=claims, timings_ms=timings, notices=notices,
        params=params.to_dict() | {"counterfactual_source": used},
    )


def _target_tokens(text: str, offsets) -> tuple[dict[str, list[int]], list[str]]:
    """Token indices of the answer label, the reasoning and the whole completion."""
    everything = list(range(len(offsets)))
    notices = []
    ans = answer_span(text)
    answer = tokens_in(offsets, *ans) if ans else []
    if not answer:
        notices.append("no <answer> in the completion: the answer target is the whole completion")
        answer = everything
    th = think_span(text)
    reasoning = tokens_in(offsets, *th) if th else []
    return {"answer": answer, "reasoning": reasoning, "completion": everything}, notices


def _modality_block(values, players, targets, target: str, m) -> dict:
    per_target = {}
    for name, idx in targets.items():
        v = shapley.span_values(values, idx)
        phi = shapley.shapley2(v, players)
        per_target[name] = {
            "shapley": {k: round(float(x), 5) for k, x in phi.items()},
            "share": {k: round(float(x), 4) for k, x in shapley.shares(phi).items()},
            "coalitions": {k: round(float(x), 5) for k, x in v.items()},
        }
    absent = [p for p, has in (("video", m.has_video), ("audio", m.has_audio)) if not has]
    masked = [p for p, has, msk in (("video", m.has_video, m.video_masked), ("audio", m.has_audio, m.audio_masked))
              if has and msk]
    return per_target[target] | {"target": target, "players": list(players), "absent": absent, "masked": masked,
                                 "targets": per_target}


def _modality_notices(m) -> list[str]:
    out = []
    for name, has, masked in (("video", m.has_video, m.video_masked), ("audio", m.has_audio, m.audio_masked)):
        if not has:
            out.append(f"no {name} track: {name} is absent and not explained (shapley 0, share 0)")
        elif masked:
            out.append(f"{name} was masked in the input: not explained (shapley 0, share 0)")
    return out


def _token_rows(text, offsets, logp, phi_tok, players) -> list[dict]:
    rows = []
    for i, (a, b) in enumerate(offsets):
        phi = {k: float(v[i]) for k, v in phi_tok.items()}
        best = max(players, key=lambda p: abs(phi[p]), default=None)
        rows.append({
            "text": text[a:b], "start": a, "end": b, "logprob": round(float(logp[i]), 5),
            "shapley": {k: round(v, 5) for k, v in phi.items()},
            "dominant": best if best is not None and abs(phi[best]) >= _DOMINANT_EPS else None,
        })
    return rows


def _claims(job: _Job, phi_tok, offsets, row, thresholds, contrasts: dict, sources: dict,
            contrastive: bool = True) -> list[dict]:
    m = job.media
    absent = [p for p, has in (("video", m.has_video), ("audio", m.has_audio)) if not has]
    masked = [p for p in ("video", "audio") if getattr(m, f"{p}_masked") and p not in absent]
    answer_label = job.prediction.get("label")
    out = []
    for k, claim in enumerate(job.claims):
        idx = tokens_in(offsets, claim.start, claim.end)
        phi = {k: float(v[idx].sum()) if idx else 0.0 for k, v in phi_tok.items()}
        words = [i for i in idx if job.text[offsets[i][0] : offsets[i][1]].strip(" .,;!?")]  # not punctuation
        lows = {k: float(v[words].min()) if words else 0.0 for k, v in phi_tok.items()}
        cue_false = _cue_false(claim.text, row)
        con = contrasts.get(k)
        flags = flag_lib.claim_flags(claim, phi, absent=absent, masked=masked, answer_label=answer_label,
                                     cue_false=cue_false, thresholds=thresholds, min_token_phi=lows, contrast=con)
        src = sources.get(k) if contrastive else "none: contrastive support off"
        out.append(flag_lib.claim_row(claim, phi, shapley.shares(phi), flags, contrast=con, contrast_source=src))
    return out


def _claim_keys(claim, bank) -> set:
    """What a claim asserts, comparable across samples: per cited modality, the labels of its emotion-bearing
    expressions (`rewrite.py`; the bank's label for a bank sentence), else its text."""
    from r1omni.explain.rewrite import FINE, rewrite_claim

    keys = set()
    for m in claim.cites:
        own = tuple(sorted(rewrite_claim(claim.text, (m,), FINE).own))
        if bank is not None or not own:
            lab = contrast_lib.claim_label(claim.text, m, bank, claim.emotions)
            own = (lab,) if lab is not None else ()
        keys.add((m, own) if own else (m, contrast_lib.normalise(claim.text)))
    return keys


def _consistency(pipe, jobs: list[_Job], params: ExplainParams) -> dict[int, dict[int, float]]:
    """job index -> claim index -> share of `self_consistency` sampled reasonings that make the same claim."""
    bank = _bank(pipe) if params.counterfactuals == "bank" else None
    labels = get_label_set(params.label_set)
    n = params.self_consistency
    media = [j.media for j in jobs for _ in range(n)]
    ids = pipe.generate(media, params.question, do_sample=True, temperature=1.0,
                        max_new_tokens=params.consistency_max_new_tokens)
    texts = [pipe.tokenizer.decode(c, skip_special_tokens=True) for c in ids]
    out: dict[int, dict[int, float]] = {}
    for a, job in enumerate(jobs):
        samples = [set().union(*(_claim_keys(c, bank) for c in extract_claims(t, labels)))
                   for t in texts[a * n : (a + 1) * n]]
        for k, claim in enumerate(job.claims):
            keys = _claim_keys(claim, bank)
            if keys:
                out.setdefault(job.index, {})[k] = round(sum(keys <= s for s in samples) / n, 4)
    return out


def _bank(pipe):
    """The checkpoint's own counterfactual bank (`contrast.load_bank`) or None, read once per process and loaded
    model (`r1omni.model_cache`: a wrapper of the pipeline reuses it)."""
    from r1omni.inference import DEMO_CHECKPOINT, DEMO_DISPLAY_NAME
    from r1omni.model_cache import cached

    folder = DEMO_CHECKPOINT if pipe.display_name == DEMO_DISPLAY_NAME else pipe.checkpoint

    def load():
        try:
            return contrast_lib.load_bank(folder)
        except (OSError, ValueError) as err:
            logger.warning("counterfactual bank unreadable: %s", err)
            return None

    return cached(pipe, ("counterfactual bank", str(folder)), load)


def counterfactual_source(pipe, params: ExplainParams) -> str:
    """The counterfactual source an explanation uses: "rewrite", or "bank: counterfactuals.json" when asked
    for and the checkpoint ships one."""
    if params.counterfactuals == "bank" and _bank(pipe) is not None:
        return contrast_lib.bank_source()
    return contrast_lib.REWRITE


def _contrast(pipe, session, jobs: list[_Job], params: ExplainParams) -> tuple[dict, dict]:
    """(job index -> claim index -> {modality: contrastive support}, job index -> claim index -> source), all
    jobs in one fork call of the session that holds the clips' towers and the coalitions' KV (`contrast.py`).
    Scores are mean log-probs per token of each candidate span."""
    from r1omni.continuations import fork_point

    source = "bank" if counterfactual_source(pipe, params) != contrast_lib.REWRITE else contrast_lib.REWRITE
    bank = _bank(pipe) if source == "bank" else None
    labels = get_label_set(params.label_set)
    media, prefixes, cands, lengths, keys = [], [], [], [], []
    sources: dict[int, dict[int, str]] = {}
    for job in jobs:
        masked_by = {p: pipe.mask(job.media, video=p == "video", audio=p == "audio") for p in job.players}
        for k, claim in enumerate(job.claims):
            used = []
            for m in claim.cites:
                if m not in masked_by:
                    used.append(contrast_lib.NOT_A_PLAYER)
                    continue
                pl = contrast_lib.plan(claim, m, labels, source=source, bank=bank,
                                       per_label=params.alternatives_per_label)
                used.append(pl.source)
                if not pl.testable:
                    continue
                shared, owns = fork_point(pipe.tokenizer, job.text[: pl.start], list(pl.candidates))
                for variant, x in (("real", job.media), ("masked", masked_by[m])):
                    media.append(x)
                    prefixes.append(shared)
                    cands.append(owns)
                    lengths.append([len(o) for o in owns])
                    keys.append((job.index, k, m, variant))
            if not claim.cites:
                used.append(contrast_lib.NOT_A_CUE)
            sources.setdefault(job.index, {})[k] = "; ".join(dict.fromkeys(used))
    sums = session.fork_logprobs(media, prefixes, cands, batch_size=params.forward_batch_size) if media else []
    rel: dict[tuple, float] = {}
    for key, s, n in zip(keys, sums, lengths, strict=True):
        tok = contrast_lib.per_token(s, n)
        rel[key] = contrast_lib.relative(tok[0], tok[1:])
    out: dict[int, dict[int, dict[str, dict[str, float]]]] = {}
    for (j, k, m, variant), r in rel.items():
        if variant == "real":
            out.setdefault(j, {}).setdefault(k, {})[m] = {"contrast": r - rel[(j, k, m, "masked")], "relative": r,
                                                          "relative_masked": rel[(j, k, m, "masked")]}
    return out, sources


def _cue_false(sentence: str, row) -> bool:
    """Synthetic ground truth says a cue in this sentence was not drawn / voiced."""
    if not row:
        return False
    from r1omni.synthetic import check_claims

    try:
        n_true, n_total = check_claims(sentence, row)
    except (KeyError, ValueError, TypeError) as err:
        logger.debug("check_claims failed: %s", err)
        return False
    return n_true < n_total
