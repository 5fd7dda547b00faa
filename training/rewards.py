"""Reward functions for GRPO, in the signature TRL 1.16 calls them with.

TRL calls each reward as ``f(prompts=..., completions=..., completion_ids=..., **columns)`` where
``completions`` is ``[[{"role": "assistant", "content": str}], ...]`` for conversational prompts or a list
of strings otherwise, and every other dataset column (``solution``, ``label``, the synthetic manifest's
cue columns, ...) arrives as a list in ``kwargs``. Each reward returns one float per completion, or
``None`` where the row cannot be scored (TRL turns it into NaN and leaves it out of the mean).

`GroundingReward` (``grounding_reward``) asks the explanation engine whether each claim's cited modality
supports it and costs reward for every claim that is not grounded; it needs a judge model, so
`training.grpo` builds it (`get_rewards(..., grounding=factory)`).

`accuracy_reward` and `format_reward` reproduce R1-Omni's rewards (arXiv 2503.05379; the R1-Omni /
R1-V ``open_r1/grpo.py``), including their quirks: exact, case-sensitive comparison and a non-DOTALL
``<answer>`` pattern. Rewards never raise on model output. This module knows nothing about models.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RewardFunc = Callable[..., list[float | None]]

_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def completion_text(completion: Any) -> str:
    """The text of one completion, whatever shape TRL hands it in; never raises.

    >>> completion_text([{"role": "assistant", "content": "<answer>sad</answer>"}])
    '<answer>sad</answer>'
    >>> completion_text("plain"), completion_text(None), completion_text([])
    ('plain', '', '')
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        content = completion.get("content", "")
        return content if isinstance(content, str) else ""
    if isinstance(completion, (list, tuple)) and completion:
        return completion_text(completion[-1])
    return ""


def extract_answer(text: str) -> str:
    """The stripped text of the first one-line ``<answer>…</answer>``, else the whole stripped text.

    >>> extract_answer("<think>x</think><answer> sad </answer>"), extract_answer(" sad ")
    ('sad', 'sad')
    >>> extract_answer("<answer>a\\nb</answer>")  # the pattern is not DOTALL: no match, whole text
    '<answer>a\\nb</answer>'
    """
    from r1omni.prompts import paper_answer

    return paper_answer(text)  # one reading of the paper's answer for the reward and `r1omni eval`'s exact scores


def _ground_truths(n: int, kwargs: dict[str, Any]) -> list[str | None]:
    """Per-row reference answers from the ``solution`` column, else the ``label`` column."""
    for column in ("solution", "label"):
        values = kwargs.get(column)
        if values is not None:
            if isinstance(values, str):
                values = [values] * n
            return [v if isinstance(v, str) and v.strip() else None for v in values]
    return [None] * n


def accuracy_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the completion's answer equals the reference exactly (case-sensitive), else 0.0.

    The reference is the ``<answer>`` text of the ``solution`` column (or the whole solution, or the
    ``label`` column); the completion's answer is its first one-line ``<answer>`` (or the whole text).
    Rows without a reference give None. R1-Omni accuracy reward.

    >>> accuracy_reward(["<think>t</think><answer>sad</answer>", "<answer>Sad</answer>", "sad"],
    ...                 solution=["<answer> sad </answer>"] * 3)
    [1.0, 0.0, 1.0]
    >>> accuracy_reward([[{"role": "assistant", "content": "<answer>fear</answer>"}]], label=["fear"])
    [1.0]
    """
    truths = _ground_truths(len(completions), kwargs)
    rewards: list[float | None] = []
    for completion, truth in zip(completions, truths, strict=True):
        if truth is None:
            rewards.append(None)
            continue
        answer = extract_answer(completion_text(completion))
        rewards.append(1.0 if answer == extract_answer(truth) else 0.0)
    return rewards


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 when the whole completion is ``<think>…</think>`` then ``<answer>…</answer>``, else 0.0.

    Full match with DOTALL, no stripping: the text must start with ``<think>`` and end with
    ``</answer>``. R1-Omni format reward.

    >>> format_reward(["<think>a\\nb</think>\\n<answer>sad</answer>", " <think>a</think><answer>sad</answer>",
    ...                "<think>a</think><answer>sad</answer> extra", ""])
    [1.0, 0.0, 0.0, 0.0]
    """
    return [1.0 if _FORMAT.fullmatch(completion_text(c)) else 0.0 for c in completions]


def label_accuracy_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the normalised answer label matches the normalised reference label (lenient accuracy).

    Uses `r1omni.prompts.normalize_label` on both sides ("Fearful" == "fear"); the paper's reward is the
    strict `accuracy_reward`. Rows without a reference give None.

    >>> label_accuracy_reward(["<answer>Fearful</answer>", "<answer>bored</answer>"], label=["fear", "fear"])
    [1.0, 0.0]
    """
    from r1omni.prompts import normalize_label

    truths = _ground_truths(len(completions), kwargs)
    rewards: list[float | None] = []
    for completion, truth in zip(completions, truths, strict=True):
        gold = normalize_label(extract_answer(truth)) if truth is not None else None
        if gold is None:
            rewards.append(None)
            continue
        rewards.append(1.0 if normalize_label(extract_answer(completion_text(completion))) == gold else 0.0)
    return rewards


def _row(kwargs: dict[str, Any], i: int, n: int) -> dict[str, Any]:
    """Row ``i`` of the dataset columns TRL passed as lists."""
    return {k: v[i] for k, v in kwargs.items() if isinstance(v, (list, tuple)) and len(v) == n}


def claims_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Share of the cue claims in ``<think>`` that are true for the clip, per its synthetic manifest row.

    The manifest columns (``label``, ``cue_modality`` or ``video_label``/``audio_label``) arrive as
    kwargs; claims are read and checked by `r1omni.synthetic.check_claims`. Rows without synthetic
    ground truth and reasoning without any checkable claim give None; a missing ``<think>`` gives 0.0.
    """
    from r1omni.synthetic import check_claims

    n = len(completions)
    rewards: list[float | None] = []
    for i, completion in enumerate(completions):
        row = _row(kwargs, i, n)
        per_modality = row.get("video_label") and row.get("audio_label")
        has_truth = per_modality or (row.get("cue_modality") and row.get("label"))
        if not has_truth:
            rewards.append(None)
            continue
        match = _THINK.search(completion_text(completion))
        if match is None:
            rewards.append(0.0)
            continue
        try:
            n_true, n_total = check_claims(f"<think>{match.group(1)}</think>", row)
        except Exception as err:  # a reward must never stop training on odd model text
            logger.debug("claims_reward: check_claims failed on row %d: %s", i, err)
            rewards.append(None)
            continue
        rewards.append(n_true / n_total if n_total else None)
    return rewards


# ---------------------------------------------------------------------------------------------------------------
# Answer consistency (in the spirit of ERV, AAAI 2026): the reasoning must agree with its own answer


def unit_emotions(claim: Any) -> tuple[str, ...]:
    """The labels one evidence unit (`r1omni.audit.claims.Claim`) asserts: its lexicon emotions and, for a cue
    unit, the emotion each synthetic-grammar phrasing in it describes (`r1omni.synthetic.find_cues`: what the
    words mean, not what the clip shows). Conceded and negated units assert nothing.

    >>> from r1omni.audit.claims import extract_claims
    >>> [unit_emotions(c) for c in extract_claims("<think>The eyes narrow into a glare. So, anger.</think>")]
    [('angry',), ('angry',)]
    """
    from r1omni.synthetic import find_cues

    if claim.conceded or claim.negated:
        return ()
    found = list(claim.emotions)
    if claim.kind == "cue":
        found += [u.emotion for u in find_cues(claim.text) if u.emotion not in found]
    return tuple(dict.fromkeys(found))


def consistency_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """``-(units contradicting the answer / units asserting an emotion)``, in [-1, 0].

    The completion's own `<answer>` (mapped onto the DFEW labels through the lexicon) is the reference; no
    label, solution or synthetic truth is read. Units are the evidence units of `<think>`
    (`r1omni.audit.claims.extract_claims`): the conclusion and every cue unit that is neither conceded nor
    negated, with the emotions of `unit_emotions`. A unit contradicts when it asserts emotions and none is the
    answer (`r1omni.audit.claims.contradicts`: "neutral" said of one cue is no verdict; a conclusion naming
    the answer among several emotions is none). 0.0 when every asserting unit agrees or none asserts; -1.0
    when the answer is missing or outside the label set (nothing to agree with).

    >>> consistency_reward([
    ...     "<think>The voice trembles with fear. So the person is afraid.</think><answer>fear</answer>",
    ...     "<think>Although the face looks happy, the voice trembles with fear.</think><answer>fear</answer>",
    ...     "<think>The face looks sad. Overall, the person seems angry.</think><answer>angry</answer>",
    ...     "<think>The face looks sad.</think>"])
    [0.0, 0.0, -0.5, -1.0]
    """
    from dataclasses import replace

    from r1omni.audit.claims import contradicts, extract_claims, map_label
    from r1omni.prompts import parse_response

    rewards: list[float] = []
    for completion in completions:
        text = completion_text(completion)
        try:
            answer = map_label(parse_response(text).answer) if "<answer>" in text else None
            units = extract_claims(text) if answer is not None else []
        except Exception as err:  # a reward must never stop training on odd model text
            logger.debug("consistency_reward: cannot read %r: %s", text[:80], err)
            answer, units = None, []
        if answer is None:
            rewards.append(-1.0)
            continue
        asserting = [replace(u, emotions=e) for u in units if u.kind in ("cue", "conclusion")
                     for e in [unit_emotions(u)] if e]
        verdicts = [u for u in asserting if u.kind == "conclusion" or set(u.emotions) - {"neutral", "calm"}]
        bad = sum(contradicts(u, answer) for u in verdicts)
        rewards.append(-bad / len(verdicts) if verdicts else 0.0)
    return rewards


# ---------------------------------------------------------------------------------------------------------------
# Grounding: claims whose cited modality gives no support cost reward

# A claim judge: (clips, completion texts, prompts) -> per completion, one bool per claim that cites a modality
# (True = grounded), or None when the clip cannot be scored. `prompts` are the rows' questions, the prompts the
# policy sampled from (None: the default question); a judge never sees label, solution or other answer
# columns. Judges are pluggable (CLAIM_JUDGES): "shapley" uses modality Shapley of the claim's sentence; a
# contrastive judge plugs in the same way.
ClaimJudge = Callable[[Sequence[Any], Sequence[str], Sequence[str | None]], list[list[bool] | None]]
UNGROUNDED_FLAGS = frozenset({"unsupported", "cites absent modality", "cites masked modality"})


def shapley_judge(pipe, batch_size: int = 8, share_prompt: bool = True, **explain_options: Any) -> ClaimJudge:
    """Claim judge from `r1omni.explain.explain` (mode "fast", the completion teacher-forced under its row's
    question and the pipeline's system turn, i.e. the prompt the policy sampled from): a claim is grounded
    unless it is flagged unsupported (contrastive / Shapley support, under the thresholds in
    `explain_options["thresholds"]`, else the checkpoint's calibration) or cites an absent / masked modality.

    Cost: the judge's Pipeline keeps one masked-input baseline per checkpoint (`r1omni.model_cache`), and with
    `share_prompt` the completions of one clip (GRPO's G completions of a prompt) are explained in one batch,
    so one scoring session computes that clip's prompt KV once and every completion continues it;
    `share_prompt=False` explains one completion at a time (the prompt KV once per completion: the
    reference for the cost benchmark). The class distribution of each completion is not computed (the
    judge reads claims only) unless `explain_options` asks for it, and teacher-forced rows go in batches of
    8 (`forward_batch_size`): a group's completions differ in length, and wider batches spend more on padding
    than the shared prompt saves (bench/grounding_judge_cost.py)."""
    explain_options.setdefault("class_distribution", False)
    explain_options.setdefault("forward_batch_size", 8)

    def judge(clips, completions, prompts=None):
        from r1omni.explain import explain

        n = len(clips)
        questions = list(prompts) if prompts is not None else [None] * n
        out: list[list[bool] | None] = [None] * n
        for question in dict.fromkeys(questions):  # one explain call per distinct prompt and clip
            idx = [i for i in range(n) if questions[i] == question]
            groups: dict[Any, list[int]] = {}
            for i in idx:
                key = clips[i] if isinstance(clips[i], (str, Path)) else id(clips[i])
                groups.setdefault(key if share_prompt else i, []).append(i)
            for group in groups.values():
                results = explain(pipe, [clips[i] for i in group], mode="fast", question=question,
                                  completions=[completions[i] for i in group],
                                  batch_size=max(batch_size, len(group)) if share_prompt else 1, **explain_options)
                for i, res in zip(group, results, strict=True):
                    claims = getattr(res, "claims", None)
                    out[i] = (None if claims is None else
                              [not (set(c.get("flags") or []) & UNGROUNDED_FLAGS) for c in claims if c.get("cites")])
        return out

    judge.pipe = pipe  # type: ignore[attr-defined]
    return judge


CLAIM_JUDGES: dict[str, Callable[..., ClaimJudge]] = {"shapley": shapley_judge}


def clip_of_row(row: dict[str, Any]) -> Any:
    """The clip a GRPO row stands for: its `path` (or `video`) column."""
    return row.get("path") or row.get("video")


class GroundingReward:
    """``-penalty x (ungrounded claims / claims citing a modality)`` per completion: 0.0 when every cited
    claim is grounded (or none cites a modality), None when the judge cannot score the clip.

    `judge` is a `ClaimJudge`; `clip_fn` maps a dataset row (the columns TRL passes) to what the judge
    takes (a path by default; the demo build passes in-memory `MediaInputs`). The judge gets clips, texts and
    prompts only. `monitor(rows, texts, verdicts, seconds)`, when given, is told every call's rows (all the
    columns, for reporting such as the judge's precision against a synthetic truth: never fed back into the
    reward) and the judge's wall time; `seconds` accumulates that time over the run.
    """

    __name__ = "grounding_reward"

    def __init__(self, judge: ClaimJudge, clip_fn: Callable[[dict[str, Any]], Any] = clip_of_row,
                 penalty: float = 1.0, monitor: Callable[..., None] | None = None):
        self.judge = judge
        self.clip_fn = clip_fn
        self.penalty = penalty
        self.monitor = monitor
        self.seconds = 0.0

    def __call__(self, completions: Sequence[Any], prompts: Sequence[Any] | None = None,
                 **kwargs: Any) -> list[float | None]:
        n = len(completions)
        rows = [_row(kwargs, i, n) for i in range(n)]
        clips = [self.clip_fn(row) for row in rows]
        texts = [completion_text(c) for c in completions]
        questions = [p if isinstance(p, str) and p.strip() else None for p in (prompts or [None] * n)]
        t0 = time.perf_counter()
        try:
            verdicts = self.judge(clips, texts, questions)  # no label / solution columns reach the judge
        except Exception as err:  # a reward must never stop training on odd model text
            logger.warning("grounding_reward: judge failed, no grounding reward this batch: %s", err)
            verdicts = [None] * n
        seconds = time.perf_counter() - t0
        self.seconds += seconds
        if self.monitor is not None:
            self.monitor(rows, texts, verdicts, seconds)
        rewards: list[float | None] = []
        for v in verdicts:
            if v is None:
                rewards.append(None)
            else:
                rewards.append(-self.penalty * sum(not g for g in v) / len(v) if v else 0.0)
        return rewards


REWARDS: dict[str, RewardFunc] = {
    "accuracy_reward": accuracy_reward,
    "format_reward": format_reward,
    "label_accuracy_reward": label_accuracy_reward,
    "claims_reward": claims_reward,
    "consistency_reward": consistency_reward,
}


def get_rewards(names: Sequence[str], grounding: Callable[[], RewardFunc] | None = None) -> list[RewardFunc]:
    """Reward functions by name, in order; unknown names raise UsageError listing the valid ones.

    ``grounding_reward`` is built by ``grounding()`` (it needs a judge model; training.grpo supplies it).

    >>> [f.__name__ for f in get_rewards(["accuracy_reward", "format_reward"])]
    ['accuracy_reward', 'format_reward']
    """
    from r1omni.errors import UsageError

    if isinstance(names, str):
        names = [names]
    valid = [*REWARDS, "grounding_reward"]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UsageError(f"unknown reward {', '.join(map(repr, unknown))}; valid rewards: {', '.join(valid)}")
    if not names:
        raise UsageError(f"no reward functions given; valid rewards: {', '.join(valid)}")
    if "grounding_reward" in names and grounding is None:
        raise UsageError("grounding_reward needs a judge model: run it through training.grpo")
    return [grounding() if n == "grounding_reward" else REWARDS[n] for n in names]
