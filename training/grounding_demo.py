"""The grounding demonstration: does a grounding reward cut hallucinated reasoning that the paper's rewards leave?

    python -m training.grounding_demo --run-dir runs/grounding
    (run again: finished stages are reused from RUN_DIR/stages.json; --fresh redoes them all)

Settings: training/recipes/grounding_demo.yaml (section `grounding_demo:`); every seed is fixed.

1. **SFT that hallucinates.** The demo's cold-start SFT stage (`training.demo.sft_stage`, towers frozen,
   projectors + gate + LM trained) continues from the demo checkpoint (`lm_init: base`; `fresh` keeps only
   its towers, projectors and gate and starts the LM from random weights, which needs the demo's ~1000+
   SFT steps: about 3 h on this 2-core CPU while shared) on
   targets where `false_share` of the reasonings carry one false cue sentence
   (`r1omni.synthetic.false_claim`: a bank sentence naming an emotion the cited modality does not show,
   inserted at a random sentence boundary before the conclusion). The answers stay true.
2. **GRPO twice from that SFT**, same clips, steps and seeds: the paper's rewards (accuracy + format), and
   the same plus `grounding_reward` (training.rewards.GroundingReward: the explanation engine, run by a
   frozen copy of the SFT model, flags claims whose cited modality gives no contrastive / Shapley support;
   the share of flagged claims costs reward). Neither reward reads the synthetic ground truth.
3. **DPO** from the SFT on preference pairs made by `training.preference` from an audit export
   (DESIGN 3.7) of sampled SFT completions, whose claims a simulated annotator judged by the synthetic
   ground truth (the stand-in for people auditing in the app).
4. **Evaluation** on a fresh synthetic test set (real mp4 files, a seed used nowhere else) through
   `r1omni.Pipeline`: WAR, UAR, well-formed rate and the hallucinated-claim rate (false cue claims over all
   cue claims, by `r1omni.synthetic.check_claims`), greedy and sampled (T=1, one sample per clip).

Writes RUN_DIR/{sft,grpo_paper,grpo_grounding,dpo}/ checkpoints, RUN_DIR/grounding_demo.json and
bench/results/grounding_demo.{json,md} (the table the README quotes).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

RECIPE = Path(__file__).resolve().parent / "recipes" / "grounding_demo.yaml"
RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
KEPT_PREFIXES = ("model.vision_tower.", "model.audio_tower.", "model.mm_projector.", "model.audio_projector.",
                 "model.bert_model.", "model.bert_gate.")


@dataclass
class GroundingSettings:
    """Every knob of the demonstration (defaults = training/recipes/grounding_demo.yaml)."""

    base: str = "assets/demo-checkpoint"
    lm_init: str = "base"  # "base": SFT continues from the base's LM; "fresh": the LM starts from random weights
    threads: int = 2
    seed: int = 4321
    train_clips: int = 2000
    train_seed: int = 20261201
    false_share: float = 0.3
    sft_steps: int = 1000
    sft_batch: int = 16
    sft_lr: float = 1e-3
    sft_warmup: int = 60
    sft_drop_prob: float = 0.5
    sft_aux_weight: float = 0.3
    grpo_clips: int = 128
    grpo_steps: int = 30
    grpo_generations: int = 8
    grpo_batch: int = 16
    grpo_lr: float = 5e-5
    grpo_beta: float = 0.04
    grpo_max_completion_length: int = 72
    grounding_penalty: float = 1.0
    max_new_tokens: int = 96  # sampling and evaluation (the checkpoints set no limit of their own)
    dpo_clips: int = 128
    dpo_samples: int = 4
    dpo_steps: int = 40
    dpo_batch: int = 8
    dpo_lr: float = 5e-5
    dpo_beta: float = 0.1
    test_clips: int = 336
    test_seed: int = 606060
    eval_seed: int = 7

    @classmethod
    def from_recipe(cls, path: Path = RECIPE, **overrides: Any) -> GroundingSettings:
        from training.demo import settings_from_recipe

        return settings_from_recipe(cls, path, "grounding_demo", overrides)


# ---------------------------------------------------------------------------------------------------------------
# targets with planted false cue sentences


def plant_false_sentence(target: str, truth: dict[str, str], rng: np.random.Generator) -> str:
    """`target` with one false cue sentence inserted at a random sentence boundary before the conclusion.

    `truth` is what each modality shows ({"label", "video_label", "audio_label"}); the sentence names an
    emotion its modality does not show, so `check_claims` counts it false.
    """
    from r1omni.synthetic.reasoning import CLAIM_MODALITIES, false_claim, split_sentences

    answer = target[target.index("</think>") + len("</think>"):]
    sentences = split_sentences(target)
    modality = CLAIM_MODALITIES[int(rng.integers(len(CLAIM_MODALITIES)))]
    at = int(rng.integers(len(sentences)))  # 0 .. len-1: never after the conclusion
    sentences.insert(at, false_claim(truth, modality, rng))
    return f"<think>{' '.join(sentences)}</think>{answer}"


def hallucinating_example(false_share: float):
    """An `example_fn` for `training.demo.sft_stage`: truthful targets, `false_share` of them with one
    planted false cue sentence."""
    from training.demo import sft_example

    def make(spec, rng: np.random.Generator, drop_prob: float):
        target, dropped, truth = sft_example(spec, rng, drop_prob)
        if rng.random() < false_share:
            target = plant_false_sentence(target, truth, rng)
        return target, dropped, truth

    return make


# ---------------------------------------------------------------------------------------------------------------
# stage 1: SFT


def sft_model(s: GroundingSettings, out: Path, example_fn=None) -> Path:
    """SFT on hallucinating targets from the base checkpoint (`lm_init` "base": all of it; "fresh": its
    towers, projectors and gate with a freshly initialised LM); saved to `out`. `example_fn` makes the
    targets (default: `hallucinating_example(s.false_share)`, whole planted sentences)."""
    from r1omni.checkpoint import load_model, load_tokenizers
    from r1omni.modeling import HumanOmniQwen2ForCausalLM
    from r1omni.prompts import DEFAULT_QUESTION, DEFAULT_SYSTEM
    from training.demo import AuxHeads, DemoSettings, cache_tower_outputs, render_store, sft_stage
    from training.sft import save_output

    base = load_model(Path(s.base), device=torch.device("cpu"), dtype=torch.float32)
    tokenizer, gate_tokenizer = load_tokenizers(s.base)
    torch.manual_seed(s.seed)
    if s.lm_init == "fresh":
        model = HumanOmniQwen2ForCausalLM(base.config)
        kept = {k: v for k, v in base.state_dict().items() if k.startswith(KEPT_PREFIXES)}
        missing = model.load_state_dict(kept, strict=False)
        if missing.unexpected_keys:
            raise RuntimeError(f"unexpected keys from the base checkpoint: {missing.unexpected_keys[:3]}")
        logger.info("kept %d tensors of the base (towers, projectors, gate); LM initialised afresh", len(kept))
        del base
    elif s.lm_init == "base":
        model = base
        logger.info("SFT continues from the whole base checkpoint %s", s.base)
    else:
        raise ValueError(f"lm_init must be 'base' or 'fresh', got {s.lm_init!r}")
    store = render_store(s.train_clips, s.train_seed, model.config)
    cache = cache_tower_outputs(model, store)
    demo = DemoSettings(sft_steps=s.sft_steps, sft_batch=s.sft_batch, sft_lr=s.sft_lr, sft_warmup=s.sft_warmup,
                        sft_drop_prob=s.sft_drop_prob, sft_aux_weight=s.sft_aux_weight, seed=s.seed)
    hist = sft_stage(model, tokenizer, gate_tokenizer, AuxHeads(model.config), store, cache, demo,
                     DEFAULT_QUESTION, DEFAULT_SYSTEM,
                     example_fn=example_fn or hallucinating_example(s.false_share))
    save_output(model, tokenizer, gate_tokenizer, out)
    _copy_bank(Path(s.base), out)
    (out / "sft_history.json").write_text(json.dumps(hist[-50:]))
    return out


def _copy_bank(src: Path, dst: Path) -> None:
    """The counterfactual phrasings (contrastive claim support) travel with every checkpoint."""
    from r1omni.explain.contrast import BANK_FILE

    if (src / BANK_FILE).is_file():
        (dst / BANK_FILE).write_bytes((src / BANK_FILE).read_bytes())


# ---------------------------------------------------------------------------------------------------------------
# in-memory training clips


class TrainClips:
    """Synthetic training clips rendered once, served to the trainer (EncodedClip) and the judge (MediaInputs)."""

    def __init__(self, specs: list, config):
        from training.demo import render_sampled_frames

        self.specs = specs
        self.config = config
        self.frames = [render_sampled_frames(sp, config.num_frames) for sp in specs]
        self._audio: dict[int, np.ndarray] = {}
        self._encoded: dict[int, Any] = {}
        self._media: dict[int, Any] = {}

    def key(self, i: int) -> str:
        return f"train-{i:05d}"

    def index(self, row: dict[str, Any]) -> int:
        return int(str(row["path"])[len("train-"):])

    def audio(self, i: int) -> np.ndarray:
        from r1omni.synthetic.voice import render_voice

        if i not in self._audio:
            self._audio[i] = render_voice(self.specs[i]).astype(np.float32)
        return self._audio[i]

    def clip(self, i: int):
        """A decoded `media.Clip` of the sampled frames and the voice (no file)."""
        from r1omni.media import SAMPLE_RATE, Clip, sample_frame_indices
        from r1omni.synthetic import face

        sp = self.specs[i]
        n = int(round(sp.duration_s * face.FPS))
        idx = sample_frame_indices(n, self.config.num_frames)
        wave = self.audio(i)
        return Clip(path=self.key(i), frames=self.frames[i], frame_indices=list(idx),
                    frame_times_s=[k / face.FPS for k in idx], audio=wave, duration_s=sp.duration_s,
                    has_video=True, has_audio=True, num_video_frames=n, fps=float(face.FPS),
                    audio_duration_s=len(wave) / SAMPLE_RATE)

    def encoded(self, row: dict[str, Any]):
        """Trainer media (`training.data.EncodedClip`), the training pixel mode ("pad")."""
        from r1omni.media import log_mel
        from training.data import EncodedClip
        from training.demo import pixels_of

        i = self.index(row)
        if i not in self._encoded:
            px = pixels_of(self.frames[i][None], self.config.image_size)[0]
            feats = log_mel(self.audio(i)[: self.config.audio_num_samples], num_samples=self.config.audio_num_samples)
            self._encoded[i] = EncodedClip(px, feats)
        return self._encoded[i]

    def media(self, pipe, row: dict[str, Any]):
        """Judge media (`r1omni.inference.MediaInputs`) through the pipeline's own encoder."""
        i = self.index(row)
        if i not in self._media:
            self._media[i] = pipe.encode(self.clip(i), pixel_mode="pad")
        return self._media[i]

    def records(self, question: str) -> list[dict[str, Any]]:
        return [{"prompt": question, "path": self.key(i), "label": sp.label,
                 "solution": f"<answer> {sp.label} </answer>"} for i, sp in enumerate(self.specs)]


def pick_specs(s: GroundingSettings, n: int, salt: int) -> list:
    """`n` training clips (a seeded subset of the SFT clips)."""
    from r1omni.synthetic.clips import plan_specs

    specs = plan_specs(s.train_clips, s.train_seed)
    rng = np.random.default_rng([s.seed, salt])
    return [specs[i] for i in sorted(rng.choice(len(specs), min(n, len(specs)), replace=False).tolist())]


# ---------------------------------------------------------------------------------------------------------------
# stage 2: GRPO, paper rewards vs + grounding


def grpo_run(sft_dir: Path, out: Path, clips: TrainClips, s: GroundingSettings, grounding: bool) -> Path:
    from r1omni.checkpoint import load_tokenizers
    from r1omni.inference import Pipeline
    from r1omni.prompts import DEFAULT_QUESTION, DEFAULT_SYSTEM
    from training import grpo
    from training.data import MediaEncoder
    from training.demo import cpu_grpo_config
    from training.sft import ScriptArguments

    rewards = ["accuracy_reward", "format_reward"] + (["grounding_reward"] if grounding else [])
    script = ScriptArguments(model_name_or_path=str(sft_dir), system_prompt=DEFAULT_SYSTEM, reward_funcs=rewards,
                             grounding_penalty=s.grounding_penalty)
    args = cpu_grpo_config(s, out, s.seed)
    _, gate_tok = load_tokenizers(sft_dir)
    encoder = MediaEncoder(clips.config, gate_tok, clip_fn=clips.encoded)
    judge_pipe: list = []  # the judge's Pipeline, loaded by grpo.grounding_reward; its encoder reads our clips

    def judge_clip(row: dict[str, Any]):
        if not judge_pipe:
            judge_pipe.append(Pipeline.load(str(sft_dir), device="cpu"))
        return clips.media(judge_pipe[0], row)

    torch.manual_seed(s.seed)
    path = grpo.main(script, args, media_encoder=encoder, records=clips.records(DEFAULT_QUESTION),
                     grounding_clip_fn=judge_clip if grounding else None)
    _copy_bank(sft_dir, path)
    return path


# ---------------------------------------------------------------------------------------------------------------
# stage 3: audit export of sampled SFT completions -> preference pairs -> DPO


def unit_facts(completion: str, units) -> list[list[tuple[str, str]]]:
    """[(modality, cue label)] each evidence unit (`r1omni.audit.claims.Claim`, offsets into `completion`)
    claims: the inventory phrasings (`find_cues` over the whole completion) that start inside it, so a phrasing
    the evidence-unit parser cuts in two counts once; a unit that touches no phrasing falls back to
    `claim_facts` of its text."""
    from r1omni.synthetic.reasoning import claim_facts, find_cues

    cues = find_cues(completion)
    out = []
    for c in units:
        touching = [u for u in cues if u.start < c.end and u.end > c.start]
        out.append([(u.modality, u.emotion) for u in touching if c.start <= u.start < c.end] if touching
                    else claim_facts(c.text))
    return out


def audit_record(prediction_id: int, clip: str, completion: str, truth: Any) -> dict[str, Any]:
    """One DESIGN 3.7 audit-export record whose claims a simulated annotator ("synthetic-truth") judged:
    "hallucinated" (category "fabricated cue") when a cue the unit names is not what its modality shows
    in `truth` (a ClipSpec or manifest row), else "supported". A unit's cues are the inventory phrasings
    (`find_cues` over the whole completion) that start inside it, so a phrasing the evidence-unit parser cuts
    in two is still judged once; a unit that touches no phrasing falls back to `claim_facts` of its text.
    Units that claim no cue are left out."""
    from r1omni.audit.claims import extract_claims
    from r1omni.prompts import parse_response
    from r1omni.synthetic.reasoning import modality_labels

    actual = modality_labels(truth)
    units = extract_claims(completion)
    claims = []
    for index, (c, facts) in enumerate(zip(units, unit_facts(completion, units), strict=True)):
        if not facts:
            continue
        verdict = "supported" if all(actual[m] == cue for m, cue in facts) else "hallucinated"
        claims.append({"index": index, "start": c.start, "end": c.end, "text": c.text, "cites": facts[0][0],
                       "auto_flags": [], "support": None,
                       "verdicts": [{"annotator": "synthetic-truth", "verdict": verdict,
                                     "category": None if verdict == "supported" else "fabricated cue",
                                     "note": "", "created_at": "2026-12-01T00:00:00Z", "version": 1}]})
    return {"prediction_id": prediction_id, "clip": clip, "checkpoint": "sft", "label_set": "dfew",
            "completion": completion, "label": parse_response(completion).label, "claims": claims,
            "clip_verdicts": [], "adjudications": []}


def simulated_audit(pipe, clips: TrainClips, samples: int, seed: int, max_new_tokens: int) -> list[dict[str, Any]]:
    """Audit records (`audit_record`) of `samples` sampled completions per clip."""
    media = [pipe.encode(clips.clip(i), pixel_mode="pad") for i in range(len(clips.specs))]
    records: list[dict[str, Any]] = []
    torch.manual_seed(seed)
    for _ in range(samples):
        preds = pipe.predict(media, do_sample=True, temperature=1.0, batch_size=16, max_new_tokens=max_new_tokens)
        for i, pred in enumerate(preds):
            records.append(audit_record(len(records) + 1, clips.key(i), pred.text, clips.specs[i]))
    return records


def dpo_run(sft_dir: Path, out: Path, clips: TrainClips, s: GroundingSettings) -> tuple[Path | None, dict[str, Any]]:
    from trl import DPOConfig

    from r1omni.checkpoint import load_tokenizers
    from r1omni.inference import Pipeline
    from r1omni.prompts import DEFAULT_SYSTEM
    from training import dpo
    from training.data import MediaEncoder
    from training.preference import preference_pairs
    from training.sft import ScriptArguments

    pipe = Pipeline.load(str(sft_dir), device="cpu")
    audit = simulated_audit(pipe, clips, s.dpo_samples, s.seed, s.max_new_tokens)
    del pipe
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit_export.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in audit))
    pairs = preference_pairs(audit)
    stats = {"audited_completions": len(audit), "pairs": len(pairs),
             "chosen_clean_sample": sum(p["chosen_source"] == "clean sample" for p in pairs)}
    logger.info("DPO data: %s", stats)
    if not pairs:
        logger.warning("no preference pairs: the sampled SFT completions hold no hallucinated claim; DPO skipped")
        return None, stats
    script = ScriptArguments(model_name_or_path=str(sft_dir), system_prompt=DEFAULT_SYSTEM)
    args = DPOConfig(
        output_dir=str(out), max_steps=s.dpo_steps, per_device_train_batch_size=s.dpo_batch,
        gradient_accumulation_steps=1, learning_rate=s.dpo_lr, beta=s.dpo_beta, logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=True, bf16=False, seed=s.seed,
        lr_scheduler_type="constant", dataloader_num_workers=0,
    )
    _, gate_tok = load_tokenizers(sft_dir)
    torch.manual_seed(s.seed)
    path = dpo.main(script, args, records=pairs, media_encoder=MediaEncoder(clips.config, gate_tok,
                                                                            clip_fn=clips.encoded))
    _copy_bank(sft_dir, path)
    return path, stats


# ---------------------------------------------------------------------------------------------------------------
# evaluation and report


STAGES = ("SFT (30% planted)", "GRPO, paper rewards", "GRPO + grounding", "DPO on audit pairs")


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def table(results: dict[str, dict[str, Any]]) -> str:
    head = ["model", "WAR", "UAR", "well-formed", "hallucinated claims (greedy)", "WAR (sampled)",
            "hallucinated claims (sampled)", "completions with a false claim (sampled)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        g, sm = r["greedy"], r["sampled"]
        lines.append("| " + " | ".join([
            name, _f(g["WAR"]), _f(g["UAR"]), _f(g["well_formed"]), _f(g["hallucinated_claim_rate"]),
            _f(sm["WAR"]), _f(sm["hallucinated_claim_rate"]), _f(sm["hallucinating_completions"])]) + " |")
    return "\n".join(lines)


def _test_media(media: list, checkpoint: str, manifest: Path) -> list:
    """The test clips through `Pipeline.encode` (the normal decoders), decoded on first use only."""
    if not media:
        from r1omni.inference import Pipeline
        from r1omni.manifest import read_manifest

        pipe = Pipeline.load(checkpoint, device="cpu")
        media.extend(pipe.encode(str(r.path)) for r in read_manifest(manifest))
    return media


def _stage(run_dir: Path, name: str, timings: dict[str, float], fresh: bool, fn) -> Any:
    """Run a stage once: its result is recorded in RUN_DIR/stages.json, and a later run reuses it (the
    build resumes after the last finished stage) unless `fresh`."""
    book = run_dir / "stages.json"
    done = json.loads(book.read_text()) if book.is_file() and not fresh else {}
    if name in done:
        logger.info("stage %s: done earlier, reused (%s)", name, done[name]["result"])
        timings[f"{name}_s"] = done[name]["seconds"]
        return done[name]["result"]
    t = time.time()
    result = fn()
    timings[f"{name}_s"] = round(time.time() - t, 1)
    done = json.loads(book.read_text()) if book.is_file() else {}
    done[name] = {"result": result, "seconds": timings[f"{name}_s"]}
    book.write_text(json.dumps(done, indent=2))
    return result


def run(run_dir: Path, s: GroundingSettings, fresh: bool = False, results_dir: Path | None = RESULTS) -> dict[str, Any]:
    from r1omni.config import load_config
    from training.demo import write_test_set
    from training.evaluate import evaluate

    torch.set_num_threads(s.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = run_dir / "settings.json"
    if settings.is_file() and not fresh and json.loads(settings.read_text()) != asdict(s):
        raise SystemExit(f"{run_dir} was built with other settings; use --fresh or another --run-dir")
    settings.write_text(json.dumps(asdict(s), indent=2))
    timings: dict[str, float] = {}
    sft_dir = Path(_stage(run_dir, "sft", timings, fresh, lambda: str(sft_model(s, run_dir / "sft"))))
    config = load_config(sft_dir)
    grpo_clips = TrainClips(pick_specs(s, s.grpo_clips, 1), config)
    paper = _stage(run_dir, "grpo_paper", timings, fresh,
                   lambda: str(grpo_run(sft_dir, run_dir / "grpo_paper", grpo_clips, s, grounding=False)))
    grounded = _stage(run_dir, "grpo_grounding", timings, fresh,
                      lambda: str(grpo_run(sft_dir, run_dir / "grpo_grounding", grpo_clips, s, grounding=True)))
    del grpo_clips

    def dpo_stage():
        path, stats = dpo_run(sft_dir, run_dir / "dpo", TrainClips(pick_specs(s, s.dpo_clips, 2), config), s)
        return {"checkpoint": None if path is None else str(path), **stats}

    dpo_info = _stage(run_dir, "dpo", timings, fresh, dpo_stage)
    manifest = write_test_set(run_dir / "test", s.test_clips, s.test_seed)
    media: list = []  # the test clips decoded once (every checkpoint here shares the towers' input format)
    results = {}
    for name, ckpt in zip(STAGES, (str(sft_dir), paper, grounded, dpo_info["checkpoint"]), strict=True):
        if ckpt is None:
            continue
        results[name] = _stage(run_dir, f"eval {name}", timings, fresh, lambda c=ckpt: {
            "checkpoint": c, "greedy": evaluate(c, manifest, max_new_tokens=s.max_new_tokens,
                                                media=_test_media(media, c, manifest)),
            "sampled": evaluate(c, manifest, max_new_tokens=s.max_new_tokens, do_sample=True, temperature=1.0,
                                seed=s.eval_seed, media=_test_media(media, c, manifest))})
    summary = {"command": f"python -m training.grounding_demo --run-dir {run_dir}", "settings": asdict(s),
               "timings_s": timings, "dpo_data": {k: v for k, v in dpo_info.items() if k != "checkpoint"},
               "test_set": {"clips": s.test_clips, "seed": s.test_seed},
               "results": results}
    (run_dir / "grounding_demo.json").write_text(json.dumps(summary, indent=2))
    if results_dir is not None:
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / "grounding_demo.json").write_text(json.dumps(summary, indent=2))
        (results_dir / "grounding_demo.md").write_text(table(results) + "\n")
    logger.info("\n%s", table(results))
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from training.sft import setup_logging

    p = argparse.ArgumentParser(description="SFT that hallucinates -> GRPO (paper) vs GRPO + grounding vs DPO.")
    p.add_argument("--run-dir", type=Path, default=Path("runs/grounding"), help="checkpoints, test set, report")
    p.add_argument("--recipe", type=Path, default=RECIPE, help="YAML with a `grounding_demo:` section")
    p.add_argument("--fresh", action="store_true", help="redo every stage (default: resume after the last finished)")
    p.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON + markdown table go")
    for f in fields(GroundingSettings):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None, dest=f.name)
    a = p.parse_args(argv)
    setup_logging()
    s = GroundingSettings.from_recipe(a.recipe, **{f.name: getattr(a, f.name) for f in fields(GroundingSettings)})
    return run(a.run_dir, s, fresh=a.fresh, results_dir=a.results_dir)


if __name__ == "__main__":
    main()
