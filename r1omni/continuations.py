"""Log-probabilities of alternative continuations of a shared text prefix, under a clip's media.

`continuation_logprobs(pipe, media, prefixes, candidates)` answers "how likely is each of these sentences
right here?": for row i, every string of `candidates[i]` is scored as the continuation of `prefixes[i]`
(the completion text so far) after the prompt and the clip's media `media[i]`.

Tokenisation is the model's own: each candidate is scored as the token sequence that `prefix + candidate`
tokenises to. A pre-tokenizer may merge the end of the prefix with the candidate (Qwen2 joins ">the" into
one pre-token), so the fork happens at the longest token prefix common to all of a row's tokenisations,
and every candidate's score covers the same prefix text plus its own. Scores of one row are comparable;
scores of different rows are not.

The forward work is a scoring session's (`r1omni.scoring.ScoringSession.fork_logprobs`): give the session
that explained the clip and each row continues the KV it already holds (the clip's towers, its prompt, a
teacher-forced completion of the same media), so K candidates cost K short forwards; without one, an
uncached session runs each row from scratch. This module only tokenises; it knows nothing about claims.
"""

from __future__ import annotations

from collections.abc import Sequence


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


def continuation_logprobs(
    pipe,
    media: Sequence,
    prefixes: Sequence[str],
    candidates: Sequence[Sequence[str]],
    question: str | None = None,
    batch_size: int = 32,
    session=None,
) -> list[list[float]]:
    """Summed log-prob of each candidate after its row's prompt + media + prefix (see module docstring)."""
    if session is None:
        from r1omni.scoring import ScoringSession

        session = ScoringSession(pipe, question, cache=False)
    forks = [fork_point(pipe.tokenizer, p, c) if c else ([], []) for p, c in zip(prefixes, candidates, strict=True)]
    return session.fork_logprobs(list(media), [f[0] for f in forks], [f[1] for f in forks], batch_size=batch_size)
