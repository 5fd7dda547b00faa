"""Teacher forcing of many perturbed copies of a clip, encoding every distinct media part only once.

Same contract as `Pipeline.token_logprobs(media, completions, question, batch_size)`, but faster for the
explainer's variants, which share most of their media: the vision tower runs per frame (SigLIP has no
cross-frame attention), so each distinct frame is encoded once and the grey baseline frames once per
pipeline; each distinct audio input (clip, silence, one silenced window) goes through the audio tower once.
Only the projector (which mixes frames) and the LM run per variant. Results are exact (same tensors as the
plain forward, up to float summation order). If the model lacks the hooks used here, it falls back to
`pipe.token_logprobs`. This helper lives with the explainers until the Pipeline offers the same.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence

import torch

from r1omni.inference import completion_logprobs, left_pad
from r1omni.media import grey_pixels

logger = logging.getLogger(__name__)

_GREY_TOWER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pipe -> (T, P, C) grey-frame tower output


class _Distinct:
    """Deduplicate tensors by value (cheap sum fingerprint, then exact comparison)."""

    def __init__(self):
        self.items: list[torch.Tensor] = []
        self._by_sum: dict[tuple, list[int]] = {}

    def index(self, t: torch.Tensor, key=()) -> int:
        fp = (*key, tuple(t.shape), round(float(t.float().sum()), 3))
        for j in self._by_sum.get(fp, []):
            if torch.equal(self.items[j], t):
                return j
        self.items.append(t)
        self._by_sum.setdefault(fp, []).append(len(self.items) - 1)
        return len(self.items) - 1


def _encode_frames(pipe, frames: list[torch.Tensor], chunk: int = 64) -> torch.Tensor:
    """(N, 3, S, S) -> vision tower output (N, P, C)."""
    mm = pipe.model.model
    outs = [mm.vision_tower(torch.stack(frames[i : i + chunk]).to(pipe.device, pipe.dtype))
            for i in range(0, len(frames), chunk)]
    return torch.cat(outs)


@torch.inference_mode()
def token_logprobs(pipe, media: Sequence, completions: Sequence[list[int]], question: str | None = None,
                   batch_size: int = 32) -> list[torch.Tensor]:
    """Per-token teacher-forced log-probs of `completions[i]` under `media[i]` (see module docstring)."""
    mm = getattr(getattr(pipe, "model", None), "model", None)
    if not all(hasattr(mm, a) for a in ("vision_tower", "mm_projector", "get_audio_features", "embed_tokens")):
        return pipe.token_logprobs(media, completions, question, batch_size=batch_size)
    gate = mm.get_gate_probs(**{k: v.to(pipe.device) for k, v in pipe.gate_inputs(question).items()})  # (1, 3)
    frames, audios = _Distinct(), _Distinct()
    grey = grey_pixels(pipe.num_frames, pipe.image_size)
    frame_idx = [[frames.index(m.pixel_values_videos[t], (t,)) for t in range(m.pixel_values_videos.shape[0])]
                 for m in media]
    audio_idx = [audios.index(m.input_features) for m in media]
    tower = _tower_outputs(pipe, frames.items, grey)
    out: list[torch.Tensor] = []
    for start in range(0, len(media), max(1, batch_size)):
        rows = range(start, min(len(media), start + batch_size))
        feats = torch.stack([tower[frame_idx[i]] for i in rows])  # (B, T, P, C)
        video = mm.mm_projector(feats, gate.expand(len(rows), -1))  # (B, Nv, D)
        distinct = sorted({audio_idx[i] for i in rows})
        enc = mm.get_audio_features(torch.stack([audios.items[j] for j in distinct]).to(pipe.device, pipe.dtype))
        audio = enc[[distinct.index(audio_idx[i]) for i in rows]]  # (B, Na, D)
        out += _lm_logprobs(pipe, [completions[i] for i in rows], video, audio, question)
    return out


def _tower_outputs(pipe, frames: list[torch.Tensor], grey: torch.Tensor) -> torch.Tensor:
    """Vision tower output of every distinct frame (N, P, C); grey baseline frames come from a per-pipe cache."""
    cached = _GREY_TOWER.get(pipe)
    if cached is None:
        cached = _encode_frames(pipe, list(grey))
        _GREY_TOWER[pipe] = cached
    todo, out = [], [None] * len(frames)
    for j, f in enumerate(frames):
        hit = next((t for t in range(grey.shape[0]) if torch.equal(grey[t], f)), None)
        if hit is not None:
            out[j] = cached[hit]
        else:
            todo.append(j)
    if todo:
        enc = _encode_frames(pipe, [frames[j] for j in todo])
        for k, j in enumerate(todo):
            out[j] = enc[k]
    return torch.stack(out)


def _lm_logprobs(pipe, completions, video: torch.Tensor, audio: torch.Tensor, question) -> list[torch.Tensor]:
    """LM forward over prompt + completion with the media features spliced in; logits on completions only."""
    mm = pipe.model.model
    prompt = pipe.prompt_ids(question)
    ids, att = left_pad([prompt + list(c) for c in completions], pipe.pad_id)
    ids, att = ids.to(pipe.device), att.to(pipe.device)
    vmask, amask = mm.get_placeholder_mask(ids)
    embeds = mm.embed_tokens(ids.masked_fill(ids < 0, 0))  # (B, L, D)
    embeds[vmask] = video.reshape(-1, video.shape[-1]).to(embeds.dtype)
    embeds[amask] = audio.reshape(-1, audio.shape[-1]).to(embeds.dtype)
    longest = max(len(c) for c in completions)
    hidden, _ = pipe.hidden_states(inputs_embeds=embeds, attention_mask=att,
                                   position_ids=(att.cumsum(-1) - 1).clamp(min=0), use_cache=False)
    return completion_logprobs(hidden[:, -(longest + 1) :], pipe.model.get_output_embeddings(), completions)
