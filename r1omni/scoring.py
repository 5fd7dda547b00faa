"""A scoring session: teacher forcing of many perturbed copies of clips, computing what they share only once.

`ScoringSession(pipe, question)` owns the caches that make an explanation cost little more than the
prediction it explains:

- tower outputs per distinct frame (SigLIP has no cross-frame attention) and audio tokens per distinct
  audio input (Whisper + pooling + projector); the clip's own come from `predict` when the session watches
  it (`with session.watch(): pipe.predict(...)`), the baselines (grey frames, silence audio tokens) are
  computed once per process and checkpoint and kept against the loaded model (`r1omni.model_cache`), so a
  wrapper of the pipeline (the app's progress reporter) or a new session reuses them;
- prompt KV caches: the clip's full prompt (from the generation's own cache when watched) and the
  baseline prompt (grey video + silence audio, constant per checkpoint and prompt; kept with the
  baselines). Each variant is fed from the longest prefix it shares with one of them: the system turn is
  shared by all, the video tokens up to the first changed frame (a `frame_causal` projector's tokens of a
  frame depend on earlier frames only), and up to the first changed audio token by a token-level audio
  occlusion. A variant whose whole
  prompt equals a cached one (the all-inputs and the empty coalition) feeds only its completion;
- video tokens: with a `frame_causal` projector, its per-frame stages run once per distinct frame and its
  temporal rest once per distinct (previous frame, frame) pair;
- kept completions: `token_logprobs(..., keep=...)` keeps a row's prompt + completion KV, and
  `fork_logprobs` scores alternative continuations of any prefix of it (contrastive claim support) with no
  forward of the prefix; the candidates of a row share one sequence under a tree attention mask.

Variants are `MediaInputs` built by the pipeline's perturbations; `MediaInputs.silenced_audio_tokens`
(token-level audio occlusion) is honoured here. `cache=False` scores every variant from scratch through the
same splice (towers and the whole projector per variant, no prefix KV): the reference the cached path must
equal. The session knows the model's hooks
(`vision_tower`, `mm_projector`, `get_audio_features`, `embed_tokens`); it knows nothing about attribution.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from r1omni.logprobs import fork_logprobs as run_forks
from r1omni.logprobs import head_logprobs
from r1omni.model_cache import cached

BASELINES_KEY = ("scoring baselines",)  # r1omni.model_cache key of a model's _Baselines


@dataclass
class _Baselines:
    """Per checkpoint: tower output of the grey frames, silence audio tokens, baseline prompt KV per question."""

    grey: torch.Tensor  # (T, P, C)
    silence: torch.Tensor  # (Na, D)
    prompts: dict  # prompt ids (question + system turn) -> _Prompt


@dataclass
class _Prompt:
    """A cached KV cache of the full prompt (and of the completion tokens `ids` after it, if any) with the
    media it was computed for."""

    video_key: tuple  # frame ids in the session's frame table (grey frames: ("grey", t))
    audio: torch.Tensor  # (Na, D) audio tokens
    kv: list  # per layer (keys, values), each (1, H, P + len(ids), Dh)
    ids: tuple = ()  # tokens after the prompt covered by kv


@dataclass
class _Row:
    """One sequence to feed: variant `index`'s media, all its ids (prompt + rest), the first scored position
    `start`, and the cached KV `src` whose first `shared` positions it continues (None / 0: from scratch)."""

    index: int
    ids: list
    start: int
    src: _Prompt | None
    shared: int


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for j in range(n):
        if a[j] != b[j]:
            return j
    return n


def _shared_prefix_cache(chunk: Sequence[_Row], c_max: int) -> DynamicCache:
    """KV cache of width `c_max` for a batch of rows: row j's first `r.shared` positions of its source's KV,
    right-aligned (left padding before them is masked by the caller). One source shared in full by every row
    is expanded as a view instead of copied."""
    b = len(chunk)
    ref = next(r.src for r in chunk if r.shared)
    same = all(r.src is ref and r.shared == c_max for r in chunk)
    layers = []
    for li in range(len(ref.kv)):
        k0, v0 = ref.kv[li]
        if same:
            k, v = k0[..., :c_max, :].expand(b, -1, -1, -1), v0[..., :c_max, :].expand(b, -1, -1, -1)
        else:
            k = k0.new_zeros((b, k0.shape[1], c_max, k0.shape[3]))
            v = v0.new_zeros((b, v0.shape[1], c_max, v0.shape[3]))
            for j, r in enumerate(chunk):
                if r.shared:
                    sk, sv = r.src.kv[li]
                    k[j, :, c_max - r.shared :] = sk[0, :, : r.shared]
                    v[j, :, c_max - r.shared :] = sv[0, :, : r.shared]
        layers.append((k, v))
    return DynamicCache(ddp_cache_data=layers)


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
        proj = self.mm.mm_projector
        self._frame_causal = bool(getattr(proj, "frame_causal", False))
        self._frame_tokens = len(self.video_pos) // pipe.num_frames
        self._frames = _Table()  # distinct frames -> tower output (P, C)
        self._audio = _Table()  # distinct log-mel inputs -> audio tokens (Na, D)
        self._proj: dict[tuple, torch.Tensor] = {}  # frame key -> video tokens (Nv, D) (projector output)
        self._parts: dict = {}  # frame id -> the projector's per-frame parts (frame_causal projectors)
        self._steps: dict = {}  # (previous frame id, frame id) -> that time step's video tokens
        self._clips: list[_Prompt] = []  # full-prompt KV of clips seen in a watched generation
        self._watch: dict | None = None
        self.gate = pipe.gate_probs(question)  # (1, 3), once per checkpoint and question

    # ------------------------------------------------------------------ baselines (once per checkpoint)
    def baselines(self) -> _Baselines:
        """Grey-frame tower output and silence audio tokens of this checkpoint, computed on first use."""
        def compute() -> _Baselines:
            # plain tensors, not inference tensors (a first caller may run in inference mode): usable by any
            # later caller, also in a computation tracked by autograd
            with torch.inference_mode(False), torch.no_grad():
                grey = self._encode_frames(list(self.pipe.mask_pixels()))
                silence = self._encode_audio([self.pipe.silence_features()])[0]
            return _Baselines(grey, silence, {})

        # kept against the loaded model (r1omni.model_cache), whatever object wraps the pipeline
        return cached(self.pipe, BASELINES_KEY, compute)

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
        self._proj, self._parts, self._steps = {}, {}, {}

    # ------------------------------------------------------------------ scoring
    @torch.inference_mode()
    def token_logprobs(self, media: Sequence, completions: Sequence[list[int]], batch_size: int = 32,
                       keep: Sequence[bool] | None = None) -> list[torch.Tensor]:
        """Per-token teacher-forced log-probs of `completions[i]` under the (perturbed) clip `media[i]`.

        `keep[i]`: also keep the KV cache of row i's prompt + completion (until `forget_clips`), so that
        `fork_logprobs` continues from any prefix of that completion under the same media without a forward."""
        if not media:
            return []
        video_keys, video, audio = self._media_tokens(media)
        if self.cache:  # a video shared by several variants and by no cached prompt: cache its prompt once
            known = {src.video_key for src in self._sources()}
            counts: dict[tuple, int] = {}
            for k in video_keys:
                counts[k] = counts.get(k, 0) + 1
            for i, k in enumerate(video_keys):
                if counts[k] > 1 and k not in known:
                    self._clips.append(_Prompt(k, audio[i], self._prompt_kv(video[i], audio[i])))
                    known.add(k)
        p = len(self.prompt)
        rows = []
        for i in range(len(media)):
            ids = self.prompt + list(completions[i])
            src, shared = self._prefix(video_keys[i], audio[i], completions[i])
            rows.append(_Row(i, ids, p, src, min(shared, p - 1)))
        want = [bool(keep[i]) and self.cache for i in range(len(media))] if keep is not None else None
        logps, kept = self._feed(rows, video, audio, batch_size, want)
        for i, kv in kept.items():
            self._clips.append(_Prompt(video_keys[i], audio[i], kv, tuple(completions[i][:-1])))
        return logps

    @torch.inference_mode()
    def fork_logprobs(self, media: Sequence, prefixes: Sequence[list[int]], candidates: Sequence[Sequence[list[int]]],
                      batch_size: int = 32) -> list[list[float]]:
        """Summed log-prob of each token sequence `candidates[i][k]` after the prompt, the (perturbed) clip
        `media[i]` and the completion tokens `prefixes[i]`.

        Row i continues the longest cached prefix of its prompt + prefix (a kept completion of the same media
        covers it all), feeds what is left of it once, and all its candidates after it in the same sequence:
        candidate k attends to the cache, the rest of the prefix and its own earlier tokens only (a tree
        attention mask), so K candidates cost their own tokens and one read of the prefix."""
        if not media:
            return []
        video_keys, video, audio = self._media_tokens(media)
        rows = []
        for i in range(len(media)):
            if candidates[i]:
                ids = self.prompt + list(prefixes[i])
                src, shared = self._prefix(video_keys[i], audio[i], prefixes[i])
                rows.append(_Row(i, ids, len(ids), src, min(shared, len(ids) - 1)))
        out: list[list[float]] = [[] for _ in candidates]
        rows.sort(key=lambda r: len(r.ids) - r.shared + sum(len(c) for c in candidates[r.index]))
        for b0 in range(0, len(rows), max(1, batch_size)):
            chunk = rows[b0 : b0 + batch_size]
            for r, scores in zip(chunk, self._forks(chunk, [candidates[r.index] for r in chunk], video, audio),
                                 strict=True):
                out[r.index] = scores
        return out

    def _forks(self, chunk: list[_Row], cands: list, video, audio) -> list[list[float]]:
        """One batch of rows through the fork engine (`r1omni.logprobs.fork_logprobs`): each row continues its
        cached prefix (right-aligned, left padding masked), feeds the rest of its prefix (ids[shared:]) once,
        and scores all its candidates after it."""
        c_max = max(r.shared for r in chunk)
        cache = _shared_prefix_cache(chunk, c_max) if c_max > 0 else None
        cache_mask = torch.zeros((len(chunk), c_max), dtype=torch.long, device=self.pipe.device)
        for j, r in enumerate(chunk):
            cache_mask[j, c_max - r.shared :] = 1
        rest = [self._embed_span(r.ids, r.shared, len(r.ids), video[r.index], audio[r.index]) for r in chunk]
        return run_forks(self.pipe, cache, cache_mask, rest, [r.shared for r in chunk], cands)

    def _media_tokens(self, media) -> tuple[list[tuple], list[torch.Tensor], list[torch.Tensor]]:
        video_keys, video = self._video_tokens(media)
        return video_keys, video, self._audio_tokens(media)

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
        proj = self._proj
        distinct = [k for k in dict.fromkeys(keys) if k not in proj]
        if distinct and self._frame_causal and hasattr(self.mm.mm_projector, "step_tokens"):
            self._project_by_steps(distinct, base)
            distinct = []
        for start in range(0, len(distinct), 32):
            part = distinct[start : start + 32]
            feats = torch.stack([torch.stack([base.grey[k[1]] if isinstance(k, tuple) else self._frames.values[k]
                                              for k in key]) for key in part])  # (b, T, P, C)
            for key, v in zip(part, self.mm.mm_projector(feats, self.gate.expand(len(part), -1)), strict=True):
                proj[key] = v
        return keys, [proj[k] for k in keys]

    def _project_by_steps(self, keys: list[tuple], base: _Baselines) -> None:
        """Video tokens of these frame keys, time step by time step: the projector's per-frame stages once per
        distinct frame, its temporal rest once per distinct (previous frame, frame) pair (`frame_causal`)."""
        proj = self.mm.mm_projector

        def tower(f):
            return base.grey[f[1]] if isinstance(f, tuple) else self._frames.values[f]

        frames = [f for f in dict.fromkeys(f for k in keys for f in k) if f not in self._parts]
        for start in range(0, len(frames), 64):
            part = frames[start : start + 64]
            for f, *xs in zip(part, *proj.frame_parts(torch.stack([tower(f) for f in part])), strict=True):
                self._parts[f] = tuple(xs)
        pairs = [pr for pr in dict.fromkeys((k[t - 1] if t else None, k[t]) for k in keys for t in range(len(k)))
                 if pr not in self._steps]
        for first in (True, False):
            todo = [pr for pr in pairs if (pr[0] is None) == first]
            for start in range(0, len(todo), 128):
                part = todo[start : start + 128]
                cur = tuple(torch.stack([self._parts[c][i] for _, c in part]) for i in range(3))
                prev = None if first else tuple(torch.stack([self._parts[a][i] for a, _ in part]) for i in range(3))
                for pr, tok in zip(part, proj.step_tokens(prev, cur, self.gate), strict=True):
                    self._steps[pr] = tok
        for k in keys:
            self._proj[k] = torch.cat([self._steps[(k[t - 1] if t else None, k[t])] for t in range(len(k))])

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

    def _prefix(self, video_key: tuple, audio: torch.Tensor, after: Sequence[int] = ()) -> tuple[_Prompt | None, int]:
        """The cached KV this variant (media, then the tokens `after` the prompt) shares the longest prefix
        with, and that prefix's length. With a projector whose frame tokens depend on earlier frames only
        (`frame_causal`), a changed frame keeps the tokens of the frames before it."""
        if not self.cache:
            return None, 0
        best, shared = None, 0
        for src in self._sources():
            if src.video_key == video_key:
                diff = (src.audio != audio).any(-1).nonzero()
                n = len(self.prompt) if len(diff) == 0 else self.audio_start + int(diff[0])
                if len(diff) == 0 and src.ids:
                    n += _common_prefix(src.ids, after)
            elif self._frame_causal and len(src.video_key) == len(video_key):
                first = next(j for j, (a, b) in enumerate(zip(src.video_key, video_key, strict=True)) if a != b)
                n = self.video_start + first * self._frame_tokens
            else:
                n = self.video_start
            if n > shared:
                best, shared = src, n
        return best, shared

    def _sources(self) -> list[_Prompt]:
        base = self.baselines()
        prompt = tuple(self.prompt)  # the question and the system turn
        if prompt not in base.prompts:
            t = self.pipe.num_frames
            key = tuple(("grey", j) for j in range(t))
            video = self.mm.mm_projector(base.grey[None], self.gate)[0]
            kv = self._prompt_kv(video, base.silence)
            base.prompts[prompt] = _Prompt(key, base.silence, kv)
        return [base.prompts[prompt], *self._clips]

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

    def _feed(self, rows: list[_Row], video, audio, batch_size: int, keep: Sequence[bool] | None = None
              ) -> tuple[list[torch.Tensor], dict[int, list]]:
        """Feed every row's ids from its cached prefix on, in batches of rows of similar length.

        Row r continues `r.src`'s KV at position `r.shared` (left-padded when rows differ), feeds
        ids[shared : -1] (media spliced at their placeholders, right-padded) and returns the log-probs of
        ids[start:], one tensor per row in order; with `keep[r.index]`, also that row's KV over ids[:-1]."""
        out: list[torch.Tensor | None] = [None] * len(rows)
        kept: dict[int, list] = {}
        order = sorted(range(len(rows)), key=lambda r: (len(rows[r].ids) - rows[r].shared, rows[r].shared))
        head = self.pipe.model.get_output_embeddings()
        dev = self.pipe.device
        for r in [r for r in order if len(rows[r].ids) - 1 <= rows[r].shared]:  # nothing to feed or score
            out[r] = torch.zeros(0)
        order = [r for r in order if len(rows[r].ids) - 1 > rows[r].shared]
        for b0 in range(0, len(order), max(1, batch_size)):
            idx = order[b0 : b0 + batch_size]
            chunk = [rows[r] for r in idx]
            b = len(chunk)
            c_max = max(r.shared for r in chunk)
            fed = [len(r.ids) - 1 - r.shared for r in chunk]
            f_max = max(fed)
            emb = torch.zeros((b, f_max, self.mm.embed_tokens.embedding_dim), device=dev,
                              dtype=self.mm.embed_tokens.weight.dtype)
            att = torch.zeros((b, c_max + f_max), dtype=torch.long, device=dev)
            pos = torch.zeros((b, f_max), dtype=torch.long, device=dev)
            for j, r in enumerate(chunk):
                emb[j, : fed[j]] = self._embed_span(r.ids, r.shared, len(r.ids) - 1, video[r.index], audio[r.index])
                att[j, c_max - r.shared : c_max + fed[j]] = 1
                pos[j] = torch.arange(r.shared, r.shared + f_max, device=dev)
            cache = None
            if c_max > 0:
                cache = _shared_prefix_cache(chunk, c_max)
            want = keep is not None and any(keep[r.index] for r in chunk)
            hidden, new = self.pipe.hidden_states(inputs_embeds=emb, attention_mask=att, position_ids=pos, cache=cache,
                                                  use_cache=cache is not None or want)
            if want:
                for j, r in enumerate(chunk):
                    if keep[r.index]:
                        a, z = c_max - r.shared, c_max + fed[j]
                        kept[r.index] = [(layer.keys[j : j + 1, :, a:z].clone(), layer.values[j : j + 1, :, a:z].clone())
                                         for layer in new.layers]
            # position t (>= start) is predicted by fed index t - 1 - shared
            picks = [(j, t - 1 - r.shared) for j, r in enumerate(chunk) for t in range(r.start, len(r.ids))]
            targets = [r.ids[t] for r in chunk for t in range(r.start, len(r.ids))]
            if picks:
                rj = torch.tensor([j for j, _ in picks], device=dev)
                tj = torch.tensor([t for _, t in picks], device=dev)
                flat = head_logprobs(hidden[rj, tj], head, torch.tensor(targets, device=dev)).cpu()
            else:
                flat = torch.zeros(0)
            for q, lp in zip(idx, torch.split(flat, [len(r.ids) - r.start for r in chunk]), strict=True):
                out[q] = lp
        return out, kept  # type: ignore[return-value]

    def _embed_span(self, ids: list[int], a: int, z: int, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """(z - a, D) embeddings of ids[a:z] with the row's media tokens at their placeholder positions."""
        dev = self.pipe.device
        t = torch.tensor(ids[a:z], device=dev)
        emb = self.mm.embed_tokens(t.masked_fill(t < 0, 0))
        for pos, tokens in ((self.video_pos, video), (self.audio_pos, audio)):
            lo, hi = int(pos[0]), int(pos[-1]) + 1
            s, e = max(lo, a), min(hi, z)
            if s < e:
                emb[s - a : e - a] = tokens[s - lo : e - lo].to(emb.dtype)
        return emb
