"""Build the demo checkpoint from scratch on CPU: `python -m training.demo --out assets/demo-checkpoint`.

Stages (settings in training/recipes/demo.yaml, section `demo:`; every seed is fixed):
  data      render synthetic clips in memory (r1omni.synthetic, no mp4): 8 sampled frames + log-mel each.
  (a)       pretrain the vision tower + visual projector and the audio tower + audio projector with
            auxiliary 7-way heads (the label that modality shows; neutral when it has no cue), on the
            tower features (max-pooled) AND on the mean of each projector's output tokens, so the label
            is dense in the tokens the LM reads (a tiny LM does not learn to pick sparse video cues out
            by attention: shared/reference/demo-feasibility.md).
  (b)       freeze the towers, cache their outputs per clip, cold-start SFT of projectors + gate + LM on
            truthful reasoning (`build_reasoning`); in two-cue clips one modality is dropped at random
            (replaced by its mask baseline, grey frames / silence) and the target says it is neutral, so
            the LM must read both. The projector aux heads stay on as a small regulariser.
  (c)       GRPO with OmniGRPOTrainer (accuracy + format + claims rewards), short.
  (d)       save with r1omni.checkpoint.save_checkpoint, evaluate SFT-only and SFT+GRPO on a fresh test
            set written as real mp4 files (seed never used in training) through r1omni.Pipeline, write
            the model card.

The aux heads and the tower cache exist only during the build; the checkpoint has the R1-Omni layout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

LABELS = ("happy", "surprise", "neutral", "angry", "disgust", "sad", "fear")
RECIPE = Path(__file__).resolve().parent / "recipes" / "demo.yaml"


@dataclass
class DemoSettings:
    """Every knob of the demo build (defaults = training/recipes/demo.yaml)."""

    preset: str = "demo"
    threads: int = 2
    train_clips: int = 3000
    train_seed: int = 20260101
    test_clips: int = 336
    test_seed: int = 99991
    pretrain_steps: int = 800
    pretrain_audio_steps: int = 600
    pretrain_batch: int = 16
    pretrain_lr: float = 2e-3
    sft_steps: int = 1400
    sft_batch: int = 16
    sft_lr: float = 1e-3
    sft_warmup: int = 60
    sft_drop_prob: float = 0.5
    sft_aux_weight: float = 0.3
    grpo_clips: int = 256
    grpo_steps: int = 30
    grpo_generations: int = 8
    grpo_batch: int = 16
    grpo_lr: float = 1e-5
    grpo_beta: float = 0.04
    grpo_max_completion_length: int = 72
    seed: int = 1234

    @classmethod
    def from_recipe(cls, path: Path = RECIPE, **overrides: Any) -> DemoSettings:
        return settings_from_recipe(cls, path, "demo", overrides)


def settings_from_recipe(cls, path: Path, section: str, overrides: dict[str, Any]):
    """A settings dataclass from a recipe YAML's `section` (missing file: the defaults), then the overrides
    that are not None (command-line flags); unknown keys raise ValueError."""
    import yaml

    data = (yaml.safe_load(path.read_text()) or {}).get(section, {}) if path.is_file() else {}
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {section} settings in {path}: {sorted(unknown)}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**data)


# ---------------------------------------------------------------------------------------------------------------
# data


@dataclass
class ClipStore:
    """In-memory synthetic clips: specs, 8 sampled frames (uint8), log-mel (float16)."""

    specs: list
    frames: np.ndarray  # (N, T, S, S, 3) uint8
    mels: torch.Tensor  # (N, 128, L) float16

    def video_labels(self) -> torch.Tensor:
        return torch.tensor([LABELS.index(s.video_label) for s in self.specs])

    def audio_labels(self) -> torch.Tensor:
        return torch.tensor([LABELS.index(s.audio_label) for s in self.specs])

    def frame_labels(self) -> torch.Tensor:
        """(N, T): the expression each sampled frame shows (the video label inside the cue window, else neutral)."""
        return torch.tensor([sampled_frame_labels(s, self.frames.shape[1]) for s in self.specs])

    def labels(self) -> torch.Tensor:
        return torch.tensor([LABELS.index(s.label) for s in self.specs])


def sampled_frame_labels(spec, num_frames: int) -> list[int]:
    """Label index of each sampled frame: the drawn expression, known exactly from the spec."""
    from r1omni.media import sample_frame_indices
    from r1omni.synthetic import face

    n = int(round(spec.duration_s * face.FPS))
    cued = face.video_is_cued(spec)
    return [LABELS.index(spec.video_label) if cued and face.frame_in_window(i, spec, face.FPS)
            else LABELS.index("neutral") for i in sample_frame_indices(n, num_frames)]


def augment_pixels(px: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Label-preserving variety for tower pretraining: mirror, shift and per-channel gain. (N, 3, S, S)."""
    flip = torch.from_numpy(rng.random(px.shape[0]) < 0.5)
    px = torch.where(flip[:, None, None, None], px.flip(-1), px)
    dy, dx = (int(v) for v in rng.integers(-10, 11, 2))
    px = torch.roll(px, shifts=(dy, dx), dims=(-2, -1))
    gain = torch.from_numpy(1 + 0.2 * (rng.random((px.shape[0], 3, 1, 1)) - 0.5)).float()
    return (px * gain).clamp(-1, 1)


def render_sampled_frames(spec, num_frames: int) -> np.ndarray:
    """The `num_frames` frames the model samples from the clip (the others are not drawn)."""
    from r1omni.media import sample_frame_indices
    from r1omni.synthetic import face

    n = int(round(spec.duration_s * face.FPS))
    return face.render_frames(spec, indices=sample_frame_indices(n, num_frames))


def _render_one(args: tuple[Any, int]) -> tuple[np.ndarray, np.ndarray]:
    from r1omni.synthetic.voice import render_voice

    spec, num_frames = args
    return render_sampled_frames(spec, num_frames), render_voice(spec)


def render_store(n: int, seed: int, config, workers: int = 2, specs: list | None = None) -> ClipStore:
    """Render n balanced clips (label x cue modality; or the given specs) in memory."""
    from r1omni.media import log_mel_batch
    from r1omni.synthetic.clips import plan_specs

    specs = plan_specs(n, seed) if specs is None else specs
    jobs = [(s, config.num_frames) for s in specs]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            out = list(pool.map(_render_one, jobs, chunksize=32))
    else:
        out = [_render_one(j) for j in jobs]
    frames = np.stack([f for f, _ in out])
    mels = torch.cat([log_mel_batch([a for _, a in out[i : i + 256]], num_samples=config.audio_num_samples)
                      for i in range(0, n, 256)]).half()
    return ClipStore(specs, frames, mels)


def pixels_of(frames: np.ndarray, image_size: int) -> torch.Tensor:
    """(B, T, S, S, 3) uint8 -> (B, T, 3, S, S) in [-1, 1], the training pixel mode (pad to square)."""
    from r1omni.media import frames_to_pixels

    return torch.stack([frames_to_pixels(f, image_size, mode="pad") for f in frames])


# ---------------------------------------------------------------------------------------------------------------
# auxiliary heads and tower capture


class AuxHeads(nn.Module):
    """7-way heads on tower features (max-pooled) and on projector tokens (mean-pooled), per modality."""

    def __init__(self, config):
        super().__init__()
        d = config.hidden_size
        self.video_tower = nn.Linear(config.mm_hidden_size, len(LABELS))
        self.video_tokens = nn.Linear(d, len(LABELS))
        self.audio_tower = nn.Linear(config.audio_hidden_size, len(LABELS))
        self.audio_tokens = nn.Linear(d, len(LABELS))


@contextlib.contextmanager
def capture_outputs(modules: dict[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Record each module's latest forward output under its name while inside the block."""
    store: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, k=k: store.__setitem__(k, out)) for k, m in modules.items()]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def cached_towers(backbone) -> Iterator[None]:
    """Make the towers pass cached outputs through: video (B, T, P, C, 1) 'pixels', audio (B, L/2, Da) packed
    into the (B, 128, L) feature shape. Only the build uses this; nothing is saved with it."""
    vt, at = backbone.vision_tower, backbone.audio_tower
    n_audio, d_audio = backbone.config.audio_num_frames // 2, backbone.config.audio_hidden_size
    vt.forward = lambda pixel_values: pixel_values.squeeze(-1)
    at.forward = lambda feats: feats.flatten(1)[:, : n_audio * d_audio].view(feats.shape[0], n_audio, d_audio)
    try:
        yield
    finally:
        del vt.forward, at.forward


def pack_audio(h: torch.Tensor, n_mels: int, length: int) -> torch.Tensor:
    """(B, L/2, Da) encoder output -> (B, n_mels, length) zero-padded, the shape the backbone checks."""
    flat = h.flatten(1)
    return F.pad(flat, (0, n_mels * length - flat.shape[1])).view(h.shape[0], n_mels, length)


# ---------------------------------------------------------------------------------------------------------------
# stage (a): towers + projectors


def gate_batch(gate_tokenizer, question: str, n: int) -> dict[str, torch.Tensor]:
    enc = gate_tokenizer(question, truncation=True, max_length=512, return_tensors="pt")
    return {"gate_input_ids": enc["input_ids"].expand(n, -1),
            "gate_attention_mask": enc["attention_mask"].expand(n, -1)}


def aux_losses(bb, heads: AuxHeads, seen: dict, v_lab, a_lab, towers: bool = True) -> dict[str, torch.Tensor]:
    """Auxiliary losses. `v_lab` is (B, T): one label per sampled frame, so the vision tower and each frame's
    projector tokens learn the expression that frame shows (dense, exact supervision from the synthetic
    ground truth); `a_lab` is (B,) or None (audio skipped)."""
    out = {}
    b, t = v_lab.shape
    frames = v_lab.reshape(-1)
    if towers:
        vt = seen["vision_tower"]  # (B*T, P, C)
        out["video_tower"] = F.cross_entropy(heads.video_tower(vt.amax(1)), frames)  # max over patches
        if a_lab is not None:
            out["audio_tower"] = F.cross_entropy(heads.audio_tower(seen["audio_tower"].amax(1)), a_lab)
    tokens = seen["mm_projector"]  # (B, T * g * g, D), time-major
    per_frame = tokens.reshape(b, t, -1, tokens.shape[-1]).mean(2).reshape(b * t, -1)  # (B*T, D)
    out["video_tokens"] = F.cross_entropy(heads.video_tokens(per_frame), frames)
    if a_lab is not None:
        out["audio_tokens"] = F.cross_entropy(heads.audio_tokens(seen["audio_projector"].mean(1)), a_lab)
    return out


def pretrain_towers(model, gate_tokenizer, store: ClipStore, s: DemoSettings, question: str) -> AuxHeads:
    """Stage (a): towers + projectors + aux heads on the per-modality labels."""
    bb = model.model
    heads = AuxHeads(model.config)
    params = [*bb.vision_tower.parameters(), *bb.mm_projector.parameters(), *bb.audio_tower.parameters(),
              *bb.audio_projector.parameters(), *heads.parameters()]
    opt = torch.optim.AdamW(params, lr=s.pretrain_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(30, s.pretrain_steps))
    rng = np.random.default_rng([s.seed, 1])
    v_all, a_all = store.frame_labels(), store.audio_labels()
    modules = {"vision_tower": bb.vision_tower, "audio_tower": bb.audio_tower, "mm_projector": bb.mm_projector,
               "audio_projector": bb.audio_projector}
    t0, hist = time.time(), []
    with capture_outputs(modules) as seen:
        for step in range(1, s.pretrain_steps + 1):
            idx = rng.choice(len(store.specs), s.pretrain_batch, replace=False)
            gate = bb.get_gate_probs(**gate_batch(gate_tokenizer, question, len(idx))).detach()
            px = pixels_of(store.frames[idx], model.config.image_size)  # (B, T, 3, S, S)
            px = augment_pixels(px.flatten(0, 1), rng).view(px.shape)
            bb.get_video_features(px, gate)
            with_audio = step <= s.pretrain_audio_steps  # audio converges in a few hundred steps
            if with_audio:
                bb.get_audio_features(store.mels[idx].float())
            losses = aux_losses(bb, heads, seen, v_all[idx], a_all[idx] if with_audio else None)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            hist.append({k: v.item() for k, v in losses.items()})
            if step % 50 == 0 or step == s.pretrain_steps:
                avg = {k: np.mean([h[k] for h in hist[-50:] if k in h]) for k in hist[-1]}
                logger.info("pretrain %d/%d %.0fs %s", step, s.pretrain_steps, time.time() - t0,
                            " ".join(f"{k}={v:.3f}" for k, v in avg.items()))
    return heads


@torch.no_grad()
def cache_tower_outputs(model, store: ClipStore, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, P, C) vision-tower and (N, L/2, Da) audio-tower outputs, float16."""
    bb, cfg = model.model, model.config
    vis, aud = [], []
    for i in range(0, len(store.specs), batch):
        px = pixels_of(store.frames[i : i + batch], cfg.image_size)
        v = bb.vision_tower(px.flatten(0, 1))
        vis.append(v.view(px.shape[0], px.shape[1], *v.shape[1:]).half())
        aud.append(bb.audio_tower(store.mels[i : i + batch].float()).half())
    return torch.cat(vis), torch.cat(aud)


@torch.no_grad()
def baseline_tower_outputs(model) -> tuple[torch.Tensor, torch.Tensor]:
    """Tower outputs of the mask baselines: grey frames (T, P, C) and silence (L/2, Da)."""
    from r1omni.media import grey_pixels, silence_features

    bb, cfg = model.model, model.config
    v = bb.vision_tower(grey_pixels(cfg.num_frames, cfg.image_size))
    a = bb.audio_tower(silence_features(cfg.audio_num_samples)[None])
    return v, a[0]


# ---------------------------------------------------------------------------------------------------------------
# stage (b): SFT on cached tower outputs


def _warmup_cosine(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return f


def sft_example(spec, rng: np.random.Generator, drop_prob: float) -> tuple[str, str | None, dict[str, str]]:
    """(target text, dropped modality or None, per-modality truth after the drop)."""
    from r1omni.synthetic import build_reasoning

    truth = {"label": spec.label, "video_label": spec.video_label, "audio_label": spec.audio_label}
    dropped = None
    if spec.cue_modality == "both" and spec.label != "neutral" and rng.random() < drop_prob:
        dropped = "video" if rng.random() < 0.5 else "audio"
        truth[f"{dropped}_label"] = "neutral"
    return build_reasoning(truth, rng), dropped, truth


def sft_stage(model, tokenizer, gate_tokenizer, heads: AuxHeads, store: ClipStore, cache, s: DemoSettings,
              question: str, system: str, example_fn=None) -> list[dict[str, float]]:
    """Stage (b): projectors + gate + LM on cached tower outputs, LM loss + aux token heads.

    `example_fn(spec, rng, drop_prob)` makes each target (default `sft_example`, truthful reasoning)."""
    from training.data import SFTCollator

    bb, cfg = model.model, model.config
    vis, aud = cache
    grey_v, silence_a = baseline_tower_outputs(model)
    for name, p in model.named_parameters():
        p.requires_grad = not name.startswith(("model.vision_tower.", "model.audio_tower.", "model.bert_model."))
    params = [p for p in model.parameters() if p.requires_grad] + list(heads.video_tokens.parameters()) + list(
        heads.audio_tokens.parameters())
    opt = torch.optim.AdamW(params, lr=s.sft_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(s.sft_warmup, s.sft_steps))
    text = SFTCollator(tokenizer, _NoMedia(cfg), system)
    rng = np.random.default_rng([s.seed, 2])
    frame_lab = store.frame_labels()
    pad = tokenizer.pad_token_id
    hist: list[dict[str, float]] = []
    t0 = time.time()
    model.train()
    with cached_towers(bb), capture_outputs({"mm_projector": bb.mm_projector,
                                             "audio_projector": bb.audio_projector}) as seen:
        for step in range(1, s.sft_steps + 1):
            idx = rng.choice(len(store.specs), s.sft_batch, replace=False)
            seqs, v_in, a_in, v_lab, a_lab = [], [], [], [], []
            neutral_frames = [LABELS.index("neutral")] * cfg.num_frames
            for i in idx:
                spec = store.specs[i]
                target, dropped, truth = (example_fn or sft_example)(spec, rng, s.sft_drop_prob)
                seqs.append(text.encode_text(question, target))
                v_in.append(grey_v if dropped == "video" else vis[i].float())
                a_in.append(silence_a if dropped == "audio" else aud[i].float())
                v_lab.append(neutral_frames if dropped == "video" else frame_lab[i].tolist())
                a_lab.append(LABELS.index(truth["audio_label"]))
            width = max(len(ids) for ids, _ in seqs)
            ids = torch.full((len(seqs), width), pad)
            labels = torch.full((len(seqs), width), -100)
            att = torch.zeros((len(seqs), width), dtype=torch.long)
            for j, (x, y) in enumerate(seqs):
                ids[j, : len(x)], labels[j, : len(y)], att[j, : len(x)] = torch.tensor(x), torch.tensor(y), 1
            out = model(input_ids=ids, attention_mask=att, labels=labels,
                        pixel_values_videos=torch.stack(v_in).unsqueeze(-1),
                        input_features=pack_audio(torch.stack(a_in), 128, cfg.audio_num_frames),
                        **gate_batch(gate_tokenizer, question, len(idx)))
            aux = aux_losses(bb, heads, seen, torch.tensor(v_lab), torch.tensor(a_lab), towers=False)
            loss = out.loss + s.sft_aux_weight * sum(aux.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            hist.append({"step": step, "lm_loss": out.loss.item(), **{k: v.item() for k, v in aux.items()}})
            if step % 50 == 0 or step == s.sft_steps:
                avg = {k: np.mean([h[k] for h in hist[-50:]]) for k in hist[-1] if k != "step"}
                logger.info("sft %d/%d %.0fs %s", step, s.sft_steps, time.time() - t0,
                            " ".join(f"{k}={v:.3f}" for k, v in avg.items()))
    model.eval()
    return hist


class _NoMedia:
    """Stands in for a MediaEncoder when only SFTCollator.encode_text is used."""

    def __init__(self, config):
        self.config = config


# ---------------------------------------------------------------------------------------------------------------
# stage (c): GRPO


def grpo_stage(sft_dir: Path, out_dir: Path, s: DemoSettings, question: str, system: str) -> Path:
    """Stage (c): OmniGRPOTrainer from the saved SFT checkpoint, on a subset of the training clips."""
    from trl import GRPOConfig

    from r1omni.config import load_config
    from r1omni.synthetic.clips import plan_specs
    from training import grpo
    from training.data import EncodedClip, MediaEncoder
    from training.sft import ScriptArguments

    cfg = load_config(sft_dir)
    rng = np.random.default_rng([s.seed, 3])
    chosen = sorted(rng.choice(s.train_clips, min(s.grpo_clips, s.train_clips), replace=False).tolist())
    all_specs = plan_specs(s.train_clips, s.train_seed)
    store = render_store(len(chosen), s.train_seed, cfg, specs=[all_specs[i] for i in chosen])
    logger.info("GRPO on %d training clips", len(chosen))
    records = []
    for i, spec in enumerate(store.specs):
        records.append({"prompt": question, "clip_index": i, "label": spec.label,
                        "solution": f"<answer> {spec.label} </answer>", "cue_modality": spec.cue_modality,
                        "video_label": spec.video_label, "audio_label": spec.audio_label})

    script = ScriptArguments(model_name_or_path=str(sft_dir), system_prompt=system,
                             reward_funcs=["accuracy_reward", "format_reward", "claims_reward"])
    args = GRPOConfig(
        output_dir=str(out_dir), max_steps=s.grpo_steps, per_device_train_batch_size=s.grpo_batch,
        gradient_accumulation_steps=1, num_generations=s.grpo_generations, learning_rate=s.grpo_lr,
        beta=s.grpo_beta, temperature=1.0, max_completion_length=s.grpo_max_completion_length,
        loss_type="grpo", scale_rewards="group", num_iterations=1, logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False, seed=s.seed,
        lr_scheduler_type="constant", dataloader_num_workers=0,
    )

    def clip_fn(row: dict[str, Any]) -> EncodedClip:
        i = int(row["clip_index"])
        return EncodedClip(pixels_of(store.frames[i : i + 1], cfg.image_size)[0], store.mels[i].float())

    from r1omni.checkpoint import load_tokenizers

    _, gate_tok = load_tokenizers(sft_dir)
    encoder = MediaEncoder(cfg, gate_tok, clip_fn=clip_fn)
    return grpo.main(script, args, media_encoder=encoder, records=records)


# ---------------------------------------------------------------------------------------------------------------
# the build


def build_tokenizers_for_demo(question: str, system: str):
    """LM + gate tokenizers over the reasoning phrase bank and the chat prompt."""
    from r1omni.prompts import build_prompt
    from r1omni.synthetic import corpus_lines
    from r1omni.tokenization import build_bert_tokenizer, build_lm_tokenizer

    corpus = corpus_lines() + [build_prompt(question, system), question]
    return build_lm_tokenizer(corpus, vocab_size=1024), build_bert_tokenizer([question], vocab_size=512)


def write_test_set(out_dir: Path, n: int, seed: int) -> Path:
    """Real mp4 clips + manifest.csv for the held-out evaluation."""
    from r1omni.synthetic.clips import generate_clips

    if (out_dir / "manifest.csv").is_file():
        return out_dir / "manifest.csv"
    generate_clips(out_dir, n, seed, workers=2)
    return out_dir / "manifest.csv"


def build(out: Path, run_dir: Path, s: DemoSettings, from_sft: bool = False) -> dict[str, Any]:
    from r1omni.config import preset_config
    from r1omni.modeling import HumanOmniQwen2ForCausalLM
    from r1omni.prompts import DEFAULT_QUESTION, DEFAULT_SYSTEM
    from training.evaluate import evaluate, write_model_card
    from training.sft import save_output

    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    timings: dict[str, float] = {}
    t = time.time()
    question, system = DEFAULT_QUESTION, DEFAULT_SYSTEM
    sft_dir = run_dir / "sft"
    if from_sft:  # reuse the SFT checkpoint of an earlier build with the same settings
        prev = json.loads((run_dir / "sft_summary.json").read_text())
        timings.update(prev["timings_s"])
        sft_loss = prev["sft_final_lm_loss"]
    else:
        tokenizer, gate_tokenizer = build_tokenizers_for_demo(question, system)
        config = preset_config(s.preset, vocab_size=len(tokenizer), bert_vocab_size=len(gate_tokenizer))
        config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
        model = HumanOmniQwen2ForCausalLM(config)
        logger.info("model: %.2f M parameters", sum(p.numel() for p in model.parameters()) / 1e6)

        store = render_store(s.train_clips, s.train_seed, config)
        timings["data_s"] = time.time() - t
        logger.info("rendered %d training clips in %.0fs", s.train_clips, timings["data_s"])

        t = time.time()
        heads = pretrain_towers(model, gate_tokenizer, store, s, question)
        timings["pretrain_s"] = time.time() - t

        t = time.time()
        cache = cache_tower_outputs(model, store)
        sft_hist = sft_stage(model, tokenizer, gate_tokenizer, heads, store, cache, s, question, system)
        timings["sft_s"] = time.time() - t
        save_output(model, tokenizer, gate_tokenizer, sft_dir)
        del cache, store, model
        sft_loss = float(np.mean([h["lm_loss"] for h in sft_hist[-50:]]))
        (run_dir / "sft_summary.json").write_text(json.dumps({"timings_s": timings, "sft_final_lm_loss": sft_loss}))

    t = time.time()
    grpo_dir = grpo_stage(sft_dir, run_dir / "grpo", s, question, system)
    timings["grpo_s"] = time.time() - t

    t = time.time()
    manifest = write_test_set(run_dir / "test", s.test_clips, s.test_seed)
    results = {"SFT only": evaluate(sft_dir, manifest), "SFT + GRPO": evaluate(grpo_dir, manifest)}
    timings["eval_s"] = time.time() - t

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(grpo_dir, out, ignore=shutil.ignore_patterns("checkpoint-*", "runs", "metrics.csv",
                                                                 "training_args.bin"))
    summary = {"settings": asdict(s), "timings_s": timings, "results": results, "sft_final_lm_loss": sft_loss}
    write_model_card(out, summary)
    write_counterfactual_bank(out)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    logger.info("demo checkpoint written to %s: %s", out, json.dumps(results))
    return summary


def write_counterfactual_bank(out: Path) -> None:
    """The model's own phrasings per (modality, label): the alternatives of contrastive claim support."""
    from r1omni.explain.contrast import BANK_FILE, bank_to_json
    from r1omni.synthetic import PHRASES

    (out / BANK_FILE).write_text(bank_to_json(PHRASES))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from training.sft import setup_logging

    p = argparse.ArgumentParser(description="Build the demo checkpoint from scratch (CPU, about 30 minutes).")
    p.add_argument("--out", type=Path, default=Path("assets/demo-checkpoint"), help="checkpoint folder to write")
    p.add_argument("--run-dir", type=Path, default=Path("runs/demo"), help="intermediate checkpoints, logs, test set")
    p.add_argument("--recipe", type=Path, default=RECIPE, help="YAML with a `demo:` section")
    p.add_argument("--from-sft", action="store_true", help="reuse RUN_DIR/sft and redo only GRPO + evaluation")
    for f in fields(DemoSettings):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None, dest=f.name)
    a = p.parse_args(argv)
    setup_logging()
    settings = DemoSettings.from_recipe(a.recipe, **{f.name: getattr(a, f.name) for f in fields(DemoSettings)})
    a.run_dir.mkdir(parents=True, exist_ok=True)
    return build(a.out, a.run_dir, settings, from_sft=a.from_sft)


if __name__ == "__main__":
    main()
