"""The grounding arms experiment (issue 19): which reward halves hallucinated free-form reasoning at equal accuracy?

    python -m training.grounding --run-dir runs/grounding-arms                 # every arm, every seed
    python -m training.grounding --run-dir runs/grounding-arms --arms a,b --seeds 1   # a subset (resumable)
    (run again: finished stages are reused from RUN_DIR/stages.json, keyed by (stage, arm, seed); --fresh
    redoes them all)

Settings: training/recipes/grounding.yaml (section `grounding:`, `ArmsSettings`); every seed is fixed, and each
stage seeds everything it draws from its own (stage, arm, seed) key, so a resumed run equals an uninterrupted one.

1. **A hallucinating starting point in free-form reasoning.** The demo's SFT stage continues from the demo
   checkpoint on EMER-style targets (`r1omni.synthetic.reasoning.compose`) of which `false_share` carry one
   planted false cue claim (`plant_false`): a whole sentence at a random sentence boundary before the
   conclusion, or (`clause_share` of plants) a clause joined into an existing cue sentence (", and the voice
   ..."), from the trained phrasings or (`heldout_share`) the held-out ones. Answers are untouched. The
   planted share, levels, pools and positions of the targets the SFT stage trained on are in its result.
2. **Arms, on equal terms** (same clips, steps, learning rate; each arm once per seed, GRPO from that SFT):
   (a) the paper's accuracy + format rewards; (b) + `grounding_reward`, judged by a frozen copy of the SFT
   model with flags calibrated on held-aside training clips (`calibrate_from_rewrites`; the judge sees
   media, prompt and completion only); (c) + `consistency_reward` (ERV-style: the reasoning's conclusion and
   cue emotions agree with its own answer); (d) (b) + (c); and DPO on pairs from a simulated audit export
   of sampled SFT completions (`training.grounding_demo.simulated_audit`), per seed.
3. **Measured** on fresh mp4 test clips through `r1omni.Pipeline`: greedy and sampled (T=1,
   `samples_per_clip` samples per clip): WAR, UAR, well-formed, hallucinated cue claims / cue claims,
   completions with a false claim; per arm mean and std over seeds and a bootstrap 95% interval over clips.
   Per GRPO step: the accuracy reward (arm (a)'s curve says whether it converged), step seconds, and for
   the judged arms the judge's seconds and its precision / recall against the synthetic truth
   (`check_claims` facts of each judged unit; reporting only, never fed back).

Writes RUN_DIR/<stage>_<arm>_s<seed>/ checkpoints and logs, RUN_DIR/grounding.json and
bench/results/grounding.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.grounding_demo import GroundingSettings, TrainClips, _copy_bank

logger = logging.getLogger(__name__)

RECIPE = Path(__file__).resolve().parent / "recipes" / "grounding.yaml"
RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
PAPER = ["accuracy_reward", "format_reward"]
ARMS: dict[str, list[str] | None] = {
    "a": PAPER,
    "b": [*PAPER, "grounding_reward"],
    "c": [*PAPER, "consistency_reward"],
    "d": [*PAPER, "grounding_reward", "consistency_reward"],
    "dpo": None,  # DPO on audit pairs
}
ARM_NAMES = {"sft": "SFT (planted)", "a": "(a) GRPO, paper rewards", "b": "(b) + grounding",
             "c": "(c) + consistency", "d": "(d) + grounding + consistency", "dpo": "DPO on audit pairs"}
# settings that choose what runs, not how: a resumed run may name other arms / seeds
SELECTION = ("arms", "seeds")


@dataclass
class ArmsSettings(GroundingSettings):
    """Every knob of the arms experiment (defaults = training/recipes/grounding.yaml); the inherited fields
    mean what they mean in `training.grounding_demo.GroundingSettings` (`seed`: the SFT's and the clip draws')."""

    arms: list[str] = field(default_factory=lambda: list(ARMS))
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    clause_share: float = 0.5  # plants joined into an existing cue sentence (else a sentence of their own)
    heldout_share: float = 0.3  # plants in held-out phrasings (else trained ones)
    consistency_weight: float = 1.0
    calib_clips: int = 64  # held-aside training clips for the judge's calibration
    calib_target_precision: float = 0.9
    judge_batch_size: int = 8
    share_prompt: bool = True  # the judge explains a prompt's G completions in one batch (one prompt KV)
    samples_per_clip: int = 4
    bootstrap: int = 1000

    @classmethod
    def from_recipe(cls, path: Path = RECIPE, **overrides: Any) -> ArmsSettings:
        from training.demo import settings_from_recipe

        return settings_from_recipe(cls, path, "grounding", overrides)

    def run_key(self) -> dict[str, Any]:
        """The settings a run directory is tied to (all but the arm / seed selection)."""
        return {k: v for k, v in asdict(self).items() if k not in SELECTION}


# ---------------------------------------------------------------------------------------------------------------
# planting false cue claims in free-form reasoning


def plant_false(target: str, truth: dict[str, str], rng: np.random.Generator, clause_share: float = 0.5,
                heldout_share: float = 0.3) -> tuple[str, dict[str, Any]]:
    """`target` with one false cue claim planted before the conclusion, and where it went.

    The claim names an emotion its modality (drawn at random) does not show in `truth`, so `check_claims`
    counts it false; its phrasing comes from the held-out pool with probability `heldout_share`. With
    probability `clause_share` it is a clause joined into a random cue sentence (", and <clause>" before the
    sentence's full stop), else a sentence of its own inserted at a random boundary before the conclusion
    (a target with no cue sentence gets a sentence). The answer is untouched.
    Returns (text, {"level", "pool", "modality", "sentence", "sentences"}): `sentence` is the index of the
    sentence that holds the plant in the new text, `sentences` their number (the conclusion is the last).
    """
    from r1omni.synthetic.clips import LABELS
    from r1omni.synthetic.reasoning import (
        CLAIM_MODALITIES,
        claim_facts,
        cue_clause,
        modality_labels,
        split_sentences,
    )

    answer = target[target.index("</think>") + len("</think>"):]
    sentences = split_sentences(target)
    modality = CLAIM_MODALITIES[int(rng.integers(len(CLAIM_MODALITIES)))]
    pool = "heldout" if rng.random() < heldout_share else "train"
    wrong = [lab for lab in LABELS if lab != modality_labels(truth)[modality]]
    clause = cue_clause(modality, wrong[int(rng.integers(len(wrong)))], rng, pool)
    cue_sentences = [i for i, sent in enumerate(sentences[:-1]) if claim_facts(sent) and sent.endswith(".")]
    if rng.random() < clause_share and cue_sentences:
        at = cue_sentences[int(rng.integers(len(cue_sentences)))]
        sentences[at] = f"{sentences[at][:-1]}, and {clause}."
        level = "clause"
    else:
        at = int(rng.integers(len(sentences)))  # 0 .. len-1: never after the conclusion
        sentences.insert(at, clause[:1].upper() + clause[1:] + ".")
        level = "sentence"
    info = {"level": level, "pool": pool, "modality": modality, "sentence": at, "sentences": len(sentences)}
    return f"<think>{' '.join(sentences)}</think>{answer}", info


def planting_example(s: ArmsSettings, log: list | None = None):
    """An `example_fn` for `training.demo.sft_stage`: truthful targets, `false_share` of them with one
    `plant_false` claim; each plant's info is appended to `log` when given."""
    from training.demo import sft_example

    def make(spec, rng: np.random.Generator, drop_prob: float):
        target, dropped, truth = sft_example(spec, rng, drop_prob)
        if rng.random() < s.false_share:
            target, info = plant_false(target, truth, rng, s.clause_share, s.heldout_share)
            if log is not None:
                log.append(info)
        elif log is not None:
            log.append(None)
        return target, dropped, truth

    return make


def planting_record(log: list) -> dict[str, Any]:
    """What the SFT targets carried (the `planting_example` log of the SFT stage: one entry per target drawn,
    None when nothing was planted): planted share, levels, pools, modalities and relative positions
    (0 = the first sentence, 1 = just before the conclusion).

    >>> r = planting_record([None, {"level": "clause", "pool": "train", "modality": "video", "sentence": 1,
    ...                            "sentences": 3}])
    >>> r["planted_share"], r["levels"], r["position_quartiles"][-1]
    (0.5, {'clause': 1}, 1.0)
    """
    plants = [p for p in log if p is not None]
    count = lambda key: {v: sum(p[key] == v for p in plants) for v in sorted({p[key] for p in plants})}  # noqa: E731
    rel = [p["sentence"] / max(1, p["sentences"] - 2) for p in plants]
    return {"targets": len(log), "planted_share": len(plants) / max(1, len(log)), "levels": count("level"),
            "pools": count("pool"), "modalities": count("modality"),
            "position_quartiles": [float(q) for q in np.quantile(rel, [0.0, 0.25, 0.5, 0.75, 1.0])] if rel else []}


# ---------------------------------------------------------------------------------------------------------------
# the judge: a frozen copy of the SFT model, calibrated flags, one per process and checkpoint

_JUDGES: dict[str, Any] = {}


def judge_pipe(sft_dir: Path):
    """The judge's Pipeline, loaded once per process: its masked-input baselines and prompt KV caches
    (`r1omni.model_cache`, kept against this model) serve every arm and seed."""
    from r1omni.inference import Pipeline

    key = str(Path(sft_dir).resolve())
    if key not in _JUDGES:
        _JUDGES[key] = Pipeline.load(str(sft_dir), device="cpu")
    return _JUDGES[key]


def held_aside_specs(s: ArmsSettings, n: int) -> list:
    """`n` SFT training clips used by neither GRPO (salt 1) nor DPO (salt 2): the calibration clips."""
    from r1omni.synthetic.clips import plan_specs
    from training.grounding_demo import pick_specs

    used = {sp.seed for salt, k in ((1, s.grpo_clips), (2, s.dpo_clips)) for sp in pick_specs(s, k, salt)}
    rest = [sp for sp in plan_specs(s.train_clips, s.train_seed) if sp.seed not in used]
    rng = np.random.default_rng([s.seed, 3])
    return [rest[i] for i in sorted(rng.choice(len(rest), min(n, len(rest)), replace=False).tolist())]


def calibrate_judge(sft_dir: Path, s: ArmsSettings) -> dict[str, Any]:
    """Thresholds of the judge's flag rule, fitted to swapped-emotion rewrites of the SFT model's own claims
    on held-aside clips (`r1omni.explain.calibration.calibrate_from_rewrites`); too little evidence gives
    {"thresholds": None, "error": why} and the judge keeps the default thresholds."""
    from r1omni.config import load_config
    from r1omni.errors import UsageError
    from r1omni.explain.calibration import calibrate_from_rewrites

    pipe = judge_pipe(sft_dir)
    clips = TrainClips(held_aside_specs(s, s.calib_clips), load_config(sft_dir))
    media = [clips.media(pipe, {"path": clips.key(i)}) for i in range(len(clips.specs))]
    try:
        cal = calibrate_from_rewrites(pipe, media, fingerprint="grounding-sft", seed=s.seed,
                                      max_new_tokens=s.max_new_tokens, target_precision=s.calib_target_precision)
    except UsageError as err:
        logger.warning("judge calibration failed, default thresholds: %s", err)
        return {"thresholds": None, "error": str(err), "clips": len(media)}
    return {"thresholds": cal.thresholds, "certified": cal.certified, "certify": cal.certify, "fit": cal.fit,
            "clips": len(media), "error": None}


class JudgeMonitor:
    """Told every grounding-reward call (`GroundingReward.monitor`): the judge's seconds and, against the
    synthetic truth of the clip (looked up by the row's path; the judge never sees it), its confusion on the
    judged cue units: positive = a unit naming a cue its modality does not show (`unit_facts`, as the simulated
    annotator reads it), flagged = judged ungrounded."""

    def __init__(self, clips: TrainClips):
        self.clips = clips
        self.pending = {"seconds": 0.0, "tp": 0, "fp": 0, "fn": 0, "tn": 0, "units": 0}

    def __call__(self, rows, texts, verdicts, seconds: float) -> None:
        from r1omni.audit.claims import extract_claims
        from r1omni.synthetic.reasoning import modality_labels
        from training.grounding_demo import unit_facts

        self.pending["seconds"] += seconds
        for row, text, verdict in zip(rows, texts, verdicts, strict=True):
            if verdict is None:
                continue
            actual = modality_labels(self.clips.specs[self.clips.index(row)])
            cited = [c for c in extract_claims(text) if c.cites]
            if len(cited) != len(verdict):
                continue
            for facts, grounded in zip(unit_facts(text, cited), verdict, strict=True):
                if not facts:
                    continue
                false = any(actual.get(m) != cue for m, cue in facts)
                key = ("tp" if not grounded else "fn") if false else ("fp" if not grounded else "tn")
                self.pending[key] += 1
                self.pending["units"] += 1

    def pop(self) -> dict[str, Any]:
        out, self.pending = self.pending, {k: 0 if k != "seconds" else 0.0 for k in self.pending}
        return out


def precision_recall(c: dict[str, int]) -> dict[str, float | None]:
    """Precision and recall of "flagged" for "false" from a confusion dict (None where undefined).

    >>> precision_recall({"tp": 3, "fp": 1, "fn": 3})
    {'precision': 0.75, 'recall': 0.5}
    """
    p = c["tp"] + c["fp"]
    r = c["tp"] + c["fn"]
    return {"precision": c["tp"] / p if p else None, "recall": c["tp"] / r if r else None}


def step_logger(monitor: JudgeMonitor | None):
    """A TrainerCallback recording per GRPO step its wall seconds, the logged reward means and, with a
    monitor, the judge's seconds and confusion counts."""
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        def __init__(self):
            self.rows: list[dict[str, Any]] = []
            self.t0 = 0.0
            self.logged: dict[int, dict[str, float]] = {}  # step -> reward means (on_log may come before or after)

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            row = {"step": state.global_step, "seconds": round(time.perf_counter() - self.t0, 3),
                   "rewards": self.logged.pop(state.global_step, {})}
            if monitor is not None:
                j = monitor.pop()
                row["judge"] = {**j, "seconds": round(j["seconds"], 3)}
            self.rows.append(row)

        def on_log(self, args, state, control, logs=None, **kw):
            means = {k.split("/")[1]: float(v) for k, v in (logs or {}).items()
                     if k.startswith("rewards/") and k.endswith("/mean")}
            if not means:
                return
            if self.rows and self.rows[-1]["step"] == state.global_step:
                self.rows[-1]["rewards"].update(means)
            else:
                self.logged.setdefault(state.global_step, {}).update(means)

    return StepLog()


# ---------------------------------------------------------------------------------------------------------------
# the arms


def _seed_all(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def grpo_arm(sft_dir: Path, out: Path, clips: TrainClips, s: ArmsSettings, arm: str, seed: int,
             thresholds: dict[str, float] | None) -> dict[str, Any]:
    """GRPO from the SFT with arm `arm`'s rewards and seed `seed`; returns the checkpoint and the step log."""
    from r1omni.checkpoint import load_tokenizers
    from r1omni.explain.flags import FlagThresholds
    from r1omni.prompts import DEFAULT_QUESTION, DEFAULT_SYSTEM
    from training import grpo
    from training.data import MediaEncoder
    from training.demo import cpu_grpo_config
    from training.rewards import GroundingReward, shapley_judge
    from training.sft import ScriptArguments

    rewards = list(ARMS[arm] or [])
    weights = [s.consistency_weight if r == "consistency_reward" else 1.0 for r in rewards]
    script = ScriptArguments(model_name_or_path=str(sft_dir), system_prompt=DEFAULT_SYSTEM, reward_funcs=rewards,
                             grounding_penalty=s.grounding_penalty)
    args = cpu_grpo_config(s, out, seed, reward_weights=weights)
    _, gate_tok = load_tokenizers(sft_dir)
    encoder = MediaEncoder(clips.config, gate_tok, clip_fn=clips.encoded)
    monitor = factory = None
    if "grounding_reward" in rewards:
        pipe = judge_pipe(sft_dir)
        limits = FlagThresholds(**thresholds) if thresholds else FlagThresholds()
        judge = shapley_judge(pipe, batch_size=s.judge_batch_size, share_prompt=s.share_prompt, thresholds=limits)
        monitor = JudgeMonitor(clips)
        factory = lambda: GroundingReward(judge, clip_fn=lambda row: clips.media(pipe, row),  # noqa: E731
                                          penalty=s.grounding_penalty, monitor=monitor)
    log = step_logger(monitor)
    _seed_all(seed)
    path = grpo.main(script, args, media_encoder=encoder, records=clips.records(DEFAULT_QUESTION),
                     grounding_factory=factory, callbacks=[log])
    _copy_bank(sft_dir, path)
    (out / "steps.json").write_text(json.dumps(log.rows, indent=1))
    return {"checkpoint": str(path), "steps": log.rows}


def dpo_arm(sft_dir: Path, out: Path, clips: TrainClips, s: ArmsSettings, seed: int) -> dict[str, Any]:
    """DPO from the SFT on pairs from a simulated audit export of sampled SFT completions (seed `seed`)."""
    from training.grounding_demo import dpo_run

    _seed_all(seed)
    path, stats = dpo_run(sft_dir, out, clips, replace(s, seed=seed))
    return {"checkpoint": None if path is None else str(path), **stats}


# ---------------------------------------------------------------------------------------------------------------
# evaluation


def clip_scores(preds: list, rows: list) -> list[dict[str, Any]]:
    """Per test clip: label, predicted label, well-formed, cue claims and false ones (`check_claims`)."""
    from r1omni.synthetic import check_claims

    out = []
    for row, pred in zip(rows, preds, strict=True):
        if not hasattr(pred, "label"):
            out.append({"label": row.label, "pred": None, "well_formed": False, "claims": 0, "false": 0,
                        "error": True})
            continue
        n_true, n_total = check_claims(pred.text, {"label": row.label, **row.meta})
        out.append({"label": row.label, "pred": pred.label, "well_formed": bool(pred.well_formed),
                    "claims": n_total, "false": n_total - n_true})
    return out


def summarise(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """WAR, UAR, well-formed rate, hallucinated-claim rate and completions with a false claim of per-clip
    scores (one entry per completion).

    >>> r = summarise([{"label": "sad", "pred": "sad", "well_formed": True, "claims": 2, "false": 1},
    ...                {"label": "fear", "pred": "sad", "well_formed": True, "claims": 2, "false": 0}])
    >>> r["WAR"], r["hallucinated_claim_rate"], r["hallucinating_completions"]
    (0.5, 0.25, 0.5)
    """
    from r1omni.metrics import uar, war

    y, p = [c["label"] for c in scores], [c["pred"] for c in scores]
    claims, false = sum(c["claims"] for c in scores), sum(c["false"] for c in scores)
    return {"n": len(scores), "WAR": war(y, p), "UAR": uar(y, p),
            "well_formed": float(np.mean([c["well_formed"] for c in scores])) if scores else None,
            "cue_claims": claims, "hallucinated_claim_rate": false / claims if claims else None,
            "hallucinating_completions": float(np.mean([c["false"] > 0 for c in scores])) if scores else None}


def evaluate_checkpoint(checkpoint: str, manifest: Path, media: list, s: ArmsSettings) -> dict[str, Any]:
    """Greedy and sampled (T=1, `samples_per_clip` passes, seeds eval_seed + k) scores per clip, summarised."""
    from r1omni.inference import Pipeline
    from r1omni.manifest import read_manifest

    rows = read_manifest(manifest)
    pipe = Pipeline.load(checkpoint, device="cpu")
    greedy = clip_scores(pipe.predict(media, max_new_tokens=s.max_new_tokens, batch_size=32), rows)
    sampled = []
    for k in range(s.samples_per_clip):
        torch.manual_seed(s.eval_seed + k)
        sampled.append(clip_scores(pipe.predict(media, max_new_tokens=s.max_new_tokens, batch_size=32,
                                                do_sample=True, temperature=1.0), rows))
    flat = [c for one in sampled for c in one]
    return {"checkpoint": checkpoint, "greedy": summarise(greedy), "sampled": summarise(flat),
            "clips": {"greedy": greedy, "sampled": sampled}}


def _bootstrap(per_seed: list[dict], key: str, metric, reps: int, seed: int) -> list[float] | None:
    """95% percentile interval over test clips (resampled with all their seeds' and samples' completions)."""
    n = len(per_seed[0]["clips"]["greedy"])
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    by_clip: list[list[dict]] = [[] for _ in range(n)]
    for r in per_seed:
        runs = [r["clips"]["greedy"]] if key == "greedy" else r["clips"]["sampled"]
        for run in runs:
            for i, c in enumerate(run):
                by_clip[i].append(c)
    values = []
    for _ in range(reps):
        pick = rng.integers(0, n, n)
        v = metric([c for i in pick for c in by_clip[i]])
        if v is not None:
            values.append(v)
    return [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))] if values else None


METRICS = ("WAR", "UAR", "well_formed", "hallucinated_claim_rate", "hallucinating_completions")


def aggregate(per_seed: list[dict[str, Any]], reps: int, seed: int = 0) -> dict[str, Any]:
    """Mean and std over seeds of every metric (greedy, sampled) and a bootstrap 95% interval over clips of the
    pooled WAR and hallucinated-claim rate."""
    out: dict[str, Any] = {"seeds": len(per_seed)}
    for key in ("greedy", "sampled"):
        block: dict[str, Any] = {}
        for m in METRICS:
            vals = [r[key][m] for r in per_seed if r[key][m] is not None]
            block[m] = {"mean": float(np.mean(vals)) if vals else None,
                        "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else None}
        for m in ("WAR", "hallucinated_claim_rate"):
            block[m]["ci95"] = _bootstrap(per_seed, key, lambda cs, m=m: summarise(cs)[m], reps, seed)
        out[key] = block
    return out


def target_check(agg: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per arm against (a): ratio of the sampled hallucinated-claim rates, greedy WAR gap, and whether the
    target (ratio <= 0.5 at WAR within 1 point) holds."""
    base = agg.get("a")
    if base is None:
        return {}
    h0, w0 = base["sampled"]["hallucinated_claim_rate"]["mean"], base["greedy"]["WAR"]["mean"]
    out = {}
    for arm, a in agg.items():
        if arm in ("a", "sft"):
            continue
        h, w = a["sampled"]["hallucinated_claim_rate"]["mean"], a["greedy"]["WAR"]["mean"]
        ratio = h / h0 if h is not None and h0 else None
        gap = w - w0 if w is not None and w0 is not None else None
        out[arm] = {"halluc_ratio_vs_a": ratio, "greedy_WAR_gap_vs_a": gap,
                    "target_met": bool(ratio is not None and gap is not None and ratio <= 0.5 and gap >= -0.01)}
    return out


def convergence(curve: list[float | None]) -> dict[str, Any]:
    """Whether an accuracy-reward curve has flattened: the means of its last two quarters of steps (None when
    shorter than 8 steps) and `flat` when they differ by less than 0.02.

    >>> convergence([0.5, 0.7, 0.8, 0.9, 0.95, 0.95, 0.96, 0.95])["flat"]
    True
    """
    vals = [v for v in curve if v is not None]
    if len(vals) < 8:
        return {"third_quarter": None, "last_quarter": None, "flat": None}
    q = len(vals) // 4
    third, last = float(np.mean(vals[-2 * q : -q])), float(np.mean(vals[-q:]))
    return {"third_quarter": third, "last_quarter": last, "flat": abs(last - third) < 0.02}


def report(summary: dict[str, Any]) -> str:
    """bench/results/grounding.md: the table, the target check, arm (a)'s convergence, the judge."""
    lines = [table(summary["table"]), "",
             "Mean ± std over seeds [bootstrap 95% interval over test clips, all seeds and samples pooled]. "
             f"Test set: {summary['test_set']['clips']} fresh mp4 clips (seed {summary['test_set']['seed']}), "
             f"sampled = {summary['test_set']['samples_per_clip']} samples per clip at T=1.", "",
             "Target (sampled hallucinated-claim rate <= half of (a)'s, greedy WAR within 1 point of (a)):", ""]
    for arm, t in summary["target"].items():
        ratio = "n/a" if t["halluc_ratio_vs_a"] is None else f"{t['halluc_ratio_vs_a']:.2f}"
        gap = "n/a" if t["greedy_WAR_gap_vs_a"] is None else f"{100 * t['greedy_WAR_gap_vs_a']:+.1f} points"
        lines.append(f"- {ARM_NAMES.get(arm, arm)}: rate ratio {ratio}, WAR {gap}: "
                     + ("met" if t["target_met"] else "not met"))
    lines += ["", "Arm (a) accuracy reward over GRPO steps (mean of the third and last quarter of steps):", ""]
    for seed, curve in summary["accuracy_curve_a"].items():
        c = convergence(curve)
        lines.append(f"- seed {seed}: {len(curve)} steps, " + (
            "too short to tell" if c["flat"] is None else
            f"{c['third_quarter']:.3f} -> {c['last_quarter']:.3f} ({'flat' if c['flat'] else 'still moving'})"))
    cal = summary.get("judge_calibration") or {}
    lines += ["", "Judge (arms b, d): " + (
        "calibrated on held-aside training clips" + ("" if cal.get("certified") else " (not certified)")
        if cal.get("thresholds") else f"default thresholds ({cal.get('error') or 'not calibrated'})"), ""]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    for key, j in summary["judge"].items():
        lines.append(f"- {key}: precision {fmt(j['precision'])}, recall {fmt(j['recall'])} on {j['units']} judged "
                     f"cue units of the sampled training completions; judge {j['judge_seconds']:.1f} s of "
                     f"{j['step_seconds']:.1f} s step time ({fmt(j['judge_share_of_step_time'])})")
    return "\n".join(lines) + "\n"


def _fmt(block: dict[str, Any]) -> str:
    if block["mean"] is None:
        return "n/a"
    s = f"{block['mean']:.3f}"
    if block.get("std") is not None:
        s += f" ± {block['std']:.3f}"
    if block.get("ci95"):
        s += f" [{block['ci95'][0]:.3f}, {block['ci95'][1]:.3f}]"
    return s


def table(agg: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per arm; mean ± std over seeds [bootstrap 95% interval over clips]."""
    head = ["arm", "seeds", "WAR (greedy)", "UAR (greedy)", "well-formed", "halluc. claims (greedy)",
            "WAR (sampled)", "halluc. claims (sampled)", "completions with a false claim (sampled)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, a in agg.items():
        g, sm = a["greedy"], a["sampled"]
        lines.append("| " + " | ".join([
            ARM_NAMES.get(arm, arm), str(a["seeds"]), _fmt(g["WAR"]), _fmt(g["UAR"]), _fmt(g["well_formed"]),
            _fmt(g["hallucinated_claim_rate"]), _fmt(sm["WAR"]), _fmt(sm["hallucinated_claim_rate"]),
            _fmt(sm["hallucinating_completions"])]) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# stages and the run


class StageBook:
    """RUN_DIR/stages.json: each finished stage's JSON result under "stage|arm|seed"; a later run reuses it."""

    def __init__(self, run_dir: Path, fresh: bool):
        self.path = run_dir / "stages.json"
        self.done = {} if fresh or not self.path.is_file() else json.loads(self.path.read_text())
        self.timings: dict[str, float] = {}
        self.ran: list[str] = []

    def __call__(self, stage: str, arm: str, seed: int | str, fn) -> Any:
        key = f"{stage}|{arm}|{seed}"
        if key in self.done:
            logger.info("stage %s: done earlier, reused", key)
            self.timings[key] = self.done[key]["seconds"]
            return self.done[key]["result"]
        t = time.time()
        result = fn()
        self.timings[key] = round(time.time() - t, 1)
        self.done[key] = {"result": result, "seconds": self.timings[key]}
        self.ran.append(key)
        self.path.write_text(json.dumps(self.done, indent=1))
        return result


def _test_media(manifest: Path, checkpoint: str) -> list:
    from r1omni.inference import Pipeline
    from r1omni.manifest import read_manifest

    pipe = Pipeline.load(checkpoint, device="cpu")
    return [pipe.encode(str(r.path)) for r in read_manifest(manifest)]


def run(run_dir: Path, s: ArmsSettings, fresh: bool = False, results_dir: Path | None = RESULTS) -> dict[str, Any]:
    from r1omni.config import load_config
    from training.demo import write_test_set
    from training.grounding_demo import pick_specs, sft_model

    unknown = [a for a in s.arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; choose from {list(ARMS)}")
    torch.set_num_threads(s.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = run_dir / "settings.json"
    if settings.is_file() and not fresh and json.loads(settings.read_text()) != s.run_key():
        raise SystemExit(f"{run_dir} was built with other settings; use --fresh or another --run-dir")
    settings.write_text(json.dumps(s.run_key(), indent=2))
    book = StageBook(run_dir, fresh)

    def sft_stage() -> dict[str, Any]:
        _seed_all(s.seed)
        log: list = []
        path = sft_model(s, run_dir / "sft", example_fn=planting_example(s, log))
        return {"checkpoint": str(path), "planting": planting_record(log)}

    sft = book("sft", "-", s.seed, sft_stage)
    sft_dir = Path(sft["checkpoint"])
    config = load_config(sft_dir)
    judged = any(ARMS[a] and "grounding_reward" in ARMS[a] for a in s.arms)
    calib = book("calibrate", "-", s.seed, lambda: calibrate_judge(sft_dir, s)) if judged else None
    grpo_clips = TrainClips(pick_specs(s, s.grpo_clips, 1), config) if any(ARMS[a] for a in s.arms) else None
    dpo_clips = TrainClips(pick_specs(s, s.dpo_clips, 2), config) if "dpo" in s.arms else None
    trained: dict[tuple[str, int], dict[str, Any]] = {}
    for arm in s.arms:
        for seed in s.seeds:
            out = run_dir / f"{'dpo' if arm == 'dpo' else 'grpo'}_{arm}_s{seed}"
            if arm == "dpo":
                trained[(arm, seed)] = book("dpo", arm, seed,
                                            lambda o=out, sd=seed: dpo_arm(sft_dir, o, dpo_clips, s, sd))
            else:
                thr = (calib or {}).get("thresholds")
                trained[(arm, seed)] = book("grpo", arm, seed, lambda o=out, a=arm, sd=seed: grpo_arm(
                    sft_dir, o, grpo_clips, s, a, sd, thr))
    manifest = write_test_set(run_dir / "test", s.test_clips, s.test_seed)
    media: list = []

    def evaluated(ckpt: str) -> dict[str, Any]:
        if not media:
            media.extend(_test_media(manifest, ckpt))
        return evaluate_checkpoint(ckpt, manifest, media, s)

    evals: dict[str, list[dict[str, Any]]] = {"sft": [book("eval", "sft", s.seed, lambda: evaluated(str(sft_dir)))]}
    for (arm, seed), info in trained.items():
        if info.get("checkpoint"):
            evals.setdefault(arm, []).append(book("eval", arm, seed, lambda c=info["checkpoint"]: evaluated(c)))
    agg = {arm: aggregate(rs, s.bootstrap, s.seed) for arm, rs in evals.items()}
    runs = {f"{arm}|{seed}": {k: v for k, v in info.items() if k != "steps"} | {"steps": len(info.get("steps", []))}
            for (arm, seed), info in trained.items()}
    summary = {
        "command": f"python -m training.grounding --run-dir {run_dir}", "settings": asdict(s),
        "planting": sft["planting"], "judge_calibration": calib, "timings_s": book.timings,
        "test_set": {"clips": s.test_clips, "seed": s.test_seed, "samples_per_clip": s.samples_per_clip},
        "table": agg, "target": target_check(agg), "runs": runs,
        "accuracy_curve_a": {str(seed): [r.get("rewards", {}).get("accuracy_reward") for r in info["steps"]]
                             for (arm, seed), info in trained.items() if arm == "a"},
        # every GRPO run's logged reward means per step (accuracy, format, grounding, consistency)
        "reward_curves": {f"{arm}|{seed}": [r.get("rewards", {}) for r in info["steps"]]
                          for (arm, seed), info in trained.items() if info.get("steps")},
        "judge": judge_report(trained),
        "per_seed": {arm: [{k: r[k] for k in ("checkpoint", "greedy", "sampled")} for r in rs]
                     for arm, rs in evals.items()},
    }
    (run_dir / "grounding.json").write_text(json.dumps(summary, indent=2))
    (run_dir / "grounding.md").write_text(report(summary))
    if results_dir is not None:
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / "grounding.json").write_text(json.dumps(summary, indent=2))
        (results_dir / "grounding.md").write_text(report(summary))
    logger.info("\n%s", table(agg))
    return summary


def judge_report(trained: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    """Per judged run: the judge's share of step time, and its precision / recall over the run (and per step)."""
    out = {}
    for (arm, seed), info in trained.items():
        steps = [r for r in info.get("steps", []) if "judge" in r]
        if not steps:
            continue
        total = {k: sum(r["judge"][k] for r in steps) for k in ("tp", "fp", "fn", "tn", "units")}
        step_s = sum(r["seconds"] for r in steps)
        judge_s = sum(r["judge"]["seconds"] for r in steps)
        out[f"{arm}|{seed}"] = {
            **precision_recall(total), **total, "step_seconds": round(step_s, 2), "judge_seconds": round(judge_s, 2),
            "judge_share_of_step_time": judge_s / step_s if step_s else None,
            "per_step": [{"step": r["step"], **precision_recall(r["judge"])} for r in steps]}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from training.sft import setup_logging

    p = argparse.ArgumentParser(description="Hallucinating SFT -> GRPO arms (a,b,c,d) and DPO, over seeds.")
    p.add_argument("--run-dir", type=Path, default=Path("runs/grounding-arms"), help="checkpoints, test set, report")
    p.add_argument("--recipe", type=Path, default=RECIPE, help="YAML with a `grounding:` section")
    p.add_argument("--arms", default=None, help=f"comma-separated subset of {','.join(ARMS)}")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the recipe's)")
    p.add_argument("--fresh", action="store_true", help="redo every stage (default: reuse finished ones)")
    p.add_argument("--results-dir", type=Path, default=RESULTS, help="where grounding.{json,md} go")
    scalar = [f for f in fields(ArmsSettings) if f.name not in SELECTION]
    for f in scalar:
        kind = (lambda v: v.lower() in ("1", "true", "yes")) if isinstance(f.default, bool) else type(f.default)
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None, dest=f.name)
    a = p.parse_args(argv)
    setup_logging()
    over = {f.name: getattr(a, f.name) for f in scalar}
    if a.arms:
        over["arms"] = [x.strip() for x in a.arms.split(",") if x.strip()]
    if a.seeds:
        over["seeds"] = [int(x) for x in a.seeds.split(",") if x.strip()]
    s = ArmsSettings.from_recipe(a.recipe, **over)
    return run(a.run_dir, s, fresh=a.fresh, results_dir=a.results_dir)


if __name__ == "__main__":
    main()
