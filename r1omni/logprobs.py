"""Log-probabilities from the LM's hidden states, and the one fork engine that scores alternative continuations.

- `head_logprobs(hidden, head, targets)`: log p(target) from final hidden states, the LM head in float32 in
  blocks (no (N, V) logits tensor of the full vocabulary is ever held);
- `completion_logprobs(hidden, head, completions)`: per-token log-probs of completions from a forward's hidden
  states;
- `fork_logprobs(pipe, cache, cache_mask, rest, start, candidates)`: the summed log-prob of every candidate
  token sequence after a cached prefix plus a rest of it that is fed once. `Pipeline.label_distribution`
  (the answer label after the generation's cache) and `ScoringSession.fork_logprobs` (contrastive claim
  support after a kept completion) both go through it.

The fork engine has two ways to run, with equal results:
- a tree: each row's rest and all its candidates in one sequence, candidate k attending to the cache, the
  rest and its own earlier tokens only. The tree is an additive float 4-D mask (0 / dtype minimum), which the
  eager and sdpa attention implementations read the same way (a boolean mask would be *added* to the scores
  by eager attention: True -> +1, not "attend");
- repeated rows: the rest fed once with a 2-D mask, then the cache forked (one copy per candidate, a few rows
  at a time) and only each candidate's tokens fed, with 2-D padding masks only: for every other attention
  implementation (flash attention takes no custom 4-D mask; flex attention is untested here: it crashes
  on this CPU build).

This module imports nothing else of r1omni (no import cycle between inference and scoring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

LOGIT_BLOCK = 1 << 22  # float32 logits held at once by `head_logprobs` (16 MiB), whatever the vocabulary size
_VOCAB_BLOCK = 32768
# attention implementations known to read a custom 4-D additive float mask (transformers passes it as is);
# any other (flash, flex, paged) gets the repeated rows, which need only 2-D padding masks
TREE_MASK_ATTENTION = frozenset({"eager", "sdpa"})


def head_logprobs(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) = target logit - logsumexp(logits), from final hidden states, in float32.

    hidden (N, D), targets (N,) or (N, K) token ids -> float32 log-probs shaped like targets. The LM head runs
    in float32 (also for a bf16 model) over blocks of rows x vocabulary entries, so no (N, V) logits tensor
    of the full vocabulary is ever held; the target logits are dot products with the targets' head rows.
    """
    weight = head.weight
    bias = getattr(head, "bias", None)
    h = hidden.reshape(-1, hidden.shape[-1]).float()
    tgt = targets.reshape(h.shape[0], -1).to(weight.device)
    picked = torch.einsum("nd,nkd->nk", h, weight[tgt].float())
    if bias is not None:
        picked = picked + bias[tgt].float()
    vocab = weight.shape[0]
    vblock = min(vocab, _VOCAB_BLOCK)
    rblock = max(1, LOGIT_BLOCK // vblock)
    lse = torch.empty(h.shape[0], device=h.device)
    for r0 in range(0, h.shape[0], rblock):
        hb = h[r0 : r0 + rblock]
        acc = torch.full((hb.shape[0],), -math.inf, device=h.device)
        for v0 in range(0, vocab, vblock):
            logits = hb @ weight[v0 : v0 + vblock].float().T
            if bias is not None:
                logits = logits + bias[v0 : v0 + vblock].float()
            acc = torch.logaddexp(acc, torch.logsumexp(logits, dim=-1))
        lse[r0 : r0 + rblock] = acc
    return (picked - lse[:, None]).reshape(targets.shape)


def completion_logprobs(hidden: torch.Tensor, head: torch.nn.Module, completions: Sequence[list[int]],
                        right_aligned: bool = True) -> list[torch.Tensor]:
    """Per-token log-probs of completions from the LM's last hidden states, one (n_i,) tensor per row (CPU).

    Right-aligned (default): hidden (B, longest + 1, D) are the last positions of left-padded prompt +
    completion rows. Otherwise hidden (B, W, D) position t predicts completion token t (left-aligned rows).
    """
    longest = hidden.shape[1] - 1
    rows, pos, targets = [], [], []
    for row, ids in enumerate(completions):
        n = len(ids)
        start = longest - n if right_aligned else 0
        rows += [row] * n
        pos += range(start, start + n)
        targets += list(ids)
    if not targets:
        return [torch.zeros(0) for _ in completions]
    dev = hidden.device
    h = hidden[torch.tensor(rows, device=dev), torch.tensor(pos, device=dev)]  # (sum n_i, D)
    flat = head_logprobs(h, head, torch.tensor(targets, device=dev)).cpu()
    return list(torch.split(flat, [len(ids) for ids in completions]))


def attention_implementation(model) -> str:
    """The LM's attention implementation name ("sdpa", "eager", "flash_attention_2", ...)."""
    config = getattr(getattr(model, "model", model), "config", None) or model.config
    return str(getattr(config, "_attn_implementation", None) or "eager")


def fork_logprobs(pipe, cache, cache_mask: torch.Tensor, rest: Sequence[torch.Tensor], start: Sequence[int],
                  candidates: Sequence[Sequence[list[int]]], tree: bool | None = None) -> list[list[float]]:
    """Summed log-prob of each token sequence `candidates[j][k]` after row j of `cache` and `rest[j]`.

    cache: a KV cache of B rows and width C (or None, C = 0); cache_mask (B, C): 1 where row j's cache holds
    a real position. rest[j]: (n_j >= 1, D) input embeddings fed once after it, the first at RoPE position
    `start[j]`; its last position predicts every candidate's first token. Every candidate has >= 1 token.
    `tree`: force the tree (True) or the repeated-rows way (False); default: the tree when the model's
    attention implementation reads a 4-D float mask (module docstring). The cache may be extended in place.
    """
    if tree is None:
        tree = attention_implementation(pipe.model) in TREE_MASK_ATTENTION
    if any(len(c) == 0 for row in candidates for c in row) or any(r.shape[0] == 0 for r in rest):
        raise ValueError("every rest and every candidate needs at least one token")
    run = _tree if tree else _repeated
    return run(pipe, cache, cache_mask, rest, list(start), candidates)


def _cache_width(cache_mask: torch.Tensor) -> int:
    return int(cache_mask.shape[1]) if cache_mask is not None else 0


def _sums(flat: torch.Tensor, sizes: list[int], candidates) -> list[list[float]]:
    sums = [float(x.sum()) for x in torch.split(flat, sizes)]
    out, k = [], 0
    for cs in candidates:
        out.append(sums[k : k + len(cs)])
        k += len(cs)
    return out


def _tree(pipe, cache, cache_mask, rest, start, candidates) -> list[list[float]]:
    """One forward: per row, the rest then every candidate minus its last token, under a tree mask."""
    dev, dtype = rest[0].device, rest[0].dtype
    embed = pipe.model.model.embed_tokens
    b, c = len(rest), _cache_width(cache_mask)
    lens = [r.shape[0] + sum(len(o) - 1 for o in cs) for r, cs in zip(rest, candidates, strict=True)]
    width = max(lens)
    emb = torch.zeros((b, width, rest[0].shape[-1]), device=dev, dtype=dtype)
    allow = torch.zeros((b, 1, width, c + width), dtype=torch.bool, device=dev)
    pos = torch.zeros((b, width), dtype=torch.long, device=dev)
    picks, targets, sizes = [], [], []
    for j, (r, cs) in enumerate(zip(rest, candidates, strict=True)):
        n = r.shape[0]
        emb[j, :n] = r
        pos[j, :n] = torch.arange(start[j], start[j] + n, device=dev)
        if c:
            allow[j, 0, :, :c] = cache_mask[j].to(device=dev, dtype=torch.bool)[None]  # the cached prefix
        allow[j, 0, :n, c : c + n] = torch.ones((n, n), dtype=torch.bool, device=dev).tril()
        at = n
        for own in cs:
            m = len(own) - 1
            picks.append((j, n - 1))  # the rest's last position predicts every candidate's first token
            if m:
                emb[j, at : at + m] = embed(torch.tensor(own[:-1], device=dev)).to(dtype)
                pos[j, at : at + m] = torch.arange(start[j] + n, start[j] + n + m, device=dev)
                allow[j, 0, at : at + m, c : c + n] = True
                allow[j, 0, at : at + m, c + at : c + at + m] = torch.ones((m, m), dtype=torch.bool, device=dev).tril()
                picks += [(j, at + t) for t in range(m)]
            targets += list(own)
            sizes.append(len(own))
            at += m
        for t in range(at, width):  # padding attends to itself only (no empty softmax row)
            allow[j, 0, t, c + t] = True
    mask = torch.zeros(allow.shape, dtype=dtype, device=dev).masked_fill_(~allow, torch.finfo(dtype).min)
    hidden, _ = pipe.hidden_states(inputs_embeds=emb, attention_mask=mask, position_ids=pos, cache=cache,
                                   use_cache=cache is not None)
    rj = torch.tensor([j for j, _ in picks], device=dev)
    tj = torch.tensor([t for _, t in picks], device=dev)
    flat = head_logprobs(hidden[rj, tj], pipe.model.get_output_embeddings(), torch.tensor(targets, device=dev)).cpu()
    return _sums(flat, sizes, candidates)


def _repeated(pipe, cache, cache_mask, rest, start, candidates) -> list[list[float]]:
    """The rest of every row fed once (2-D mask), then the cache forked per candidate, a few rows at a time."""
    dev, dtype = rest[0].device, rest[0].dtype
    embed = pipe.model.model.embed_tokens
    head = pipe.model.get_output_embeddings()
    b, c = len(rest), _cache_width(cache_mask)
    lens = [r.shape[0] for r in rest]
    wr = max(lens)
    emb = torch.zeros((b, wr, rest[0].shape[-1]), device=dev, dtype=dtype)
    rmask = torch.zeros((b, wr), dtype=torch.long, device=dev)
    for j, r in enumerate(rest):
        emb[j, : lens[j]] = r
        rmask[j, : lens[j]] = 1
    base = torch.tensor(start, device=dev)[:, None]
    pos = base + torch.arange(wr, device=dev)[None]
    prev = cache_mask.to(device=dev, dtype=torch.long) if c else torch.zeros((b, 0), dtype=torch.long, device=dev)
    full = torch.cat([prev, rmask], dim=1)
    hidden, cache = pipe.hidden_states(inputs_embeds=emb, attention_mask=full, position_ids=pos, cache=cache,
                                       use_cache=True)
    last = hidden[torch.arange(b, device=dev), torch.tensor(lens, device=dev) - 1]  # (B, D)
    scores = [head_logprobs(last[j : j + 1], head, torch.tensor([[own[0] for own in cs]], device=dev))[0].tolist()
              if cs else [] for j, cs in enumerate(candidates)]
    longest = max((len(o) for cs in candidates for o in cs), default=1) - 1
    if longest == 0:
        return scores
    k_max = max(len(cs) for cs in candidates)
    group = max(1, b // max(1, k_max))  # fork a few rows at a time: the forked cache stays about one batch big
    for g0 in range(0, b, group):
        rows = [j for j in range(g0, min(b, g0 + group)) if candidates[j]]
        pairs = [(j, k) for j in rows for k in range(len(candidates[j]))]
        if not pairs:
            continue
        sel = torch.tensor([j for j, _ in pairs], device=dev)
        fork = type(cache)(ddp_cache_data=[(layer.keys[sel], layer.values[sel]) for layer in cache.layers])
        seqs = [candidates[j][k][:-1] for j, k in pairs]
        fe = torch.zeros((len(pairs), longest, emb.shape[-1]), device=dev, dtype=dtype)
        fm = torch.zeros((len(pairs), longest), dtype=torch.long, device=dev)
        for i, s in enumerate(seqs):
            if s:
                fe[i, : len(s)] = embed(torch.tensor(s, device=dev)).to(dtype)
                fm[i, : len(s)] = 1
        fpos = (base[sel] + torch.tensor([lens[j] for j, _ in pairs], device=dev)[:, None]
                + torch.arange(longest, device=dev)[None])
        fh, _ = pipe.hidden_states(inputs_embeds=fe, attention_mask=torch.cat([full[sel], fm], dim=1),
                                   position_ids=fpos, cache=fork, use_cache=True)
        del fork
        targets = [candidates[j][k][1:] for j, k in pairs]
        for (j, k), lp in zip(pairs, completion_logprobs(fh, head, targets, right_aligned=False), strict=True):
            scores[j][k] += float(lp.sum())
    return scores
