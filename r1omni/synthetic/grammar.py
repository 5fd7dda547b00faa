"""The phrasing inventory of the EMER-style reasoning grammar (r1omni/synthetic/reasoning.py composes it).

A *cue phrasing* is one clause that describes one cue of one modality: `(modality, emotion)` with modality
"video" (the drawn face) or "audio" (the synthetic voice) and emotion one of the 7 DFEW labels ("neutral" =
that modality shows nothing). Each (modality, emotion) has 15 *core wordings* written for what the synthetic
clips really draw and voice (r1omni/synthetic/face.py FACE_TARGETS, voice.py VOICE_TARGETS), each with an
owner slot `{o}` filled by "the", "the person's" or "the character's" ("the speaker's" for the voice):
45 phrasings per key.

A fixed, seeded fifth of the core wordings per key (with all their owner variants), and a fifth of every
other template list (hedges, leads, scene and speech remarks, conclusions), is HELD OUT: the demo model never
trains on them; benchmarks plant them to test claim checking on wording the model has not seen.
`HOLDOUT_SEED` and the rule in `_held_out` fix the split; tests pin it.

Nothing here invents facts about a clip: scene remarks say only what every synthetic clip has (one drawn
face, a plain two-colour gradient background, even lighting, a still camera) and speech remarks only that
the voice utters a few short syllables with no clear words.
"""

from __future__ import annotations

import numpy as np

LABELS = ("happy", "surprise", "neutral", "angry", "disgust", "sad", "fear")  # DFEW order (== clips.LABELS)
HOLDOUT_SEED = 16_04
HOLDOUT_FRACTION = 0.2
# Owner words per modality: "the speaker's" only for the voice (a parser may read "speaker" as audio).
OWNERS = {"video": ("the", "the person's", "the character's"), "audio": ("the", "the person's", "the speaker's")}

CORES: dict[tuple[str, str], tuple[str, ...]] = {
    ("video", "neutral"): (
        "{o} face stays relaxed",
        "{o} face shows no clear expression",
        "{o} mouth stays closed and still",
        "{o} brows stay level",
        "{o} eyes stay calm and open",
        "{o} face looks composed",
        "{o} expression stays even",
        "{o} facial features stay at rest",
        "{o} face remains still",
        "{o} mouth rests in a straight line",
        "{o} brows and lips hardly move",
        "{o} gaze stays steady",
        "{o} face keeps a plain look",
        "{o} eyelids stay at their usual height",
        "{o} expression is blank and calm",
    ),
    ("video", "happy"): (
        "{o} mouth curves up into a smile",
        "the corners of {o} mouth lift",
        "{o} lips spread into a wide smile",
        "a broad smile spreads across {o} face",
        "{o} eyes crinkle above a grin",
        "{o} cheeks lift with a smile",
        "{o} face breaks into a grin",
        "{o} mouth widens into a beaming smile",
        "{o} eyes narrow warmly as the mouth turns up",
        "{o} smiling mouth opens slightly",
        "{o} lips curl upward at both corners",
        "{o} face lights up with a smile",
        "{o} eyes half close in a cheerful squint",
        "{o} face brightens and the mouth turns up",
        "{o} mouth draws into a wide upturned curve",
    ),
    ("video", "surprise"): (
        "{o} brows shoot up",
        "{o} eyes open wide",
        "{o} mouth drops open into a round shape",
        "{o} jaw falls open",
        "{o} eyebrows arch high",
        "{o} eyes go round and wide",
        "{o} mouth forms a small round o",
        "{o} forehead lifts as the brows rise",
        "{o} face looks startled",
        "{o} eyes widen suddenly",
        "{o} lips part into an oval",
        "{o} brows lift high above wide eyes",
        "{o} face freezes in a startled look",
        "{o} mouth hangs open",
        "{o} whole face opens up with high brows and round eyes",
    ),
    ("video", "angry"): (
        "{o} brows pull down into a hard frown",
        "{o} brows form a sharp v",
        "{o} eyes narrow into a glare",
        "{o} face tightens under lowered brows",
        "{o} eyes glare under knitted brows",
        "{o} brows knit together",
        "{o} forehead furrows as the brows drop",
        "{o} mouth sets in a tight line",
        "{o} face hardens into a scowl",
        "{o} inner brows angle down sharply",
        "{o} gaze turns hard and narrow",
        "{o} eyes squint fiercely",
        "{o} brows slant down toward the nose",
        "{o} lips press together in a frown",
        "{o} face looks stern and tense",
    ),
    ("video", "disgust"): (
        "one side of {o} upper lip curls up",
        "{o} nose wrinkles",
        "{o} mouth twists to one side",
        "{o} face shows a sneer",
        "{o} nose crinkles",
        "one of {o} brows pulls down",
        "{o} mouth pulls up on one side",
        "{o} lip curls into a sneer",
        "{o} face puckers around the nose",
        "{o} mouth bends into a lopsided grimace",
        "lines form across the bridge of {o} nose",
        "{o} brows sit unevenly with one pulled low",
        "{o} upper lip lifts on one side",
        "{o} face scrunches up",
        "{o} mouth curls crookedly",
    ),
    ("video", "sad"): (
        "the corners of {o} mouth turn down",
        "{o} inner brows rise",
        "{o} eyelids droop",
        "{o} face looks downcast",
        "{o} mouth sags into a frown",
        "{o} lips turn downward",
        "{o} eyes look heavy and half closed",
        "{o} brows tilt up in the middle",
        "{o} face falls",
        "{o} mouth droops at both corners",
        "{o} gaze looks tired and low",
        "{o} eyes sag beneath upturned inner brows",
        "{o} mouth bows downward",
        "{o} face wears a sorrowful look",
        "{o} expression sinks into gloom",
    ),
    ("video", "fear"): (
        "{o} mouth stretches wide and tense",
        "{o} eyes stare wide under slanted brows",
        "{o} lips pull back and part",
        "{o} face looks tense with wide eyes",
        "{o} brows rise and pinch together",
        "{o} eyes bulge open",
        "{o} mouth pulls sideways into a tense opening",
        "{o} face looks frightened",
        "{o} whole face tenses up",
        "{o} brows lift and slant upward in the middle",
        "{o} mouth opens in a strained stretch",
        "the whites of {o} eyes show",
        "{o} lips stretch tight over an open mouth",
        "{o} eyes widen in alarm",
        "{o} face freezes in a strained look",
    ),
    ("audio", "neutral"): (
        "{o} voice stays calm and even",
        "{o} tone is flat and steady",
        "{o} pitch stays level",
        "{o} speech sounds plain and relaxed",
        "{o} voice keeps an even pace",
        "{o} voice sounds calm",
        "{o} speaking rate stays moderate",
        "{o} volume stays moderate",
        "{o} intonation stays level",
        "{o} voice is steady throughout",
        "{o} voice carries no strong feeling",
        "{o} tone stays relaxed",
        "{o} vocal delivery is measured",
        "{o} voice holds a plain tone",
        "{o} speech flows at a normal pace",
    ),
    ("audio", "happy"): (
        "{o} voice is bright and lively",
        "{o} pitch rises in a cheerful lilt",
        "{o} pace quickens and the tone turns warm",
        "{o} voice sounds light and upbeat",
        "{o} voice lifts with energy",
        "{o} tone becomes bouncy",
        "{o} speech speeds up with a sunny ring",
        "{o} pitch climbs playfully",
        "{o} voice grows louder and brighter",
        "{o} tone is warm and animated",
        "{o} speech has a cheerful bounce",
        "{o} voice sounds excited and friendly",
        "{o} intonation is lively and upward",
        "{o} voice rings out clearly and happily",
        "{o} speaking rate picks up with a bright tone",
    ),
    ("audio", "surprise"): (
        "{o} pitch jumps up high",
        "{o} voice rises sharply at the end of each syllable",
        "{o} voice shoots up in pitch",
        "{o} tone leaps upward",
        "{o} voice sounds astonished",
        "{o} intonation swoops steeply upward",
        "{o} voice gets suddenly loud and high",
        "{o} pitch soars on every syllable",
        "{o} voice rises like an exclamation",
        "{o} speech turns into rising exclamations",
        "{o} voice sounds amazed",
        "{o} tone lifts abruptly",
        "{o} voice goes up as if asking a question",
        "{o} pitch spikes upward",
        "{o} voice bursts out high",
    ),
    ("audio", "angry"): (
        "{o} voice is loud and harsh",
        "{o} tone is rough and forceful",
        "{o} speech is fast and loud",
        "{o} pitch falls hard on each syllable",
        "{o} voice rasps with force",
        "{o} voice sounds like shouting",
        "{o} tone turns sharp and aggressive",
        "{o} voice booms",
        "{o} speech comes out clipped and harsh",
        "{o} voice grows heated",
        "{o} volume surges with a grating edge",
        "{o} vocal delivery is rapid and hostile",
        "{o} voice snaps out each syllable",
        "{o} tone is hard and biting",
        "{o} voice sounds furious",
    ),
    ("audio", "disgust"): (
        "{o} voice drops low and rough",
        "{o} tone is slow and scornful",
        "{o} pitch falls with a gritty sound",
        "{o} speech drags in a low rough tone",
        "{o} voice sounds repelled",
        "{o} tone turns sour",
        "{o} voice grumbles low",
        "{o} speech slows into a contemptuous drawl",
        "{o} pitch sinks with a coarse edge",
        "{o} voice has a scornful rasp",
        "{o} tone drips with distaste",
        "{o} voice comes out low and grating",
        "{o} vocal delivery is slow and grudging",
        "{o} intonation falls in a disdainful way",
        "{o} voice sounds thick and displeased",
    ),
    ("audio", "sad"): (
        "{o} voice is slow and quiet",
        "{o} pitch sinks low and soft",
        "{o} pace slows and the volume drops",
        "{o} tone is dull and weak",
        "{o} voice sounds heavy",
        "{o} speech fades to a murmur",
        "{o} voice trails off quietly",
        "{o} tone is subdued and dark",
        "{o} voice sounds tired and low",
        "{o} speech is faint and unhurried",
        "{o} volume falls away",
        "{o} voice grows muffled and somber",
        "{o} intonation droops downward",
        "{o} vocal delivery is soft and sluggish",
        "{o} voice sounds sorrowful",
    ),
    ("audio", "fear"): (
        "{o} voice trembles",
        "{o} voice shakes with a quick high pitch",
        "{o} pace is rushed and the tone is shaky",
        "{o} pitch wavers up high",
        "{o} voice quivers",
        "{o} speech hurries nervously",
        "{o} voice flutters anxiously",
        "{o} tone is thin and unsteady",
        "{o} voice wobbles as it speeds up",
        "{o} speech comes in quick trembling bursts",
        "{o} pitch stays high and jittery",
        "{o} voice sounds frightened",
        "{o} vocal delivery is hasty and tremulous",
        "{o} voice sounds breathless and tense",
        "{o} tone quavers nervously",
    ),
}

# Emotion words: nouns (hedges, conclusions) and adjectives (conclusions), per label. Several per label so
# conclusions use synonyms; all map back to their label (`EMOTION_LEXICON`).
NOUNS: dict[str, tuple[str, ...]] = {
    "happy": ("happiness", "joy", "delight", "cheerfulness", "amusement", "contentment"),
    "surprise": ("surprise", "astonishment", "amazement", "shock"),
    "neutral": ("a neutral state", "calm", "composure", "no strong emotion"),
    "angry": ("anger", "irritation", "annoyance", "rage", "frustration"),
    "disgust": ("disgust", "distaste", "revulsion", "contempt"),
    "sad": ("sadness", "sorrow", "disappointment", "unhappiness", "grief"),
    "fear": ("fear", "anxiety", "worry", "nervousness", "alarm"),
}
ADJECTIVES: dict[str, tuple[str, ...]] = {
    "happy": ("happy", "joyful", "cheerful", "delighted", "pleased"),
    "surprise": ("surprised", "astonished", "amazed", "startled"),
    "neutral": ("neutral", "calm", "composed", "at ease"),
    "angry": ("angry", "irritated", "annoyed", "furious", "frustrated"),
    "disgust": ("disgusted", "repulsed", "put off", "contemptuous"),
    "sad": ("sad", "sorrowful", "disappointed", "downcast", "unhappy"),
    "fear": ("afraid", "scared", "anxious", "worried", "nervous", "frightened"),
}

# Hedges follow a cue clause and name the emotion the cue suggests: ", which may suggest anger".
HEDGES = (
    ", which may suggest {n}",
    ", which could point to {n}",
    ", which may indicate {n}",
    ", a sign of {n}",
    ", which seems to express {n}",
    ", perhaps showing {n}",
    ", hinting at {n}",
    ", which often goes with {n}",
    ", which might reflect {n}",
    ", suggesting {n}",
)
# Leads open a cue sentence; the cue shows only inside a window, so none claims "the whole clip".
LEADS = (
    "",
    "At one point, ",
    "For a moment, ",
    "Partway through, ",
    "Briefly, ",
    "In one stretch of the clip, ",
    "During the clip, ",
    "Then ",
    "At some point, ",
    "For a short while, ",
)
# Concessions: a calm cue of the other modality conceded before the cue that carries the emotion.
CONCESSIONS = (
    "Although {c}, ",
    "Even though {c}, ",
    "While {c}, ",
    "Though {c}, ",
    "Despite the fact that {c}, ",
)
# Joins of cue clauses inside one sentence.
JOINS = (" and ", ", and ", ", while ", "; at the same time, ", ", as ")
# What every synthetic clip shows (one drawn face on a static two-colour gradient, no lighting change, a
# still camera): true for any clip. Video modality, no emotion.
SCENE = (
    "In the video, a single face is shown against a plain background.",
    "The background is a smooth color gradient.",
    "The lighting stays even.",
    "Only one person is in view.",
    "The camera stays still.",
    "The scene is a simple drawn face on a plain backdrop.",
    "The backdrop stays the same throughout.",
    "The lighting is flat and steady.",
    "There is nothing else in the scene.",
    "The face stays in the same place in the frame.",
)
# What is said: the synthetic voice utters voiced syllables, no words. Audio modality, no emotion.
SPEECH = (
    "The speaker says a short phrase.",
    "The person speaks a few short syllables.",
    "The words themselves are hard to make out.",
    "The speech is a string of short syllables.",
    "The speaker utters a brief phrase.",
    "The person talks briefly.",
    "The content of the speech gives little away, so the delivery matters more.",
    "The speaker makes a short utterance.",
    "What is said is too brief to carry meaning on its own.",
    "The person says a few syllables.",
)
# Conclusions: {n}/{n2} nouns and {a} adjectives of the answer's label; {x} a noun of another label (named
# to be set aside). Each cites no cue.
CONCLUSIONS_T = (
    "Therefore, it can be inferred that the person's emotional state is {n}.",
    "So the emotion is {n}.",
    "Overall, the person seems {a}.",
    "All of this points to {n}.",
    "Taken together, these cues suggest {n}.",
    "In summary, the speaker appears {a}.",
    "Therefore, the person is most likely {a}.",
    "Putting the cues together, the emotional state is {n}.",
    "Thus the person feels {n}, perhaps with some {n2}.",
    "Overall, this reads as {n} and {n2}.",
    "The clearest reading is {n} rather than {x}.",
    "Taken together, the person is {a}, more {n} than {x}.",
    "It can be concluded that the person feels {n}.",
    "So the speaker is {a}.",
    "In the end, the cues add up to {n}.",
)


def _held_out(n: int, stream: int) -> frozenset[int]:
    """Indices (of n items) held out of training: a fixed seeded fifth, at least one."""
    rng = np.random.default_rng([HOLDOUT_SEED, stream])
    k = max(1, round(n * HOLDOUT_FRACTION))
    return frozenset(int(i) for i in rng.choice(n, size=k, replace=False))


_KEYS = sorted(CORES)
HELD_OUT_CORES: dict[tuple[str, str], frozenset[int]] = {key: _held_out(len(CORES[key]), 100 + i)
                                                         for i, key in enumerate(_KEYS)}
HELD_OUT_TEMPLATES: dict[str, frozenset[int]] = {
    name: _held_out(len(seq), i) for i, (name, seq) in enumerate(
        [("hedges", HEDGES), ("leads", LEADS), ("concessions", CONCESSIONS), ("joins", JOINS), ("scene", SCENE),
         ("speech", SPEECH), ("conclusions", CONCLUSIONS_T)])
}
# The empty lead "" always stays in training (most sentences have no lead).
HELD_OUT_TEMPLATES["leads"] = HELD_OUT_TEMPLATES["leads"] - {0}


def templates(name: str, split: str) -> tuple[str, ...]:
    """A template list's `split` part: "train", "heldout" or "all"."""
    seq = {"hedges": HEDGES, "leads": LEADS, "concessions": CONCESSIONS, "joins": JOINS, "scene": SCENE,
           "speech": SPEECH, "conclusions": CONCLUSIONS_T}[name]
    return _split(seq, HELD_OUT_TEMPLATES[name], split)


def _split(seq, held: frozenset[int], split: str) -> tuple:
    if split == "all":
        return tuple(seq)
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train', 'heldout' or 'all', got {split!r}")
    return tuple(x for i, x in enumerate(seq) if (i in held) == (split == "heldout"))


def phrasings(key: tuple[str, str], split: str = "train") -> tuple[str, ...]:
    """The cue phrasings of (modality, emotion): each core wording with each owner, lower case, no period."""
    cores = _split(CORES[key], HELD_OUT_CORES[key], split)
    return tuple(c.format(o=o) for c in cores for o in OWNERS[key[0]])


EMOTION_LEXICON: dict[str, str] = {w: lab for table in (NOUNS, ADJECTIVES) for lab, ws in table.items() for w in ws}
