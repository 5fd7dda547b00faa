"""Chat layout, placeholder ids, label sets and answer parsing.

Pure text functions: no model, no media. The GRPO accuracy reward, `r1omni eval` and the app's
"correct?" badge all read answers through `parse_response` / `normalize_label` here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

VIDEO_TOKEN_INDEX = -201
AUDIO_TOKEN_INDEX = -202
VIDEO_MARKER = "<video>"
AUDIO_MARKER = "<audio>"

# The reference inference instruction (R1-Omni README / inference.py), two spaces before "Output" included.
DEFAULT_QUESTION = (
    "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters is "
    "the most obvious to you?  Output the thinking process in <think> </think> and final emotion in "
    "<answer> </answer> tags."
)
DEFAULT_SYSTEM = "You are a helpful assistant."

DFEW = ("happy", "surprise", "neutral", "angry", "disgust", "sad", "fear")
MAFW = DFEW + ("contemptuous", "disappointed", "helpless", "anxious")
RAVDESS = ("neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise")
LABEL_SETS: dict[str, tuple[str, ...]] = {"dfew": DFEW, "mafw": MAFW, "ravdess": RAVDESS}

# Surface forms seen in datasets and model outputs -> canonical label (RAVDESS/CREMA-D names included).
_SYNONYMS = {
    "happiness": "happy", "joy": "happy", "happy": "happy",
    "surprised": "surprise", "surprise": "surprise",
    "neutral": "neutral", "calm": "calm",
    "anger": "angry", "angry": "angry", "ang": "angry",
    "disgusted": "disgust", "disgust": "disgust",
    "sadness": "sad", "sad": "sad",
    "fearful": "fear", "fear": "fear", "afraid": "fear", "scared": "fear",
    "contempt": "contemptuous", "contemptuous": "contemptuous",
    "disappointed": "disappointed", "disappointment": "disappointed",
    "helpless": "helpless", "helplessness": "helpless",
    "anxious": "anxious", "anxiety": "anxious",
}

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)  # the paper's format reward
_ANSWER_LINE = re.compile(r"<answer>(.*?)</answer>")  # the paper's accuracy reward: not DOTALL


def label_set(name: str) -> tuple[str, ...]:
    """The labels of a named set ("dfew", "mafw", "ravdess")."""
    from r1omni.errors import UsageError

    try:
        return LABEL_SETS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown label set '{name}'; choose one of: {', '.join(LABEL_SETS)}") from None


def normalize_label(answer: str | None, labels: tuple[str, ...] | None = None) -> str | None:
    """Canonical label for a free-text answer, or None when it is outside `labels`.

    >>> normalize_label(" Fearful ", DFEW), normalize_label("Surprised.", DFEW), normalize_label("bored", DFEW)
    ('fear', 'surprise', None)
    """
    if answer is None:
        return None
    key = re.sub(r"[^a-z ]", "", answer.strip().lower()).strip()
    canon = _SYNONYMS.get(key, key)
    if labels is None:
        return canon or None
    return canon if canon in labels else None


def paper_answer(text: str) -> str:
    """The answer as the paper's accuracy reward reads it: the stripped first one-line `<answer>…</answer>`,
    else the whole stripped text; compared exactly and case-sensitively (no label normalisation).

    >>> paper_answer("<think>x</think><answer> Sad </answer>"), paper_answer(" sad "), paper_answer("<answer>a\\nb")
    ('Sad', 'sad', '<answer>a\\nb')
    """
    match = _ANSWER_LINE.search(text or "")
    return match.group(1).strip() if match else (text or "").strip()


def build_prompt(question: str = DEFAULT_QUESTION, system: str | None = None, tokenizer=None) -> str:
    """The chat prompt with <video>/<audio> markers where media are spliced.

    With a `tokenizer` that has a chat template (the checkpoint's `chat_template` in tokenizer_config.json,
    chat_template.jinja or chat_template.json), that template renders it, as the reference does:
    `apply_chat_template([user: "<video>\\n<audio>\\n" + question], add_generation_prompt=True)`, then the
    markers are wrapped in `<vi_start>..<vi_end>` / `<au_start>..<au_end>`. `system=None` keeps the template's
    own default system turn. Without a template: the reference layout (Qwen2-VL's "You are a helpful
    assistant." system turn unless `system` is given).

    >>> build_prompt("Which emotion?").splitlines()[:3]
    ['<|im_start|>system', 'You are a helpful assistant.<|im_end|>', '<|im_start|>user']
    """
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if not template:
        return reference_prompt(question, DEFAULT_SYSTEM if system is None else system)
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": f"{VIDEO_MARKER}\n{AUDIO_MARKER}\n{question}"})
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as e:  # a broken template in the checkpoint: one line for the user
        from r1omni.errors import CheckpointError

        raise CheckpointError(f"the checkpoint's chat template cannot render the prompt: {e}") from e
    if VIDEO_MARKER not in text or AUDIO_MARKER not in text:
        from r1omni.errors import CheckpointError

        raise CheckpointError("the checkpoint's chat template drops the <video>/<audio> markers of the user turn")
    text = text.replace(VIDEO_MARKER, f"<vi_start>{VIDEO_MARKER}<vi_end>", 1)
    return text.replace(AUDIO_MARKER, f"<au_start>{AUDIO_MARKER}<au_end>", 1)


def reference_prompt(question: str = DEFAULT_QUESTION, system: str = DEFAULT_SYSTEM) -> str:
    """The reference inference chat layout (R1-Omni's Qwen2-VL template), written out."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n"
        f"<vi_start>{VIDEO_MARKER}<vi_end>\n<au_start>{AUDIO_MARKER}<au_end>\n{question}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def build_input_ids(tokenizer, prompt: str, n_video: int, n_audio: int, expand: bool = True) -> list[int]:
    """Token ids of `prompt` with each media marker replaced by its placeholder id.

    With `expand` the placeholder is repeated `n_video` / `n_audio` times (one id per spliced feature), so
    the sequence length equals the spliced length; without it there is one id per marker, as the reference.
    Text pieces are tokenised without special-token insertion, as the reference does.
    """
    ids: list[int] = []
    for piece in re.split(f"({re.escape(VIDEO_MARKER)}|{re.escape(AUDIO_MARKER)})", prompt):
        if piece == VIDEO_MARKER:
            ids += [VIDEO_TOKEN_INDEX] * (n_video if expand else 1)
        elif piece == AUDIO_MARKER:
            ids += [AUDIO_TOKEN_INDEX] * (n_audio if expand else 1)
        elif piece:
            ids += tokenizer(piece, add_special_tokens=False)["input_ids"]
    return ids


@dataclass(frozen=True)
class ParsedResponse:
    """What a completion says: its reasoning, its answer and whether it follows the trained format."""

    text: str
    think: str | None
    answer: str | None
    label: str | None
    well_formed: bool
    notices: list[str] = field(default_factory=list)

    def think_span(self) -> tuple[int, int] | None:
        """Character offsets of the reasoning inside `text`, or None."""
        m = _THINK.search(self.text)
        return (m.start(1), m.end(1)) if m else None


def parse_response(text: str, labels: tuple[str, ...] = DFEW) -> ParsedResponse:
    """Split a completion into reasoning and answer; never raises.

    Missing or broken tags give a notice instead of an error. Without any <answer> tag the whole stripped
    response is taken as the answer, as the reference evaluation did.

    >>> p = parse_response("<think>The mouth turns up.</think>\\n<answer>Happy</answer>")
    >>> (p.think, p.answer, p.label, p.well_formed)
    ('The mouth turns up.', 'Happy', 'happy', True)
    """
    text = text or ""
    stripped = text.strip()
    notices: list[str] = []
    m = _THINK.search(text)
    think = m.group(1).strip() if m else None
    if m is None:
        if "<think>" in text:
            think = text.split("<think>", 1)[1].split("<answer>", 1)[0].strip()
            notices.append("reasoning is not closed with </think>")
        else:
            notices.append("no <think> reasoning in the response")
    answers = _ANSWER.findall(text)
    if answers:
        answer = answers[0].strip()
        if len(answers) > 1:
            notices.append(f"{len(answers)} <answer> tags; the first one is used")
    elif "<answer>" in text:
        answer = text.split("<answer>", 1)[1].strip()
        notices.append("answer is not closed with </answer>")
    else:
        answer = stripped if stripped and "<think>" not in stripped else None
        notices.append("no <answer> tag in the response")
    label = normalize_label(answer, labels)
    if answer and label is None:
        notices.append(f"answer '{answer[:40]}' is outside the label set")
    well_formed = bool(_FORMAT.fullmatch(stripped))
    return ParsedResponse(text, think, answer, label, well_formed, notices)
