"""Emotion words -> labels of each label set (DFEW, MAFW, RAVDESS), for reading free-form reasoning.

R1-Omni-style reasoning names emotions in open vocabulary ("worried", "astonished", "dissatisfied",
"heartbroken"). `map_emotion(word, labels)` maps one word onto a label set, or gives None when the word has
no sensible place in it ("shy", "confused", "embarrassed", "serious", "anticipation").

Words are grouped by *concept*; each label set says which label a concept lands on. The concepts that a
set has its own label for keep it (MAFW: "worried" -> anxious, "let-down" words -> disappointed; RAVDESS:
"calm" -> calm); the others fall back to the nearest of the seven basic labels (DFEW: worried -> fear,
disappointed -> sad, contempt -> disgust). Pure: no I/O.
"""

from __future__ import annotations

import re

from r1omni.prompts import DFEW, MAFW, RAVDESS

# concept -> surface forms (lower case, whole words; inflections listed, no stemming surprises)
CONCEPTS: dict[str, tuple[str, ...]] = {
    "happy": (
        "happy", "happier", "happiest", "happily", "happiness", "joy", "joys", "joyful", "joyfully", "joyous",
        "cheerful", "cheerfully", "cheerfulness", "delighted", "delight", "delightful", "glad", "gladly",
        "pleased", "pleasure", "grateful", "gratefully", "gratitude", "thankful", "excited", "excitedly",
        "excitement", "elated", "elation", "amused", "amusement", "merry", "jubilant", "ecstatic", "thrilled",
        "overjoyed", "gleeful", "gleefully", "glee", "blissful", "bliss", "upbeat", "contentment",
        "satisfied", "satisfaction", "euphoric", "euphoria",
    ),
    "surprise": (
        "surprise", "surprised", "astonished", "astonishment", "amazed", "amazement", "shocked",
        "shock", "startled", "stunned", "astounded", "dumbfounded", "flabbergasted", "incredulous",
    ),
    "neutral": (
        "neutral", "neutrality", "expressionless", "impassive", "emotionless", "unemotional", "unmoved",
    ),
    "calm": ("calm", "calmly", "calmness", "composed", "composure", "serene", "serenely", "serenity", "tranquil",
             "placid", "peaceful", "peacefully"),
    "angry": (
        "angry", "angrily", "anger", "angered", "furious", "furiously", "fury", "rage", "raging", "enraged",
        "irritated", "irritation", "irritable", "annoyed", "annoyance", "dissatisfied", "dissatisfaction",
        "frustrated", "frustration", "indignant", "indignation", "resentful", "resentment", "hostile",
        "hostility", "outraged", "outrage", "irate", "livid", "wrath", "exasperated", "exasperation",
    ),
    "disgust": (
        "disgust", "disgusted", "disgusting", "revulsion", "repulsed", "revolted", "repugnance", "loathing",
        "nauseated", "grossed", "aversion",
    ),
    "contempt": ("contempt", "contemptuous", "contemptuously", "disdain", "disdainful", "disdainfully", "scorn",
                 "scornful", "scornfully", "derision", "derisive", "sneering"),
    "sad": (
        "sad", "sadder", "saddest", "sadly", "sadness", "sorrow", "sorrowful", "sorrowfully", "grief",
        "grieving", "grieve", "heartbroken", "heartbreak", "upset", "unhappy", "unhappiness", "depressed",
        "depression", "dejected", "dejection", "gloomy", "gloom", "melancholy", "mournful", "miserable",
        "misery", "despair", "despairing", "downcast", "lonely", "loneliness", "desolate", "distressed",
        "distress", "forlorn", "woeful", "anguish", "anguished",
    ),
    "disappointed": ("disappointed", "disappointment", "disappointing", "disheartened", "discouraged"),
    "helpless": ("helpless", "helplessly", "helplessness", "powerless", "powerlessness", "hopeless",
                 "hopelessness"),
    "fear": (
        "fear", "fears", "feared", "fearful", "fearfully", "afraid", "scared", "frightened", "terrified",
        "terror", "panic", "panicked", "panicky", "alarmed", "horrified", "horror", "petrified", "dread",
    ),
    "anxious": (
        "anxious", "anxiously", "anxiety", "worried", "worry", "worries", "worrying", "nervous", "nervously",
        "nervousness", "tense", "tension", "tensely", "uneasy", "unease", "uneasiness", "apprehensive",
        "apprehension", "jittery", "restless", "restlessness",
    ),
}

# concept -> label, per label set (a concept missing from a row maps to nothing in that set)
_TARGETS: dict[tuple[str, ...], dict[str, str]] = {
    DFEW: {"happy": "happy", "surprise": "surprise", "neutral": "neutral", "calm": "neutral", "angry": "angry",
           "disgust": "disgust", "contempt": "disgust", "sad": "sad", "disappointed": "sad", "helpless": "sad",
           "fear": "fear", "anxious": "fear"},
    MAFW: {"happy": "happy", "surprise": "surprise", "neutral": "neutral", "calm": "neutral", "angry": "angry",
           "disgust": "disgust", "contempt": "contemptuous", "sad": "sad", "disappointed": "disappointed",
           "helpless": "helpless", "fear": "fear", "anxious": "anxious"},
    RAVDESS: {"happy": "happy", "surprise": "surprise", "neutral": "neutral", "calm": "calm", "angry": "angry",
              "disgust": "disgust", "contempt": "disgust", "sad": "sad", "disappointed": "sad", "helpless": "sad",
              "fear": "fear", "anxious": "fear"},
}

_WORD_CONCEPT: dict[str, str] = {w: c for c, words in CONCEPTS.items() for w in words}
# label names themselves (any set) map to their concept, so a set's own label always maps to itself
_WORD_CONCEPT.update({"contemptuous": "contempt", "anxious": "anxious", "disappointed": "disappointed",
                      "helpless": "helpless", "calm": "calm"})
EMOTION_WORD = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, _WORD_CONCEPT), key=len, reverse=True))
                          + r")\b", re.IGNORECASE)


def concept_of(word: str) -> str | None:
    """The concept a surface word belongs to ("worried" -> "anxious"), or None."""
    return _WORD_CONCEPT.get(word.strip().lower())


def map_emotion(word: str, labels: tuple[str, ...] = DFEW) -> str | None:
    """The label of `labels` an emotion word asserts, or None (not an emotion word, or no sensible label).

    >>> map_emotion("worried"), map_emotion("worried", MAFW), map_emotion("Astonished"), map_emotion("shy")
    ('fear', 'anxious', 'surprise', None)
    >>> map_emotion("calm"), map_emotion("calm", RAVDESS), map_emotion("disdain", MAFW)
    ('neutral', 'calm', 'contemptuous')
    """
    concept = concept_of(word)
    if concept is None:
        return None
    targets = _TARGETS.get(tuple(labels))
    if targets is None:  # a custom label set: the concept's own name, or the nearest basic one, if it is a label
        for cand in (concept, _TARGETS[DFEW].get(concept)):
            if cand in labels:
                return cand
        return None
    label = targets.get(concept)
    return label if label in labels else None
