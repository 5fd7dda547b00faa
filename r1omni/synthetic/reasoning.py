"""Truthful reasoning texts for synthetic clips, and a checker for the claims in any such text.

Every cue sentence comes from `PHRASES[(modality, cue_label)]`, so its meaning is known: it claims that
`modality` ("video" or "audio") shows `cue_label` (an emotion, or "neutral"). `build_reasoning` picks true
sentences from a clip's ground truth; `claim_facts` maps a sentence back to its meaning; `check_claims`
counts how many claims of a `<think>` text are true for a clip; `false_claim` gives a sentence that is
false for a clip (to plant hallucinations in faithfulness benchmarks).

The bank is deliberately small (short sentences, about 200 distinct words) so a tiny LM can learn it;
`corpus_lines()` lists every string it can produce, for tokenizer builders. Visual sentences use only the
visual lexicon and audio sentences only the audio lexicon (DESIGN 4 "Claims"), never both in one sentence.
This module knows nothing about pixels or waveforms: ground truth comes from a `ClipSpec` or a manifest row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from r1omni.synthetic.clips import LABELS

logger = logging.getLogger(__name__)

CLAIM_MODALITIES = ("video", "audio")

PHRASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("video", "neutral"): (
        "the face stays relaxed.",
        "the face shows no clear expression.",
        "the mouth and brows stay still.",
        "the eyes and mouth look calm.",
        "the face looks calm.",
    ),
    ("video", "happy"): (
        "the mouth curves up into a smile.",
        "the lips spread in a wide smile and the eyes narrow.",
        "the face breaks into a broad smile.",
        "the corners of the mouth lift.",
        "the face looks happy.",
    ),
    ("video", "surprise"): (
        "the brows shoot up and the eyes open wide.",
        "the mouth drops open in a round shape.",
        "the face looks startled with raised brows.",
        "the eyes go wide and the jaw drops.",
        "the face looks surprised.",
    ),
    ("video", "angry"): (
        "the brows pull down into a hard frown.",
        "the brows form a sharp v and the eyes narrow.",
        "the face tightens under lowered brows.",
        "the eyes glare under knitted brows.",
        "the face looks angry.",
    ),
    ("video", "disgust"): (
        "one side of the upper lip curls up.",
        "the nose wrinkles and the mouth twists.",
        "the face shows a sneer with a wrinkled nose.",
        "the mouth pulls up to one side.",
        "the face looks disgusted.",
    ),
    ("video", "sad"): (
        "the corners of the mouth turn down.",
        "the inner brows rise and the eyelids droop.",
        "the face looks downcast with a frown.",
        "the mouth sags into a frown.",
        "the face looks sad.",
    ),
    ("video", "fear"): (
        "the mouth stretches wide and tense.",
        "the eyes go wide under slanted brows.",
        "the face looks tense with wide eyes and a stretched mouth.",
        "the lips pull back and part.",
        "the face looks afraid.",
    ),
    ("audio", "neutral"): (
        "the voice stays calm and even.",
        "the tone is flat and steady.",
        "the pitch and pace stay level.",
        "the speech sounds plain and relaxed.",
        "the voice sounds calm.",
    ),
    ("audio", "happy"): (
        "the voice is bright and lively.",
        "the pitch rises in a cheerful tone.",
        "the pace is quick and the tone is warm.",
        "the voice sounds light and upbeat.",
        "the voice sounds happy.",
    ),
    ("audio", "surprise"): (
        "the pitch jumps up high.",
        "the voice rises sharply at the end of each word.",
        "the voice shoots up in pitch.",
        "the tone leaps up with a loud gasp.",
        "the voice sounds surprised.",
    ),
    ("audio", "angry"): (
        "the voice is loud and harsh.",
        "the tone is rough and forceful.",
        "the speech is fast and loud.",
        "the pitch falls hard on each word.",
        "the voice sounds angry.",
    ),
    ("audio", "disgust"): (
        "the voice drops low and rough.",
        "the tone is slow and scornful.",
        "the pitch falls with a gritty sound.",
        "the speech drags in a low rough tone.",
        "the voice sounds disgusted.",
    ),
    ("audio", "sad"): (
        "the voice is slow and quiet.",
        "the pitch sinks low and soft.",
        "the pace slows and the volume drops.",
        "the tone is dull and weak.",
        "the voice sounds sad.",
    ),
    ("audio", "fear"): (
        "the voice trembles.",
        "the voice shakes with a quick high pitch.",
        "the pace is rushed and the tone is shaky.",
        "the pitch wavers up high.",
        "the voice sounds afraid.",
    ),
}

CONCLUSIONS: tuple[str, ...] = (
    "so the emotion is {label}.",
    "overall this looks like {label}.",
    "all of this points to {label}.",
    "the best label is {label}.",
)

# DESIGN 4: words that make a sentence cite a modality (the audit's claim tagger looks for these stems).
VISUAL_WORDS = frozenset({"face", "brow", "brows", "mouth", "eye", "eyes", "eyelids", "lip", "lips", "jaw", "nose"})
AUDIO_WORDS = frozenset({"voice", "tone", "pitch", "pace", "volume", "speech", "sound", "sounds", "word"})

# Emotion words a free-form sentence may use (fallback parsing of sentences outside the bank).
_EMOTION_WORDS = {
    "happy": "happy", "cheerful": "happy", "joyful": "happy",
    "surprised": "surprise", "startled": "surprise", "surprise": "surprise",
    "angry": "angry", "furious": "angry", "anger": "angry",
    "disgusted": "disgust", "disgust": "disgust", "sneer": "disgust",
    "sad": "sad", "sadness": "sad", "downcast": "sad",
    "afraid": "fear", "fearful": "fear", "scared": "fear", "fear": "fear",
    "neutral": "neutral", "calm": "neutral", "relaxed": "neutral",
}  # fmt: skip

TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def _normalise(sentence: str) -> str:
    text = sentence.lower().replace(",", " ")
    text = re.sub(r"\s+([.!?])", r"\1", text)
    return " ".join(text.split()).rstrip(".!? ")


_MEANING: dict[str, tuple[str, str]] = {
    _normalise(s): key for key, sentences in PHRASES.items() for s in sentences
}  # fmt: skip


def modality_labels(truth: Any) -> dict[str, str]:
    """{"video": label, "audio": label}: what each modality shows inside the window (a ClipSpec or a row)."""
    if isinstance(truth, Mapping):
        if "video_label" in truth and "audio_label" in truth:
            return {"video": str(truth["video_label"]), "audio": str(truth["audio_label"])}
        label, mod = str(truth["label"]), str(truth["cue_modality"])
    else:
        label, mod = truth.label, truth.cue_modality
    return {
        "video": label if mod in ("video", "both") else "neutral",
        "audio": label if mod in ("audio", "both") else "neutral",
    }


def _label_of(truth: Any) -> str:
    return str(truth["label"]) if isinstance(truth, Mapping) else truth.label


def _pick(rng: np.random.Generator, options: tuple[str, ...], k: int = 1) -> list[str]:
    idx = rng.choice(len(options), size=k, replace=False)
    return [options[i] for i in sorted(idx)]


def build_reasoning(spec: Any, rng: np.random.Generator) -> str:
    """`<think>visual. audio. conclusion.</think><answer>label</answer>`, every claim true for `spec`."""
    truth = modality_labels(spec)
    parts: list[str] = []
    for modality in CLAIM_MODALITIES:
        cue = truth[modality]
        k = 1 if cue == "neutral" else int(rng.integers(1, 3))  # the cue modality gets one or two sentences
        parts.extend(_pick(rng, PHRASES[(modality, cue)], k))
    label = _label_of(spec)
    parts.append(CONCLUSIONS[int(rng.integers(len(CONCLUSIONS)))].format(label=label))
    return f"<think>{' '.join(parts)}</think><answer>{label}</answer>"


def split_sentences(text: str) -> list[str]:
    """Sentences of a think text (tags removed); each keeps its final punctuation."""
    m = re.search(r"<think>(.*?)(</think>|$)", text, flags=re.DOTALL)
    body = m.group(1) if m else text
    body = re.sub(r"</?(think|answer)>", " ", body)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", body.strip()) if s.strip()]


def claim_facts(sentence: str) -> list[tuple[str, str]]:
    """[(modality, cue_label)] a sentence claims; [] for conclusions and sentences with no clear claim.

    Bank sentences map exactly; others fall back to one lexicon modality plus one emotion word."""
    key = _normalise(sentence)
    if key in _MEANING:
        return [_MEANING[key]]
    words = set(re.findall(r"[a-z]+", key))
    cites_video, cites_audio = bool(words & VISUAL_WORDS), bool(words & AUDIO_WORDS)
    emotions = {_EMOTION_WORDS[w] for w in words if w in _EMOTION_WORDS}
    if cites_video == cites_audio or len(emotions) != 1:
        return []
    return [("video" if cites_video else "audio", emotions.pop())]


def check_claims(think_text: str, truth: Any) -> tuple[int, int]:
    """(n_true, n_total) over the cue claims of `think_text` against a ClipSpec or manifest row."""
    actual = modality_labels(truth)
    n_true = n_total = 0
    for sentence in split_sentences(think_text):
        for modality, cue in claim_facts(sentence):
            n_total += 1
            n_true += int(actual[modality] == cue)
    return n_true, n_total


def false_claim(spec: Any, modality: str, rng: np.random.Generator) -> str:
    """A bank sentence about `modality` that is false for this clip (names a label it does not show)."""
    if modality not in CLAIM_MODALITIES:
        raise ValueError(f"modality must be one of {CLAIM_MODALITIES}, got {modality!r}")
    actual = modality_labels(spec)[modality]
    wrong = [lab for lab in LABELS if lab != actual]
    cue = wrong[int(rng.integers(len(wrong)))]
    return _pick(rng, PHRASES[(modality, cue)])[0]


def corpus_lines() -> list[str]:
    """Every string the bank can produce: sentences, each conclusion per label, labels and tags."""
    lines = [s for sentences in PHRASES.values() for s in sentences]
    lines += [c.format(label=lab) for c in CONCLUSIONS for lab in LABELS]
    lines += [f"<answer>{lab}</answer>" for lab in LABELS]
    lines += list(TAGS)
    return lines


def vocabulary() -> list[str]:
    """Sorted distinct words (punctuation split off) in `corpus_lines()`."""
    words: set[str] = set()
    for line in corpus_lines():
        words.update(re.findall(r"</?[a-z]+>|[a-z]+|[.]", line.lower()))
    return sorted(words)
