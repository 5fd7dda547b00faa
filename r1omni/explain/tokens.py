"""Character offsets of completion tokens, and which tokens make up a target (answer, reasoning, sentence).

Knows tokenizers and strings only; no model.
"""

from __future__ import annotations

from collections.abc import Sequence


def token_offsets(tokenizer, ids: Sequence[int], text: str) -> list[tuple[int, int]]:
    """(start, end) of each token id in `text` (the decoded, stripped completion).

    Uses the fast tokenizer's offset mapping when re-encoding `text` gives back exactly `ids`; otherwise
    falls back to decoding growing prefixes (exact for any tokenizer, quadratic in the length).
    """
    ids = list(ids)
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if list(enc["input_ids"]) == ids:
            return [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    except (NotImplementedError, TypeError, ValueError, KeyError):
        pass
    full = tokenizer.decode(ids, skip_special_tokens=True)
    lead = len(full) - len(full.lstrip())
    out, prev = [], 0
    for i in range(len(ids)):
        cur = len(tokenizer.decode(ids[: i + 1], skip_special_tokens=True))
        a, b = (min(len(text), max(0, x - lead)) for x in (prev, cur))
        out.append((a, max(a, b)))
        prev = cur
    return out


def tokens_in(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indices of the tokens overlapping the character span [start, end).

    >>> tokens_in([(0, 3), (3, 5), (5, 9)], 4, 6)
    [1, 2]
    """
    return [i for i, (a, b) in enumerate(offsets) if a < end and b > start and b > a]
