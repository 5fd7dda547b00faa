"""Log-probabilities of alternative continuations of a shared text prefix, under a clip's media.

`continuation_logprobs(pipe, media, prefixes, candidates)` answers "how likely is each of these sentences
right here?": for row i, every string of `candidates[i]` is scored as the continuation of `prefixes[i]`
(the completion text so far) after the prompt and the clip's media `media[i]`. Each row's prompt + prefix
runs once; its KV cache is then repeated over the candidates and only their own tokens are fed, so K
candidates cost one prefix forward plus one short forward of K rows.

Tokenisation is the model's own: each candidate is scored as the token sequence that `prefix + candidate`
tokenises to. A pre-tokenizer may merge the end of the prefix with the candidate (Qwen2 joins ">the" into
one pre-token), so the fork happens at the longest token prefix common to all of a row's tokenisations,
and every candidate's score covers the same prefix text plus its own. Scores of one row are comparable;
scores of different rows are not.

This module knows the Pipeline's public batching (`collate`, `prompt_ids`, `tokenizer`) and the model's
forward with a cache; it knows nothing about claims or attribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_VOCAB_CHUNK_ROWS = 8  # rows of (positions x vocab) float32 log-softmax alive at once


def _common_prefix(seqs: Sequence[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for j in range(n):
        tok = seqs[0][j]
        if any(s[j] != tok for s in seqs[1:]):
            return j
    return n


def fork_point(tokenizer, prefix: str, candidates: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    """(shared prefix ids, each candidate's own ids) with `shared + own_k == tokenize(prefix + cand_k)`.

    At least one token of every candidate is its own (the fork is moved back if needed).
    """
    full = [tokenizer(prefix + c, add_special_tokens=False)["input_ids"] for c in candidates]
    j = _common_prefix(full)
    j = min(j, min(len(s) for s in full) - 1)
    return full[0][:j], [s[j:] for s in full]


def _gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log_softmax(logits)[..., targets] in float32, chunked over rows: (R, W, V), (R, W) -> (R, W)."""
    out = torch.empty(targets.shape, dtype=torch.float32, device=logits.device)
    for a in range(0, logits.shape[0], _VOCAB_CHUNK_ROWS):
        chunk = logits[a : a + _VOCAB_CHUNK_ROWS].float()
        picked = chunk.gather(-1, targets[a : a + _VOCAB_CHUNK_ROWS, :, None])[..., 0]
        out[a : a + _VOCAB_CHUNK_ROWS] = picked - torch.logsumexp(chunk, dim=-1)
    return out


@torch.inference_mode()
def continuation_logprobs(
    pipe,
    media: Sequence,
    prefixes: Sequence[str],
    candidates: Sequence[Sequence[str]],
    question: str | None = None,
    batch_size: int = 8,
) -> list[list[float]]:
    """Summed log-prob of each candidate after its row's prompt + media + prefix (see module docstring)."""
    out: list[list[float]] = []
    for start in range(0, len(media), max(1, batch_size)):
        rows = range(start, min(len(media), start + batch_size))
        out += _score_rows(pipe, [media[i] for i in rows], [prefixes[i] for i in rows],
                           [list(candidates[i]) for i in rows], question)
    return out


def _score_rows(pipe, media, prefixes, candidates, question) -> list[list[float]]:
    prompt = pipe.prompt_ids(question)
    forks = [fork_point(pipe.tokenizer, p, c) if c else ([], []) for p, c in zip(prefixes, candidates, strict=True)]
    live = [i for i, (_, own) in enumerate(forks) if own]
    result: list[list[float]] = [[] for _ in media]
    if not live:
        return result
    batch = pipe.collate([media[i] for i in live], [prompt + forks[i][0] for i in live], question)
    first = pipe.model(**batch, use_cache=True, logits_to_keep=1)
    first_logp = torch.log_softmax(first.logits[:, -1].float(), dim=-1)  # (B, V)
    k = max(len(forks[i][1]) for i in live)
    cache = first.cache
    cache.batch_repeat_interleave(k)
    owns = [[own[min(j, len(own) - 1)] for j in range(k)] for own in (forks[i][1] for i in live)]
    width = max(1, max(len(o) - 1 for oo in owns for o in oo))
    ids = torch.full((len(live) * k, width), pipe.pad_id, dtype=torch.long)  # fed: own[:-1]
    tgt = torch.zeros((len(live) * k, width), dtype=torch.long)  # predicted: own[1:]
    mask = torch.zeros((len(live) * k, width), dtype=torch.long)
    for b, oo in enumerate(owns):
        for j, o in enumerate(oo):
            n = len(o) - 1
            if n:
                ids[b * k + j, :n] = torch.tensor(o[:-1], dtype=torch.long)
                tgt[b * k + j, :n] = torch.tensor(o[1:], dtype=torch.long)
                mask[b * k + j, :n] = 1
    prev = batch["attention_mask"].repeat_interleave(k, dim=0)
    dev = pipe.device
    ids, mask = ids.to(dev), mask.to(dev)
    pos = prev.sum(-1, keepdim=True) + torch.arange(width, device=dev)[None]
    logits = pipe.model(input_ids=ids, attention_mask=torch.cat([prev, mask], dim=1), position_ids=pos,
                        cache=cache, use_cache=False).logits  # (B*K, W, V)
    lp = _gather_logprobs(logits, tgt.to(dev)).cpu()
    for b, i in enumerate(live):
        own = forks[i][1]
        scores = []
        for j, toks in enumerate(own):
            r = b * k + j
            s = float(first_logp[b, toks[0]])
            s += float(lp[r, : len(toks) - 1].sum())
            scores.append(s)
        result[i] = scores
    return result
