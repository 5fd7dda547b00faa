"""Build the demo checkpoint on CPU: `python -m training.demo --out assets/demo-checkpoint`.

Stages (settings in training/recipes/demo.yaml, section `demo:`; every seed is fixed):
  init      with `init_from` (a folder, or `git:REV:PATH` read from this repository's history): copy every
            tensor of an earlier demo checkpoint that fits (towers, projectors, gate, LM layers) and transplant
            its token embeddings into the new tokenizer's vocabulary; stage (a) is skipped. Without it the
            model starts from random weights and stage (a) runs.
  data      render synthetic clips in memory (r1omni.synthetic, no mp4): 8 sampled frames + log-mel each;
            kept in RUN_DIR/cache so a rerun does not render them again.
  (a)       pretrain the vision tower + visual projector and the audio tower + audio projector with
            auxiliary 7-way heads (the label that modality shows; neutral when it has no cue), on the
            tower features (max-pooled) AND on the mean of each projector's output tokens, so the label
            is dense in the tokens the LM reads (a tiny LM does not learn to pick sparse video cues out
            by attention: shared/reference/demo-feasibility.md).
  (b)       freeze the towers, cache their outputs per clip, cold-start SFT of projectors + gate + LM on
            truthful EMER-style reasoning (`r1omni.synthetic.build_reasoning`, training phrasings only); in
            two-cue clips one modality is dropped at random (replaced by its mask baseline, grey frames /
            silence) and the target says it is calm, so the LM must read both. The projector aux heads stay
            on as a small regulariser.
  (c)       GRPO with OmniGRPOTrainer (accuracy + format + claims rewards), short.
  (d)       save with r1omni.checkpoint.save_checkpoint, evaluate SFT-only and SFT+GRPO on a fresh test
            set written as real mp4 files (seed never used in training) through r1omni.Pipeline, write
            the model card.

The LM tokenizer is trained on the grammar's TRAINING wording only (held-out phrasings still encode: the
tokenizer is byte-level BPE). The aux heads and the tower cache exist only during the build; the checkpoint
has the R1-Omni layout.
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
    lm_vocab_size: int = 1024
    init_from: str = ""
    init_from_note: str = ""  # what the init_from checkpoint was (the model card says it)
    projector_warmup_steps: int = 0
    # decoding setting written into the checkpoint's generation_config.json (0: none); the evaluation and
    # every user of the checkpoint decode with it (transformers reads it), so the card's numbers include it
    no_repeat_ngram_size: int = 0

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


def cpu_grpo_config(s: Any, out_dir: Path, seed: int, **extra: Any):
    """The GRPOConfig of the CPU builds and experiments (demo, grounding demonstration, grounding arms): the
    `grpo_*` settings of `s`, T=1 sampling, group-scaled rewards, one pass per batch, no saving, constant lr."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(out_dir), max_steps=s.grpo_steps, per_device_train_batch_size=s.grpo_batch,
        gradient_accumulation_steps=1, num_generations=s.grpo_generations, learning_rate=s.grpo_lr,
        beta=s.grpo_beta, temperature=1.0, max_completion_length=s.grpo_max_completion_length,
        loss_type="grpo", scale_rewards="group", num_iterations=1, logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False, seed=seed,
        lr_scheduler_type="constant", dataloader_num_workers=0, **extra,
    )


def grpo_stage(sft_dir: Path, out_dir: Path, s: DemoSettings, question: str, system: str) -> Path:
    """Stage (c): OmniGRPOTrainer from the saved SFT checkpoint, on a subset of the training clips."""
    from r1omni.config import load_config
    from r1omni.synthetic.clips import plan_specs
    from training import grpo
    from training.data import EncodedClip, MediaEncoder
    from training.sft import ScriptArguments

    cfg = load_config(sft_dir)
    rng = np.random.default_rng([s.seed, 3])
    chosen = sorted(rng.choice(s.train_clips, min(s.grpo_clips, s.train_clips), replace=False).tolist())
    full = store_cached(s.train_clips, s.train_seed, cfg, sft_dir.parent / "cache")
    store = ClipStore([full.specs[i] for i in chosen], full.frames[chosen], full.mels[chosen])
    del full
    logger.info("GRPO on %d training clips", len(chosen))
    records = []
    for i, spec in enumerate(store.specs):
        records.append({"prompt": question, "clip_index": i, "label": spec.label,
                        "solution": f"<answer> {spec.label} </answer>", "cue_modality": spec.cue_modality,
                        "video_label": spec.video_label, "audio_label": spec.audio_label})

    script = ScriptArguments(model_name_or_path=str(sft_dir), system_prompt=system,
                             reward_funcs=["accuracy_reward", "format_reward", "claims_reward"])
    args = cpu_grpo_config(s, out_dir, s.seed)

    def clip_fn(row: dict[str, Any]) -> EncodedClip:
        i = int(row["clip_index"])
        return EncodedClip(pixels_of(store.frames[i : i + 1], cfg.image_size)[0], store.mels[i].float())

    from r1omni.checkpoint import load_tokenizers

    _, gate_tok = load_tokenizers(sft_dir)
    encoder = MediaEncoder(cfg, gate_tok, clip_fn=clip_fn)
    return grpo.main(script, args, media_encoder=encoder, records=records)


# ---------------------------------------------------------------------------------------------------------------
# the build


def build_tokenizers_for_demo(question: str, system: str, vocab_size: int = 1024):
    """LM + gate tokenizers over the reasoning grammar's TRAINING corpus and the chat prompt.

    Held-out phrasings are left out of the LM tokenizer's corpus on purpose: byte-level BPE encodes any
    text, so held-out wording still tokenizes (into pieces learnt from the training wording), but nothing
    about it shapes the vocabulary the model is trained with."""
    from r1omni.prompts import build_prompt
    from r1omni.synthetic import corpus_lines
    from r1omni.tokenization import build_bert_tokenizer, build_lm_tokenizer

    corpus = corpus_lines("train") + [build_prompt(question, system), question]
    return build_lm_tokenizer(corpus, vocab_size=vocab_size), build_bert_tokenizer([question], vocab_size=512)


def resolve_init_from(spec: str, scratch: Path) -> Path:
    """The folder of an earlier demo checkpoint: a path, or `git:REV:PATH` (the files of PATH at revision REV
    of this repository, written under `scratch`; a fresh clone has them in its history)."""
    import subprocess

    if not spec.startswith("git:"):
        return Path(spec)
    _, rev, path = spec.split(":", 2)
    repo = Path(__file__).resolve().parent.parent
    names = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", rev, path], check=True,
                           capture_output=True, text=True).stdout.split()
    if not names:
        raise FileNotFoundError(f"init_from {spec}: nothing at {path} in revision {rev}")
    dest = scratch / f"init-{rev}"
    for name in names:
        out = dest / Path(name).relative_to(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{name}"], check=True,
                                       capture_output=True).stdout)
    return dest


EMBEDDINGS = ("model.embed_tokens.weight", "lm_head.weight")


@torch.no_grad()
def init_from_checkpoint(model, tokenizer, source: Path) -> dict[str, int]:
    """Start from an earlier demo checkpoint: every tensor whose name and shape fit is copied (towers,
    projectors, gate, LM layers); the token embeddings (tied LM head) are transplanted through the
    tokenizers: a token of the new vocabulary gets the mean old embedding of the old tokens its text
    encodes to (its own row when the old vocabulary has the same token)."""
    from safetensors.torch import load_file

    from r1omni.checkpoint import load_tokenizers

    state = {}
    for f in sorted(Path(source).glob("*.safetensors")):
        state.update(load_file(str(f)))
    if not state:
        raise FileNotFoundError(f"init_from: no safetensors in {source}")
    own = model.state_dict()
    fit = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and k not in EMBEDDINGS}
    model.load_state_dict(fit, strict=False)
    old_tok = load_tokenizers(Path(source))[0]
    old_emb = state["model.embed_tokens.weight"]
    new_emb = model.get_input_embeddings().weight
    old_vocab = old_tok.get_vocab()
    same = pieces = 0
    for token, i in tokenizer.get_vocab().items():
        if token in old_vocab and old_vocab[token] < old_emb.shape[0]:
            new_emb[i] = old_emb[old_vocab[token]]
            same += 1
            continue
        ids = [j for j in old_tok.encode(tokenizer.convert_tokens_to_string([token]), add_special_tokens=False)
               if j < old_emb.shape[0]]
        if ids:
            new_emb[i] = old_emb[ids].mean(0)
            pieces += 1
    if not model.config.tie_word_embeddings and "lm_head.weight" in own:
        model.get_output_embeddings().weight.copy_(new_emb)
    return {"tensors": len(fit), "of": len(own), "tokens_same": same, "tokens_from_pieces": pieces}


def store_cached(n: int, seed: int, config, cache_dir: Path) -> ClipStore:
    """`render_store(n, seed)`, kept on disk under `cache_dir` (specs as manifest rows, frames, log-mels), so a
    rerun of the build does not render the clips again."""
    from r1omni.synthetic.clips import ClipSpec

    path = cache_dir / f"clips-{n}-{seed}-{config.num_frames}x{config.image_size}.npz"
    if path.is_file():
        data = np.load(path, allow_pickle=False)
        specs = [ClipSpec.from_row(r) for r in json.loads(str(data["specs"]))]
        return ClipStore(specs, data["frames"], torch.from_numpy(data["mels"]))
    store = render_store(n, seed, config)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, frames=store.frames, mels=store.mels.numpy(),
             specs=np.array(json.dumps([s.to_row() for s in store.specs])))
    tmp.rename(path)
    return store


def warm_up_projectors(model, gate_tokenizer, heads: AuxHeads, store: ClipStore, cache, s: DemoSettings,
                       question: str) -> None:
    """Projectors (+ their aux heads) alone on cached tower outputs: per-frame and per-clip labels become
    dense in the tokens the LM reads before SFT starts (stage (a) without the towers)."""
    bb, cfg = model.model, model.config
    vis, aud = cache
    params = [*bb.mm_projector.parameters(), *bb.audio_projector.parameters(), *heads.video_tokens.parameters(),
              *heads.audio_tokens.parameters()]
    opt = torch.optim.AdamW(params, lr=s.pretrain_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(30, s.projector_warmup_steps))
    rng = np.random.default_rng([s.seed, 4])
    v_all, a_all = store.frame_labels(), store.audio_labels()
    t0, hist = time.time(), []
    with cached_towers(bb), capture_outputs({"mm_projector": bb.mm_projector,
                                             "audio_projector": bb.audio_projector}) as seen:
        for step in range(1, s.projector_warmup_steps + 1):
            idx = torch.from_numpy(rng.choice(len(store.specs), s.pretrain_batch, replace=False))
            gate = bb.get_gate_probs(**gate_batch(gate_tokenizer, question, len(idx))).detach()
            bb.get_video_features(vis[idx].float().unsqueeze(-1), gate)
            bb.get_audio_features(pack_audio(aud[idx].float(), 128, cfg.audio_num_frames))
            losses = aux_losses(bb, heads, seen, v_all[idx], a_all[idx], towers=False)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            hist.append({k: v.item() for k, v in losses.items()})
            if step % 50 == 0 or step == s.projector_warmup_steps:
                avg = {k: np.mean([h[k] for h in hist[-50:]]) for k in hist[-1]}
                logger.info("projector warm-up %d/%d %.0fs %s", step, s.projector_warmup_steps, time.time() - t0,
                            " ".join(f"{k}={v:.3f}" for k, v in avg.items()))


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
    from training.evaluate import evaluate
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
        tokenizer, gate_tokenizer = build_tokenizers_for_demo(question, system, s.lm_vocab_size)
        init = resolve_init_from(s.init_from, run_dir) if s.init_from else None
        if init is not None:  # the gate's tokenizer goes with its BERT encoder
            from r1omni.checkpoint import load_tokenizers

            gate_tokenizer = load_tokenizers(init)[1]
        config = preset_config(s.preset, vocab_size=len(tokenizer), bert_vocab_size=len(gate_tokenizer))
        config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
        model = HumanOmniQwen2ForCausalLM(config)
        logger.info("model: %.2f M parameters, LM vocab %d", sum(p.numel() for p in model.parameters()) / 1e6,
                    len(tokenizer))
        if init is not None:
            info = init_from_checkpoint(model, tokenizer, init)
            logger.info("init from %s: %s (stage (a) skipped)", s.init_from, info)

        store = store_cached(s.train_clips, s.train_seed, config, run_dir / "cache")
        timings["data_s"] = time.time() - t
        logger.info("rendered %d training clips in %.0fs", s.train_clips, timings["data_s"])

        t = time.time()
        if init is not None:
            heads = AuxHeads(model.config)
            cache = cache_tower_outputs(model, store)
            if s.projector_warmup_steps:
                warm_up_projectors(model, gate_tokenizer, heads, store, cache, s, question)
        else:
            heads = pretrain_towers(model, gate_tokenizer, store, s, question)
            cache = None
        timings["pretrain_s"] = time.time() - t

        t = time.time()
        cache = cache if cache is not None else cache_tower_outputs(model, store)
        sft_hist = sft_stage(model, tokenizer, gate_tokenizer, heads, store, cache, s, question, system)
        timings["sft_s"] = time.time() - t
        save_output(model, tokenizer, gate_tokenizer, sft_dir)
        del cache, store, model
        sft_loss = float(np.mean([h["lm_loss"] for h in sft_hist[-50:]]))
        (run_dir / "sft_summary.json").write_text(json.dumps({"timings_s": timings, "sft_final_lm_loss": sft_loss}))

    t = time.time()
    grpo_dir = grpo_stage(sft_dir, run_dir / "grpo", s, question, system)
    timings["grpo_s"] = time.time() - t

    for folder in (sft_dir, grpo_dir):
        set_generation_config(folder, no_repeat_ngram_size=s.no_repeat_ngram_size)
    t = time.time()
    manifest = write_test_set(run_dir / "test", s.test_clips, s.test_seed)
    results = {"SFT only": evaluate(sft_dir, manifest), "SFT + GRPO": evaluate(grpo_dir, manifest)}
    timings["eval_s"] = time.time() - t

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(grpo_dir, out, ignore=shutil.ignore_patterns("checkpoint-*", "runs", "metrics.csv",
                                                                 "training_args.bin"))
    summary = {"settings": asdict(s), "timings_s": timings, "results": results, "sft_final_lm_loss": sft_loss}
    write_demo_card(out, summary)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    logger.info("demo checkpoint written to %s: %s", out, json.dumps(results))
    return summary


def _reasoning_quality() -> str:
    """The card's paragraph on reasoning quality, from bench/results/demo_reasoning.json when it is there."""
    path = Path(__file__).resolve().parent.parent / "bench" / "results" / "demo_reasoning.json"
    if not path.is_file():
        return ""
    rep = json.loads(path.read_text())
    if "after" not in rep:
        return ""
    r, n = rep["after"]["rates"], rep["after"]["counts"]["n"]
    before = rep.get("before", {}).get("rates")
    line = (f"## Reasoning quality\n`bench/demo_reasoning.py` on {n} of the test clips (greedy): "
            f"{r['completions_repeating_a_phrasing']:.0%} of completions repeat a cue phrasing, "
            f"{r['repeated_sentence_share']:.0%} of sentences repeat an earlier one, "
            f"{r['cued_clips_citing_their_cue']:.0%} of clips with a cue cite that cue, claim truthfulness "
            f"{r['claim_truthfulness']:.3f}")
    if before:
        line += (f" (the earlier bank-trained checkpoint: {before['completions_repeating_a_phrasing']:.0%}, "
                 f"{before['repeated_sentence_share']:.0%}, {before['cued_clips_citing_their_cue']:.0%}, "
                 f"{before['claim_truthfulness']:.3f})")
    plain = rep.get("after_without_ngram_blocking", {}).get("rates")
    if plain:
        line += (f". Without the checkpoint's n-gram blocking, greedy decoding repeats a clause it has just "
                 f"written in {plain['completions_repeating_a_phrasing']:.0%} of completions (\"the voice booms, "
                 "and the voice booms\"); with it some clauses come out clipped or loosely joined (\"the person "
                 "talks briefly\"). The cue claims stay mostly true")
    return line + ".\n"


def set_generation_config(folder: Path, **settings: int) -> None:
    """Write decoding settings into `folder/generation_config.json` (a value of 0 removes the key)."""
    path = folder / "generation_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    for key, value in settings.items():
        if value:
            config[key] = value
        else:
            config.pop(key, None)
    path.write_text(json.dumps(config, indent=2) + "\n")


def write_demo_card(out: Path, summary: dict[str, Any]) -> Path:
    """README.md of the demo checkpoint: what it is, how it was made, what it can and cannot do."""
    from r1omni.synthetic import grammar as g
    from training.evaluate import results_table

    s, t, res = summary["settings"], summary["timings_s"], summary["results"]
    n_test = next(iter(res.values()))["n"]
    size_mb = sum(p.stat().st_size for p in out.glob("*.safetensors")) / 1e6
    n_phr = {k: len(g.phrasings(k, "all")) for k in g.CORES}
    n_held = {k: len(g.phrasings(k, "heldout")) for k in g.CORES}
    if s.get("init_from"):
        note = s.get("init_from_note") or "an earlier demo checkpoint"
        start = (f"from the earlier demo checkpoint `{s['init_from']}` ({note}): its "
                 "towers, projectors, gate and LM layers are copied and its token embeddings transplanted into "
                 "the new vocabulary (each new token starts as the mean of the old tokens its text encodes to); "
                 "stage (a), tower pretraining, is not rerun")
    else:
        start = f"from scratch; towers + projectors pretrained with auxiliary heads ({s['pretrain_steps']} steps)"
    decoding = "greedy decoding"
    if s.get("no_repeat_ngram_size"):
        decoding += (f" with `no_repeat_ngram_size` {s['no_repeat_ngram_size']} (set in the checkpoint's "
                     "`generation_config.json`, so every user of the checkpoint decodes the same way)")
    text = f"""# R1-Omni Explain demo model (synthetic training data)

A tiny model with the **R1-Omni / HumanOmni module tree and code path** (SigLIP-style vision tower,
all_in_one_small projector with the BERT instruction gate, Whisper-style audio tower + MLP projector,
Qwen2 LM), at toy sizes, with its own small tokenizers. It exists so a fresh install has something honest
to run and explain. **It is not R1-Omni and knows nothing about real people or real emotions.**

## How it was made
`python -m training.demo --out assets/demo-checkpoint` (settings: `training/recipes/demo.yaml`), on a
shared 2-core CPU, {sum(t.values()) / 60:.0f} minutes, {start}:
1. {s['train_clips']} synthetic cue-controlled clips (`r1omni.synthetic`, seed {s['train_seed']}): a drawn face
   and a synthetic voice; the emotion shows only inside a cue window and only in the cue modality
   (video, audio or both); 7 DFEW labels.
2. Cold-start SFT of projectors + gate + LM ({s['sft_steps']} steps of {s['sft_batch']}, lr {s['sft_lr']}) on
   truthful EMER-style `<think>` reasoning written by the grammar of `r1omni.synthetic` (below); in two-cue
   clips one modality is masked at random and the reasoning says it is calm.
3. GRPO with `training.trainer.OmniGRPOTrainer` on TRL (accuracy + format + claims rewards,
   {s['grpo_steps']} steps, G={s['grpo_generations']}, beta={s['grpo_beta']}, lr={s['grpo_lr']}).

Weights: {size_mb:.1f} MB safetensors (float32). No `counterfactuals.json`: claims are contrasted with
rewrites of themselves (`r1omni.explain.rewrite`), as for any checkpoint.

## The reasoning it was trained on
Free-form sentences in the register of the EMER / R1-Omni cold-start explanations: a scene remark that is
true of every synthetic clip ("The background is a smooth color gradient."), a remark on what is said
("The speaker says a short phrase."), one to three cue clauses per sentence, of one or both modalities,
hedges ("..., which may suggest irritation"), concessions ("Although the voice stays calm and even, ..."),
and a conclusion with synonyms, sometimes naming several emotions ("Thus the person feels sorrow, perhaps
with some disappointment.", "The clearest reading is anger rather than disgust.").
- {min(n_phr.values())} cue phrasings per (modality, emotion) (15 core wordings x 3 owner words), written for
  what the clips really draw and voice (`r1omni/synthetic/grammar.py`).
- **Held out:** a fixed, seeded fifth ({min(n_held.values())} per (modality, emotion): whole core wordings, seed
  `HOLDOUT_SEED` = {g.HOLDOUT_SEED}) and a fifth of every other template list. The model never saw them;
  `bench/faithfulness.py` plants them to test claim flags on wording the model did not learn.
- The LM tokenizer (byte-level BPE, {s['lm_vocab_size']} asked, it saturates lower) is trained on the training
  wording only: held-out words still encode (byte-level BPE encodes anything) but shaped nothing.
- Every unit the grammar writes is recorded with its truth (modality, emotion, character span);
  `r1omni.synthetic.find_cues` / `check_claims` read the same inventory back from any text.

## Evaluation
{n_test} fresh synthetic clips (seed {s['test_seed']}, never used in training; written as mp4 and decoded
by the normal pipeline; all three cue modalities), {decoding}:

{results_table(res)}

Claim truthfulness = share of cue claims in `<think>` that are true for the clip (what the face / voice
actually showed), checked by `r1omni.synthetic.check_claims`.

{_reasoning_quality()}
## What it can do
- Answer with `<think>…</think><answer>label</answer>` on clips like its training data: one drawn face,
  one synthetic voice, an emotion cue in the face, the voice or both.
- Give free-form reasoning that cites the modalities, so the explanation and audit tools have real signal.

## What it cannot do
- Recognise emotions in real videos: it has never seen a real face or voice. Expect arbitrary answers.
- Understand language: its vocabulary is the synthetic reasoning grammar and the fixed question.
- Anything beyond the 7 DFEW labels.
"""
    path = out / "README.md"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from training.sft import setup_logging

    p = argparse.ArgumentParser(description="Build the demo checkpoint (CPU; training/recipes/demo.yaml).")
    p.add_argument("--out", type=Path, default=Path("assets/demo-checkpoint"), help="checkpoint folder to write")
    p.add_argument("--run-dir", type=Path, default=Path("runs/demo"), help="intermediate checkpoints, logs, test set")
    p.add_argument("--recipe", type=Path, default=RECIPE, help="YAML with a `demo:` section")
    p.add_argument("--from-sft", action="store_true", help="reuse RUN_DIR/sft and redo only GRPO + evaluation")
    p.add_argument("--card-only", action="store_true", help="rewrite OUT/README.md from RUN_DIR/summary.json")
    for f in fields(DemoSettings):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None, dest=f.name)
    a = p.parse_args(argv)
    setup_logging()
    settings = DemoSettings.from_recipe(a.recipe, **{f.name: getattr(a, f.name) for f in fields(DemoSettings)})
    if a.card_only:
        summary = json.loads((a.run_dir / "summary.json").read_text())
        write_demo_card(a.out, summary)
        return summary
    a.run_dir.mkdir(parents=True, exist_ok=True)
    return build(a.out, a.run_dir, settings, from_sft=a.from_sft)


if __name__ == "__main__":
    main()
