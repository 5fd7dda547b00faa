"""A scoring session: teacher forcing of many perturbed copies of clips, computing what they share only once.

`ScoringSession(pipe, question)` owns the caches that make an explanation cost little more than the
prediction it explains:

- tower outputs per distinct frame (SigLIP has no cross-frame attention) and audio tokens per distinct
  audio input (Whisper + pooling + projector); the clip's own come from `predict` when the session watches
  it (`with session.watch(): pipe.predict(...)`), the baselines (grey frames, silence audio tokens) are
  computed once per checkpoint and kept with the pipeline;
- prompt KV caches: the clip's full prompt (from the generation's own cache when watched) and the
  baseline prompt (grey video + silence audio, constant per checkpoint and question). Each variant is fed
  from the longest prefix it shares with one of them: the system turn is shared by all, system turn +
  video tokens by every variant whose video is unchanged, and up to the first changed audio token by a
  token-level audio occlusion. A variant whose whole prompt equals a cached one (the all-inputs and the
  empty coalition) feeds only its completion.

Variants are `MediaInputs` built by the pipeline's perturbations; `MediaInputs.silenced_audio_tokens`
(token-level audio occlusion) is honoured here. `cache=False` scores every variant from scratch through the
same splice (towers per variant, no prefix KV): the reference the cached path must equal. Only the
projector (which mixes frames) runs per distinct frame combination. The session knows the model's hooks
(`vision_tower`, `mm_projector`, `get_audio_features`, `embed_tokens`); it knows nothing about attribution.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from r1omni.inference import completion_logprobs

_BASELINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pipe -> _Baselines


@dataclass
class _Baselines:
    """Per checkpoint: tower output of the grey frames, silence audio tokens, baseline prompt KV per question."""

    grey: torch.Tensor  # (T, P, C)
    silence: torch.Tensor  # (Na, D)
    prompts: dict  # question -> _Prompt


@dataclass
class _Prompt:
    """A cached full-prompt KV cache with the media it was computed for."""

    video_key: tuple  # frame ids in the session's frame table (grey frames: ("grey", t))
    audio: torch.Tensor  # (Na, D) audio tokens
    kv: list  # per layer (keys, values), each (1, H, P, Dh)


class _Table:
    """Tensors deduplicated by value (cheap fingerprint first, then exact comparison) -> small int ids."""

    def __init__(self):
        self.items: list[torch.Tensor] = []
        self.values: list[object] = []
        self._by_fp: dict[tuple, list[int]] = {}

    def find(self, t: torch.Tensor) -> int | None:
        for j in self._by_fp.get(self._fp(t), []):
            if torch.equal(self.items[j], t):
                return j
        return None

    def add(self, t: torch.Tensor, value=None) -> int:
        j = self.find(t)
        if j is None:
            self.items.append(t)
            self.values.append(value)
            j = len(self.items) - 1
            self._by_fp.setdefault(self._fp(t), []).append(j)
        elif value is not None and self.values[j] is None:
            self.values[j] = value
        return j

    @staticmethod
    def _fp(t: torch.Tensor) -> tuple:
        return (tuple(t.shape), round(float(t.float().sum()), 3))


class ScoringSession:
    """Teacher-forced per-token log-probs of perturbed clips with shared work done once (module docstring)."""

    def __init__(self, pipe, question: str | None = None, cache: bool = True):
        self.pipe = pipe
        self.question = question
        self.cache = cache
        self.mm = pipe.model.model
        self.prompt = pipe.prompt_ids(question)
        ids = torch.tensor(self.prompt)
        vmask, amask = self.mm.get_placeholder_mask(ids[None])
        self.video_pos = vmask[0].nonzero()[:, 0]
        self.audio_pos = amask[0].nonzero()[:, 0]
        self.video_start = int(self.video_pos[0])
        self.audio_start = int(self.audio_pos[0])
        if not (bool((self.video_pos.diff() == 1).all()) and bool((self.audio_pos.diff() == 1).all())
                and self.video_start < self.audio_start):
            raise ValueError("the prompt must hold one block of video placeholders, then one of audio")
        self._frames = _Table()  # distinct frames -> tower output (P, C)
        self._audio = _Table()  # distinct log-mel inputs -> audio tokens (Na, D)
        self._clips: list[_Prompt] = []  # full-prompt KV of clips seen in a watched generation
        self._watch: dict | None = None
        with torch.inference_mode():
            gate = pipe.gate_inputs(question)
            self.gate = self.mm.get_gate_probs(**{k: v.to(pipe.device) for k, v in gate.items()})  # (1, 3)

    # ------------------------------------------------------------------ baselines (once per checkpoint)
    def baselines(self) -> _Baselines:
        """Grey-frame tower output and silence audio tokens of this checkpoint, computed on first use."""
        found = _BASELINES.get(self.pipe)
        if found is None:
            with torch.inference_mode():
                grey = self._encode_frames(list(self.pipe.mask_pixels()))
                silence = self._encode_audio([self.pipe.silence_features()])[0]
            found = _Baselines(grey, silence, {})
            _BASELINES[self.pipe] = found
        return found

    def silence_tokens(self) -> torch.Tensor:
        """(Na, D) audio tokens of silence: what a token-level audio occlusion puts in place."""
        return self.baselines().silence

    # ------------------------------------------------------------------ watching a prediction
    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Keep the tower outputs and the prompt KV cache of the clips `pipe.predict` runs meanwhile."""
        if not self.cache:
            yield
            return
        self._watch = {"frames": [], "audio": []}
        hooks = [
            self.mm.vision_tower.register_forward_hook(lambda mod, inp, out: self._watch["frames"].append(
                (inp[0].detach(), out.detach()))),
            self.mm.audio_projector.register_forward_hook(lambda mod, inp, out: self._watch["audio"].append(
                out.detach())),
        ]
        self.pipe.generation_observers.append(self._observe)
        try:
            yield
        finally:
            for h in hooks:
                h.remove()
            self.pipe.generation_observers.remove(self._observe)
            self._watch = None

    def _observe(self, media: Sequence, state) -> None:
        """Called by `label_distribution` with a generation's media and state: file towers and prompt KV."""
        seen = dict(self._watch)
        self._watch["frames"], self._watch["audio"] = [], []
        t = self.pipe.num_frames
        if not seen["frames"] or not seen["audio"]:
            return
        pixels = torch.cat([p for p, _ in seen["frames"]])
        outs = torch.cat([o for _, o in seen["frames"]])
        audio = torch.cat(seen["audio"])
        if pixels.shape[0] != t * len(media) or audio.shape[0] != len(media):
            return  # not one tower pass per clip of this generation: do not guess
        n = len(self.prompt)
        mask = state.prompt_mask
        for i, m in enumerate(media):
            mine = pixels[i * t : (i + 1) * t].cpu()
            if not torch.equal(mine, m.pixel_values_videos.to(mine.dtype)):
                continue
            keys = [self._frames.add(m.pixel_values_videos[j], outs[i * t + j]) for j in range(t)]
            self._audio.add(m.input_features, audio[i])
            pad = int((mask[i] == 0).sum())
            if state.cache is None or mask.shape[1] - pad != n:
                continue
            kv = [(layer.keys[i : i + 1, :, pad : pad + n], layer.values[i : i + 1, :, pad : pad + n])
                  for layer in state.cache.layers]
            self._clips.append(_Prompt(tuple(keys), audio[i], kv))

    def forget_clips(self) -> None:
        """Drop the clips' cached towers and prompt KV (the checkpoint baselines stay)."""
        self._clips.clear()
        self._frames = _Table()
        self._audio = _Table()

    # ------------------------------------------------------------------ scoring
    @torch.inference_mode()
    def token_logprobs(self, media: Sequence, completions: Sequence[list[int]], batch_size: int = 32
                       ) -> list[torch.Tensor]:
        """Per-token teacher-forced log-probs of `completions[i]` under the (perturbed) clip `media[i]`."""
        if not media:
            return []
        video_keys, video = self._video_tokens(media)
        audio = self._audio_tokens(media)
        if self.cache:  # a video shared by several variants and by no cached prompt: cache its prompt once
            known = {src.video_key for src in self._sources()}
            counts: dict[tuple, int] = {}
            for k in video_keys:
                counts[k] = counts.get(k, 0) + 1
            for i, k in enumerate(video_keys):
                if counts[k] > 1 and k not in known:
                    self._clips.append(_Prompt(k, audio[i], self._prompt_kv(video[i], audio[i])))
                    known.add(k)
        plan = [self._prefix(video_keys[i], audio[i]) for i in range(len(media))]
        groups: dict[tuple, list[int]] = {}
        for i, (src, shared) in enumerate(plan):
            groups.setdefault((id(src), shared, len(completions[i])), []).append(i)
        out: list[torch.Tensor | None] = [None] * len(media)
        for (_, shared, _), rows in groups.items():
            src = plan[rows[0]][0]
            for start in range(0, len(rows), max(1, batch_size)):
                chunk = rows[start : start + batch_size]
                res = self._forward(src, shared, [video[i] for i in chunk], [audio[i] for i in chunk],
                                    [completions[i] for i in chunk])
                for i, lp in zip(chunk, res, strict=True):
                    out[i] = lp
        return out  # type: ignore[return-value]

    def _video_tokens(self, media) -> tuple[list[tuple], list[torch.Tensor]]:
        """Per variant: its frame key and its video tokens (Nv, D) (projector per distinct frame combination)."""
        t = self.pipe.num_frames
        if not self.cache:
            out = []
            for m in media:
                feats = self._encode_frames(list(m.pixel_values_videos))
                out.append(self.mm.mm_projector(feats[None], self.gate)[0])
            return [("variant", i) for i in range(len(media))], out
        base = self.baselines()
        grey = self.pipe.mask_pixels()
        keys = []
        for m in media:
            key = []
            for j in range(t):
                if torch.equal(m.pixel_values_videos[j], grey[j]):
                    key.append(("grey", j))
                else:
                    key.append(self._frames.add(m.pixel_values_videos[j]))
            keys.append(tuple(key))
        todo = [j for j, v in enumerate(self._frames.values) if v is None]
        if todo:
            enc = self._encode_frames([self._frames.items[j] for j in todo])
            for k, j in enumerate(todo):
                self._frames.values[j] = enc[k]
        distinct = list(dict.fromkeys(keys))
        proj = {}
        for start in range(0, len(distinct), 32):
            part = distinct[start : start + 32]
            feats = torch.stack([torch.stack([base.grey[k[1]] if isinstance(k, tuple) else self._frames.values[k]
                                              for k in key]) for key in part])  # (b, T, P, C)
            for key, v in zip(part, self.mm.mm_projector(feats, self.gate.expand(len(part), -1)), strict=True):
                proj[key] = v
        return keys, [proj[k] for k in keys]

    def _audio_tokens(self, media) -> list[torch.Tensor]:
        """Per variant: (Na, D) audio tokens, its silenced tokens replaced by the silence tokens."""
        if not self.cache:
            toks = [self._encode_audio([m.input_features])[0] for m in media]
        else:
            ids = [self._audio.add(m.input_features) for m in media]
            todo = [j for j, v in enumerate(self._audio.values) if v is None]
            silence = self.pipe.silence_features()
            for j in list(todo):
                if torch.equal(self._audio.items[j], silence):
                    self._audio.values[j] = self.baselines().silence
                    todo.remove(j)
            for start in range(0, len(todo), 16):
                part = todo[start : start + 16]
                for j, v in zip(part, self._encode_audio([self._audio.items[j] for j in part]), strict=True):
                    self._audio.values[j] = v
            toks = [self._audio.values[j] for j in ids]
        out = []
        for m, tok in zip(media, toks, strict=True):
            silenced = list(getattr(m, "silenced_audio_tokens", ()) or ())
            if silenced:
                tok = tok.clone()
                tok[silenced] = (self.baselines().silence if self.cache else
                                 self._encode_audio([self.pipe.silence_features()])[0])[silenced]
            out.append(tok)
        return out

    def _encode_frames(self, frames: list[torch.Tensor], chunk: int = 64) -> torch.Tensor:
        """(N, 3, S, S) -> vision tower output (N, P, C)."""
        pipe = self.pipe
        outs = [self.mm.vision_tower(torch.stack(frames[i : i + chunk]).to(pipe.device, pipe.dtype))
                for i in range(0, len(frames), chunk)]
        return torch.cat(outs)

    def _encode_audio(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.mm.get_audio_features(torch.stack(feats).to(self.pipe.device, self.pipe.dtype))

    def _prefix(self, video_key: tuple, audio: torch.Tensor) -> tuple[_Prompt | None, int]:
        """The cached prompt KV this variant shares the longest prefix with, and that prefix's length."""
        if not self.cache:
            return None, 0
        best, shared = None, 0
        for src in self._sources():
            if src.video_key == video_key:
                diff = (src.audio != audio).any(-1).nonzero()
                n = len(self.prompt) if len(diff) == 0 else self.audio_start + int(diff[0])
            else:
                n = self.video_start
            if n > shared:
                best, shared = src, n
        return best, shared

    def _sources(self) -> list[_Prompt]:
        base = self.baselines()
        if self.question not in base.prompts:
            t = self.pipe.num_frames
            key = tuple(("grey", j) for j in range(t))
            video = self.mm.mm_projector(base.grey[None], self.gate)[0]
            kv = self._prompt_kv(video, base.silence)
            base.prompts[self.question] = _Prompt(key, base.silence, kv)
        return [base.prompts[self.question], *self._clips]

    def _embeds(self, ids: list[int], video: Sequence[torch.Tensor], audio: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, L, D) embeddings of one id sequence per row with the rows' media tokens spliced in."""
        t = torch.tensor(ids, device=self.pipe.device)
        emb = self.mm.embed_tokens(t.masked_fill(t < 0, 0))[None].repeat(len(video), 1, 1)
        emb[:, self.video_pos] = torch.stack(list(video)).to(emb.dtype)
        emb[:, self.audio_pos] = torch.stack(list(audio)).to(emb.dtype)
        return emb

    def _prompt_kv(self, video: torch.Tensor, audio: torch.Tensor) -> list:
        emb = self._embeds(self.prompt, [video], [audio])
        n = emb.shape[1]
        pos = torch.arange(n, device=emb.device)[None]
        _, cache = self.pipe.hidden_states(inputs_embeds=emb, attention_mask=torch.ones_like(pos), position_ids=pos,
                                           use_cache=True)
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _forward(self, src: _Prompt | None, shared: int, video, audio, completions) -> list[torch.Tensor]:
        """Rows sharing the first `shared` prompt positions of `src`: feed the rest + completion, score it."""
        n = len(completions[0])
        ids = self.prompt + list(completions[0])
        emb = self._embeds(ids, video, audio)  # completions of one group have the same length
        for r, c in enumerate(completions[1:], start=1):
            emb[r, len(self.prompt) :] = self.mm.embed_tokens(torch.tensor(c, device=emb.device))
        b, total = emb.shape[0], emb.shape[1]
        cache = None
        if src is not None and shared > 0:
            shared = min(shared, len(self.prompt) - 1)  # the last prompt position predicts completion token 0
            cache = DynamicCache(ddp_cache_data=[(k[..., :shared, :].expand(b, -1, -1, -1),
                                                  v[..., :shared, :].expand(b, -1, -1, -1)) for k, v in src.kv])
        pos = torch.arange(shared if cache is not None else 0, total, device=emb.device)[None].expand(b, -1)
        att = torch.ones((b, total), dtype=torch.long, device=emb.device)
        hidden, _ = self.pipe.hidden_states(inputs_embeds=emb[:, pos[0]], attention_mask=att, position_ids=pos,
                                            cache=cache, use_cache=cache is not None)
        return completion_logprobs(hidden[:, -(n + 1) :], self.pipe.model.get_output_embeddings(), completions)
