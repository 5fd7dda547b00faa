"""EMER-style truthful reasoning for synthetic clips, with the truth of every unit it writes, and a checker
for the cue claims in any free-form text built from the phrasing inventory.

The grammar (`compose`) writes what an annotator of the real R1-Omni cold-start data writes: a scene remark,
a remark on what is said, one to three cue clauses per sentence (several cues of one or both modalities),
hedges ("which may suggest anger"), concessions ("although the voice stays calm, ..."), and a conclusion
with synonyms, sometimes naming several emotions. Its words come from `r1omni.synthetic.grammar`: 45 cue
phrasings per (modality, emotion), a fixed seeded fifth of them (and of every template list) held out of
training (`split="heldout"`) for evaluation only.

Every unit `compose` writes is recorded (`Unit`: kind, modality, emotion, character span in the completion,
held out or not, hedged, conceded), so planted true and false units can be checked exactly. For text it did
not write (a model's output), `find_cues` finds every inventory phrasing (trained and held out) in the text;
`claim_facts` / `check_claims` / `false_claim` work on that. A sentence with no inventory phrasing falls back
to a lexicon: one modality word plus one emotion word.
This module knows nothing about pixels or waveforms: ground truth comes from a `ClipSpec` or a manifest row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from r1omni.synthetic import grammar as g
from r1omni.synthetic.clips import LABELS

logger = logging.getLogger(__name__)

CLAIM_MODALITIES = ("video", "audio")
SPLITS = ("train", "heldout", "all")


@dataclass(frozen=True)
class Unit:
    """One unit of a composed reasoning: `completion[start:end]` is its text.

    kind: "cue" (one cue of one modality: `modality` shows `emotion`), "scene" (video, no emotion), "speech"
    (audio: what is said, no emotion), "hedge" (names `emotion` as what the sentence's cues suggest) or
    "conclusion" (`emotion` = the answer; `also` = other labels it names, set aside).
    """

    kind: str
    start: int
    end: int
    modality: str | None = None
    emotion: str | None = None
    held_out: bool = False
    hedged: bool = False
    conceded: bool = False
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reasoning:
    """A composed completion and the truth of each unit in it."""

    text: str
    units: tuple[Unit, ...]

    def cue_units(self) -> list[Unit]:
        return [u for u in self.units if u.kind == "cue"]


def _sentence_form(phrasing: str) -> str:
    return phrasing + "."


# The training phrasings as plain sentences, per (modality, emotion) (a phrase bank for older callers).
PHRASES: dict[tuple[str, str], tuple[str, ...]] = {
    key: tuple(_sentence_form(p) for p in g.phrasings(key, "train")) for key in sorted(g.CORES)
}
CONCLUSIONS: tuple[str, ...] = tuple(
    c.replace("{n}", "{label}").replace("{a}", "{label}") for c in g.templates("conclusions", "train")
    if "{x}" not in c and "{n2}" not in c
)

# DESIGN 4: words that make a sentence cite a modality (fallback parsing of text outside the inventory).
VISUAL_WORDS = frozenset({"face", "brow", "brows", "eyebrows", "mouth", "eye", "eyes", "eyelids", "lip", "lips",
                          "jaw", "nose", "cheeks", "forehead", "gaze", "expression", "smile", "frown", "grin",
                          "facial"})
AUDIO_WORDS = frozenset({"voice", "tone", "pitch", "pace", "volume", "speech", "sound", "sounds", "intonation",
                         "delivery", "syllable", "vocal", "speaking"})

# Emotion words a free-form sentence may use (fallback parsing of sentences outside the inventory).
_EMOTION_WORDS = {**{w: lab for w, lab in g.EMOTION_LEXICON.items() if " " not in w},
                  "surprise": "surprise", "furious": "angry", "sneer": "disgust", "relaxed": "neutral",
                  "fearful": "fear"}  # fmt: skip

TAGS = ("<think>", "</think>", "<answer>", "</answer>")


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


# ---------------------------------------------------------------------------------------------------------------
# composing


def _one(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _cores(key: tuple[str, str], split: str) -> list[int]:
    held = g.HELD_OUT_CORES[key]
    n = len(g.CORES[key])
    if split == "all":
        return list(range(n))
    return [i for i in range(n) if (i in held) == (split == "heldout")]


def _clauses(key: tuple[str, str], k: int, rng: np.random.Generator, split: str) -> list[tuple[str, bool]]:
    """k distinct cue clauses of `key` (distinct core wordings): [(text, held_out)]."""
    cores = _cores(key, split)
    pick = rng.choice(len(cores), size=min(k, len(cores)), replace=False)
    out = []
    for j in pick:
        i = cores[int(j)]
        out.append((g.CORES[key][i].format(o=_one(rng, g.OWNERS[key[0]])), i in g.HELD_OUT_CORES[key]))
    return out


class _Writer:
    """Accumulates sentences as pieces (text, unit fields or None) and resolves offsets at the end."""

    def __init__(self) -> None:
        self.sentences: list[list[tuple[str, dict | None]]] = []

    def add(self, pieces: list[tuple[str, dict | None]]) -> None:
        first, meta = pieces[0]
        pieces[0] = (first[:1].upper() + first[1:], meta)
        self.sentences.append(pieces)

    def build(self, answer: str) -> Reasoning:
        text, units = "<think>", []
        for s_i, pieces in enumerate(self.sentences):
            if s_i:
                text += " "
            for piece, meta in pieces:
                if meta is not None:
                    units.append(Unit(start=len(text), end=len(text) + len(piece), **meta))
                text += piece
        text += f"</think><answer>{answer}</answer>"
        return Reasoning(text, tuple(units))


def _cue_sentence(w: _Writer, clauses: list[tuple[str, str, str, bool]], rng: np.random.Generator, split: str,
                  hedge_label: str | None, concede: tuple[str, str, str, bool] | None = None,
                  lead: bool = True) -> None:
    """One sentence of cue clauses [(text, modality, emotion, held_out)], optional concession and hedge."""
    pieces: list[tuple[str, dict | None]] = []
    if concede is not None:
        c_text, c_mod, c_emo, c_held = concede
        tpl = _one(rng, g.templates("concessions", split))
        head, tail = tpl.split("{c}")
        pieces += [(head, None), (c_text, dict(kind="cue", modality=c_mod, emotion=c_emo, held_out=c_held,
                                                conceded=True)), (tail, None)]
    elif lead:
        opening = _one(rng, g.templates("leads", split))
        if opening:
            pieces.append((opening, None))
    hedged = hedge_label is not None
    for j, (text, mod, emo, held) in enumerate(clauses):
        if j:
            joins = g.templates("joins", split) if len(clauses) == 2 else (", ",)
            join = ", and " if (len(clauses) > 2 and j == len(clauses) - 1) else _one(rng, joins)
            pieces.append((join, None))
        pieces.append((text, dict(kind="cue", modality=mod, emotion=emo, held_out=held, hedged=hedged)))
    if hedged:
        tpl = _one(rng, g.templates("hedges", split))
        head, _ = tpl.split("{n}")
        noun = _one(rng, g.NOUNS[hedge_label])
        pieces += [(head, None), (noun, dict(kind="hedge", emotion=hedge_label))]
    pieces.append((".", None))
    # join pieces that are plain text so `add` can capitalise the first one
    if pieces[0][1] is None and not pieces[0][0]:
        pieces = pieces[1:]
    w.add(pieces)


def compose(truth: Any, rng: np.random.Generator, split: str = "train") -> Reasoning:
    """A truthful EMER-style reasoning for a clip (a ClipSpec or a row with label + video/audio labels or
    cue_modality), from the `split` phrasings ("train": what the demo model learns; "heldout": evaluation
    wording only; "all")."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    actual = modality_labels(truth)
    label = _label_of(truth)
    w = _Writer()
    if rng.random() < 0.5:
        w.add([(_one(rng, g.templates("scene", split)), dict(kind="scene", modality="video"))])
    speech_first = rng.random() < 0.3
    speech_late = not speech_first and rng.random() < 0.2
    if speech_first:
        w.add([(_one(rng, g.templates("speech", split)), dict(kind="speech", modality="audio"))])

    cued = [m for m in CLAIM_MODALITIES if actual[m] != "neutral"]
    calm = [m for m in CLAIM_MODALITIES if actual[m] == "neutral"]

    def clauses(m: str, k: int) -> list[tuple[str, str, str, bool]]:
        return [(t, m, actual[m], h) for t, h in _clauses((m, actual[m]), k, rng, split)]

    if not cued:  # nothing shows anywhere
        v, a = clauses("video", int(rng.integers(1, 3))), clauses("audio", 1)
        if rng.random() < 0.5:
            mixed = v + a
            _cue_sentence(w, mixed, rng, split, "neutral" if rng.random() < 0.3 else None)
        else:
            for part in ((v, a) if rng.random() < 0.5 else (a, v)):
                _cue_sentence(w, part, rng, split, None, lead=False)
    else:
        hedge = rng.random() < 0.55
        if len(cued) == 2:
            v, a = clauses("video", int(rng.integers(1, 3))), clauses("audio", int(rng.integers(1, 3)))
            if rng.random() < 0.45:  # one sentence, both modalities
                mixed = (v + a) if rng.random() < 0.5 else (a + v)
                _cue_sentence(w, mixed[:3], rng, split, label if hedge else None)
            else:
                order = (v, a) if rng.random() < 0.5 else (a, v)
                _cue_sentence(w, order[0], rng, split, None)
                _cue_sentence(w, order[1], rng, split, label if hedge else None, lead=rng.random() < 0.3)
        else:
            m, c = cued[0], calm[0]
            cues = clauses(m, int(rng.integers(1, 4)))
            calm_clause = clauses(c, 1)[0]
            style = rng.random()
            split_at = 1 if len(cues) == 3 and rng.random() < 0.5 else len(cues)
            first, rest = cues[:split_at], cues[split_at:]
            if style < 0.35:  # concession: the calm modality conceded
                _cue_sentence(w, first, rng, split, label if hedge and not rest else None, concede=calm_clause)
            elif style < 0.6:  # the calm modality first, its own sentence
                _cue_sentence(w, [calm_clause], rng, split, None, lead=False)
                _cue_sentence(w, first, rng, split, label if hedge and not rest else None)
            elif style < 0.9:  # the calm modality after the cues
                _cue_sentence(w, first, rng, split, label if hedge and not rest else None)
                if rest:
                    _cue_sentence(w, rest, rng, split, label if hedge else None, lead=False)
                    rest = []
                _cue_sentence(w, [calm_clause], rng, split, None, lead=False)
            else:  # both in one sentence
                _cue_sentence(w, [*first, calm_clause], rng, split, None)
            if rest:
                _cue_sentence(w, rest, rng, split, label if hedge else None, lead=False)
    if speech_late:
        w.add([(_one(rng, g.templates("speech", split)), dict(kind="speech", modality="audio"))])
    _conclusion(w, label, rng, split)
    return w.build(label)


def _conclusion(w: _Writer, label: str, rng: np.random.Generator, split: str) -> None:
    tpl = _one(rng, g.templates("conclusions", split))
    nouns = g.NOUNS[label]
    n = _one(rng, nouns)
    n2 = _one(rng, [x for x in nouns if x != n]) if "{n2}" in tpl else ""
    others = [lab for lab in LABELS if lab not in (label, "neutral")]
    x_label = _one(rng, others) if "{x}" in tpl else None
    x = _one(rng, g.NOUNS[x_label]) if x_label else ""
    text = tpl.format(n=n, n2=n2, a=_one(rng, g.ADJECTIVES[label]), x=x)
    w.add([(text[:-1], dict(kind="conclusion", emotion=label, also=(x_label,) if x_label else ())), (".", None)])


def build_reasoning(spec: Any, rng: np.random.Generator, split: str = "train") -> str:
    """`<think>...</think><answer>label</answer>`, every claim true for `spec` (`compose(...).text`)."""
    return compose(spec, rng, split).text


# ---------------------------------------------------------------------------------------------------------------
# reading any text


def split_sentences(text: str) -> list[str]:
    """Sentences of a think text (tags removed); each keeps its final punctuation."""
    m = re.search(r"<think>(.*?)(</think>|$)", text, flags=re.DOTALL)
    body = m.group(1) if m else text
    body = re.sub(r"</?(think|answer)>", " ", body)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", body.strip()) if s.strip()]


@lru_cache(maxsize=1)
def _inventory() -> tuple[re.Pattern[str], dict[str, tuple[str, str, bool]]]:
    meaning: dict[str, tuple[str, str, bool]] = {}
    for key in sorted(g.CORES):
        for split in ("train", "heldout"):
            for p in g.phrasings(key, split):
                meaning[p] = (key[0], key[1], split == "heldout")
    alts = sorted(meaning, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in alts) + r")(?![\w'])",
                         re.IGNORECASE)
    return pattern, meaning


def find_cues(text: str) -> list[Unit]:
    """Every inventory cue phrasing in `text` (trained or held out), in order, as cue `Unit`s with their
    offsets; hedging/concession are not read here (a phrasing's truth does not depend on them)."""
    pattern, meaning = _inventory()
    out = []
    for m in pattern.finditer(text):
        mod, emo, held = meaning[" ".join(m.group(0).lower().split())]
        out.append(Unit(kind="cue", start=m.start(), end=m.end(), modality=mod, emotion=emo, held_out=held))
    return out


def _fallback(sentence: str) -> list[tuple[str, str]]:
    words = set(re.findall(r"[a-z]+", sentence.lower()))
    cites_video, cites_audio = bool(words & VISUAL_WORDS), bool(words & AUDIO_WORDS)
    emotions = {_EMOTION_WORDS[x] for x in words if x in _EMOTION_WORDS}
    if cites_video == cites_audio or len(emotions) != 1:
        return []
    return [("video" if cites_video else "audio", emotions.pop())]


def claim_facts(sentence: str) -> list[tuple[str, str]]:
    """[(modality, cue_label)] a sentence (or clause) claims, one per cue phrasing in it; [] for
    conclusions, scene and speech remarks. Text with no inventory phrasing falls back to one lexicon
    modality plus one emotion word."""
    found = find_cues(sentence)
    if found:
        return [(u.modality, u.emotion) for u in found]
    return _fallback(sentence)


def check_claims(think_text: str, truth: Any) -> tuple[int, int]:
    """(n_true, n_total) over the cue claims of `think_text` against a ClipSpec or manifest row."""
    actual = modality_labels(truth)
    n_true = n_total = 0
    for sentence in split_sentences(think_text):
        for modality, cue in claim_facts(sentence):
            n_total += 1
            n_true += int(actual[modality] == cue)
    return n_true, n_total


def cue_sentence(modality: str, emotion: str, rng: np.random.Generator, split: str = "train") -> str:
    """One capitalised sentence with one cue phrasing of (modality, emotion) from `split`."""
    (text, _), = _clauses((modality, emotion), 1, rng, split)
    return text[:1].upper() + text[1:] + "."


def cue_clause(modality: str, emotion: str, rng: np.random.Generator, split: str = "train") -> str:
    """One lower-case cue clause of (modality, emotion) from `split` (to plant inside a sentence)."""
    (text, _), = _clauses((modality, emotion), 1, rng, split)
    return text


def false_claim(spec: Any, modality: str, rng: np.random.Generator, split: str = "train") -> str:
    """A cue sentence about `modality` that is false for this clip (names a label it does not show)."""
    if modality not in CLAIM_MODALITIES:
        raise ValueError(f"modality must be one of {CLAIM_MODALITIES}, got {modality!r}")
    actual = modality_labels(spec)[modality]
    wrong = [lab for lab in LABELS if lab != actual]
    return cue_sentence(modality, wrong[int(rng.integers(len(wrong)))], rng, split)


def true_claim(spec: Any, modality: str, rng: np.random.Generator, split: str = "train") -> str:
    """A cue sentence about `modality` that is true for this clip."""
    if modality not in CLAIM_MODALITIES:
        raise ValueError(f"modality must be one of {CLAIM_MODALITIES}, got {modality!r}")
    return cue_sentence(modality, modality_labels(spec)[modality], rng, split)


def corpus_lines(split: str = "train", samples: int = 3000, seed: int = 0) -> list[str]:
    """Text for tokenizer builders: every `split` phrasing (lower case and capitalised), every template
    rendered with every emotion word, `samples` composed reasonings (seeded), labels and tags. The demo
    tokenizer uses split="train": held-out wording never shapes its vocabulary."""
    lines: list[str] = []
    for key in sorted(g.CORES):
        for p in g.phrasings(key, split):
            lines += [p, p[:1].upper() + p[1:] + "."]
    words = [w for table in (g.NOUNS, g.ADJECTIVES) for ws in table.values() for w in ws]
    for name in ("hedges", "leads", "concessions", "joins", "scene", "speech", "conclusions"):
        for t in g.templates(name, split):
            lines.append(t.replace("{c}", "").replace("{n}", "").replace("{n2}", "").replace("{a}", "")
                         .replace("{x}", ""))
    lines += words
    rng = np.random.default_rng([seed, 7])
    for i in range(samples):
        label, mod = LABELS[i % len(LABELS)], ("video", "audio", "both")[(i // len(LABELS)) % 3]
        lines.append(compose({"label": label, "cue_modality": mod}, rng, split).text)
    lines += [f"<answer>{lab}</answer>" for lab in LABELS]
    lines += list(TAGS)
    return lines


def vocabulary(split: str = "train") -> list[str]:
    """Sorted distinct words (punctuation split off) the grammar can write from `split`."""
    words: set[str] = set()
    for line in corpus_lines(split, samples=0):
        words.update(re.findall(r"</?[a-z]+>|[a-z']+|[.,;]", line.lower()))
    for table in (g.NOUNS, g.ADJECTIVES):
        for ws in table.values():
            for w in ws:
                words.update(w.split())
    return sorted(words)
