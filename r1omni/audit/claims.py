"""Claim extraction from a completion: split `<think>` into sentences and tag the modality each cites.

Pure text functions (no model, no I/O). A *claim* is one sentence of the reasoning with its character
offsets in the completion text, the modalities it cites ("video", "audio", "text") and the emotion labels
it names. The automatic flags that need attributions live in `r1omni.explain.flags`; the audit store
(SQLite) is not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from r1omni.prompts import DFEW, normalize_label

Modality = str  # one of MODALITIES
MODALITIES = ("video", "audio", "text")

# Cue words per modality (lower case, matched on word starts so "smiles"/"frowning" hit "smile"/"frown").
# DESIGN 4: visual = face, brow, mouth, eyes, gesture, posture; audio = voice, tone, pitch, pace, volume,
# speech content; text = subtitles / on-screen words.
CUE_WORDS: dict[Modality, tuple[str, ...]] = {
    "video": (
        "face", "facial", "brow", "eyebrow", "forehead", "mouth", "lip", "eye", "gaze", "stare", "smil",
        # not "look"/"appear": "this looks like anger" is a conclusion, no visual cue
        "frown", "grin", "grimac", "scowl", "wrinkl", "cheek", "jaw", "chin", "nose", "teeth", "gestur",
        "posture", "body", "shoulder", "hand", "head", "nod", "expression", "glanc", "blink",
        "squint", "tear", "cry", "visual", "wide-eyed", "clench", "eyelid", "sneer", "glare",
    ),
    "audio": (
        "voice", "vocal", "tone", "pitch", "pace", "tempo", "rate of speech", "volume", "loud", "quiet",
        "soft", "speech", "speak", "spoke", "said", "says", "say ", "utter", "sound", "audio", "prosod",
        "intonation", "tremb", "tremor", "shak", "harsh", "shout", "yell", "scream", "whisper", "sigh",
        "laugh", "sob", "breath", "monoton", "shrill", "hear", "heard", "word", "talk", "accent", "stutter",
    ),
    "text": ("subtitle", "caption", "on-screen text", "written", "the text"),
}
# "voice is shaking" is audio; "hands are shaking" is video: a visual body word wins over a bare "shak".
_AMBIGUOUS_AUDIO = ("shak", "tremb", "tremor", "laugh", "sob", "breath", "sigh")

_SPEECH_VERBS = ("say", "said", "word", "talk", "speak", "spoke")

_PATTERNS: dict[Modality, re.Pattern[str]] = {
    m: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)
    for m, words in CUE_WORDS.items()
}
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
# A sentence ends at . ! ? (one or more, optional closing quote/bracket) followed by space or the end.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")
_NEGATION = re.compile(r"\b(?:not|no|never|without|nor|isn't|aren't|wasn't|doesn't|don't|lack of)\W+(?:\w+\W+){0,2}$",
                       re.IGNORECASE)
# Descriptors of one modality's state that are no emotion verdict ("the voice stays neutral").
NON_VERDICT_LABELS = frozenset({"neutral", "calm"})


@dataclass(frozen=True)
class Claim:
    """One reasoning sentence: `text == completion[start:end]`."""

    text: str
    start: int
    end: int
    cites: tuple[Modality, ...]
    emotions: tuple[str, ...]


def think_span(completion: str) -> tuple[int, int] | None:
    """Character offsets of the `<think>` body in `completion` (to `</think>`, `<answer>` or the end)."""
    i = completion.find(_THINK_OPEN)
    if i < 0:
        return None
    start = i + len(_THINK_OPEN)
    ends = [j for j in (completion.find(_THINK_CLOSE, start), completion.find("<answer>", start)) if j >= 0]
    return start, min(ends) if ends else len(completion)


def answer_span(completion: str) -> tuple[int, int] | None:
    """Character offsets of the first `<answer>` body in `completion`, or None."""
    m = _ANSWER.search(completion)
    return (m.start(1), m.end(1)) if m else None


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text[start:end]`, whitespace trimmed, empty ones dropped.

    >>> t = "The brow is low. Voice shakes!  Done"
    >>> [t[a:b] for a, b in split_sentences(t)]
    ['The brow is low.', 'Voice shakes!', 'Done']
    """
    end = len(text) if end is None else end
    spans, cur = [], start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.append((cur, m.end()))
        cur = m.end()
    spans.append((cur, end))
    out = []
    for a, b in spans:
        seg = text[a:b]
        a2 = a + (len(seg) - len(seg.lstrip()))
        b2 = b - (len(seg) - len(seg.rstrip()))
        if b2 > a2:
            out.append((a2, b2))
    return out


def tag_modalities(sentence: str) -> tuple[Modality, ...]:
    """The modalities a sentence cites, in MODALITIES order.

    >>> tag_modalities("Her brow is furrowed and her voice is sharp."), tag_modalities("So, anger.")
    (('video', 'audio'), ())
    """
    hits = {m: [x.group(0).lower() for x in p.finditer(sentence)] for m, p in _PATTERNS.items()}
    audio = hits["audio"]
    if audio and hits["video"] and all(w.startswith(_AMBIGUOUS_AUDIO) for w in audio):
        if not re.search(r"\b(?:voice|vocal|tone|speech|sound)", sentence, re.IGNORECASE):
            hits["audio"] = []  # "her hands are shaking": a body movement, not a voice cue
    if hits["text"] and all(w.startswith(_SPEECH_VERBS) for w in hits["audio"]):
        hits["audio"] = []  # "the subtitle says ...": the words are read, not heard
    return tuple(m for m in MODALITIES if hits[m])


def emotion_words(sentence: str, labels: tuple[str, ...] = DFEW) -> tuple[str, ...]:
    """Labels named (not negated) in a sentence, in order of appearance, without repeats.

    >>> emotion_words("She is not angry; she looks happy and joyful.")
    ('happy',)
    """
    found: list[str] = []
    for m in re.finditer(r"[A-Za-z]+", sentence):
        label = normalize_label(m.group(0), labels)
        if label is None or label in found:
            continue
        if _NEGATION.search(sentence[: m.start()]):
            continue
        found.append(label)
    return tuple(found)


_NEUTRAL_STATE = re.compile(
    r"\b(calm|relaxed|still|steady|even|flat|level|plain|neutral|composed|unchanged|no (clear|visible|obvious))\b",
    re.IGNORECASE,
)


def is_neutral_claim(sentence: str, labels: tuple[str, ...] = DFEW) -> bool:
    """A claim that a modality shows nothing in particular ("the face stays relaxed"), no emotional cue.

    >>> is_neutral_claim("The voice stays calm and even."), is_neutral_claim("The voice trembles.")
    (True, False)
    """
    named = [e for e in emotion_words(sentence, labels) if e not in NON_VERDICT_LABELS]
    return not named and bool(_NEUTRAL_STATE.search(sentence))


def extract_claims(completion: str, labels: tuple[str, ...] = DFEW) -> list[Claim]:
    """The sentences of the completion's `<think>` body as claims (offsets index `completion`)."""
    span = think_span(completion)
    if span is None:
        return []
    return [
        Claim(completion[a:b], a, b, tag_modalities(completion[a:b]), emotion_words(completion[a:b], labels))
        for a, b in split_sentences(completion, *span)
    ]


def contradicts(claim: Claim, answer_label: str | None) -> bool:
    """Whether the claim names an emotion verdict other than the answer.

    "neutral"/"calm" describing one modality ("the voice stays neutral") is no verdict, unless the answer
    itself is one of them and the claim names another emotion.

    >>> c = extract_claims("<think>The face looks angry.</think><answer>happy</answer>")[0]
    >>> contradicts(c, "happy"), contradicts(c, "angry"), contradicts(c, None)
    (True, False, False)
    """
    if answer_label is None:
        return False
    return any(e != answer_label and e not in NON_VERDICT_LABELS for e in claim.emotions)
