"""Counterfactuals from the claim itself: rewrite a cue unit's emotion-bearing words for the other emotions.

A claim ("the corners of his mouth lift slightly") is rewritten into what it would say for another emotion
("the corners of his mouth turn down slightly") by replacing each emotion-bearing expression it holds with
the same *slot*'s expression for that emotion, in the same grammatical form, keeping every other character.

Lexicon (`SLOTS`, general English, written for this purpose): a slot is one feature a cue can describe
(mouth, brows, eyes, tears and crying, posture and gesture, the face as a whole; voice quality, pitch, pace,
volume, vocal actions such as laughing, sighing or sobbing) or the generic emotion vocabulary (adjectives
"worried", nouns "a hint of anger", adverbs "angrily"), which every modality uses. A slot has anchor words
(the feature's nouns: "brow", "eyebrows"); its expressions count only in a unit that names one, and when
two slots claim the same words the one whose anchor is nearest wins ("raised his eyebrows" is a brow
expression in a video unit, "raised his voice" a volume one in an audio unit). Expressions are verbs, given
as "base|3rd person|past|-ing" ("shoot up|shoots up|shot up|shooting up"), so "furrowed" becomes "shot up"
and "furrowing" becomes "shooting up", or fixed adjectives, nouns, adverbs and comparatives replaced by the
same kind only.

Labels: every expression carries a *fine* label: the DFEW labels plus the MAFW / RAVDESS ones DFEW lacks
("anxious", "contemptuous", "disappointed", "helpless", "calm"), with `COARSE` mapping those onto DFEW. In a
label set, an expression's label is its fine label when the set has it, else its coarse one ("worried" is
fear in DFEW, anxious in MAFW). The alternatives for a label L use L's own expressions first, then those of
the fine labels that map onto L and that the set lacks.

Pure text: no model.

>>> r = rewrite_claim("His voice is filled with joy.", ("audio",))
>>> r.own, r.span, r.alternatives["angry"][0]
(('happy',), (25, 28), 'anger')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from r1omni.prompts import DFEW

VERB, ADJ, NOUN, ADV, COMP = "verb", "adj", "noun", "adv", "comp"
FINE = DFEW + ("anxious", "contemptuous", "disappointed", "helpless", "calm")
COARSE = {lab: lab for lab in DFEW} | {"anxious": "fear", "contemptuous": "disgust", "disappointed": "sad",
                                       "helpless": "sad", "calm": "neutral"}
_FAR = 10**6  # anchor distance of a slot without anchors (the generic vocabulary): it loses every tie
_KIND_ORDER = {ADJ: 0, VERB: 1, COMP: 2, ADV: 3, NOUN: 4}  # same words: "slow" an adjective, "crying" a verb


@dataclass(frozen=True)
class Slot:
    """One feature's emotion-bearing expressions: modalities it serves, anchor words, {kind: {label: [...]}}."""

    name: str
    modalities: tuple[str, ...]
    anchors: tuple[str, ...]  # word starts; () = the generic vocabulary, valid anywhere
    entries: dict[str, dict[str, tuple[str, ...]]]


def _v(*forms: str) -> tuple[str, ...]:
    return forms


VIDEO, AUDIO, ANY = ("video",), ("audio",), ("video", "audio", "text")

SLOTS: tuple[Slot, ...] = (
    Slot("mouth", VIDEO, ("mouth", "lip", "corner", "smile"), {
        VERB: {
            "happy": _v("curve up|curves up|curved up|curving up", "lift|lifts|lifted|lifting",
                        "turn up|turns up|turned up|turning up", "turn upward|turns upward|turned upward|turning upward"),
            "sad": _v("turn down|turns down|turned down|turning down", "droop|droops|drooped|drooping",
                      "sag|sags|sagged|sagging", "turn downward|turns downward|turned downward|turning downward"),
            "surprise": _v("fall open|falls open|fell open|falling open",
                           "drop open|drops open|dropped open|dropping open",
                           "open|opens|opened|opening"),
            "angry": _v("tighten|tightens|tightened|tightening",
                        "press together|presses together|pressed together|pressing together"),
            "disgust": _v("curl|curls|curled|curling", "twist|twists|twisted|twisting", "raise|raises|raised|raising",
                          "pull up on one side|pulls up on one side|pulled up on one side|pulling up on one side"),
            "fear": _v("stretch|stretches|stretched|stretching", "quiver|quivers|quivered|quivering",
                       "bite|bites|bit|biting", "pull back|pulls back|pulled back|pulling back"),
            "neutral": _v("stay still|stays still|stayed still|staying still", "rest|rests|rested|resting"),
        },
        ADJ: {"happy": _v("upturned",), "sad": _v("downturned",), "surprise": _v("agape", "wide open", "round"),
              "angry": _v("tight", "pursed"), "disgust": _v("curled back",), "fear": _v("stretched wide",),
              "neutral": _v("closed",)},
    }),
    Slot("face action", VIDEO, (), {
        VERB: {  # verb and noun alike: "he smiled" / "a smile"
            "happy": _v("smile|smiles|smiled|smiling", "grin|grins|grinned|grinning", "beam|beams|beamed|beaming"),
            "angry": _v("scowl|scowls|scowled|scowling", "frown|frowns|frowned|frowning",
                        "glare|glares|glared|glaring"),
            "disgust": _v("sneer|sneers|sneered|sneering", "grimace|grimaces|grimaced|grimacing"),
            "sad": _v("pout|pouts|pouted|pouting", "sob|sobs|sobbed|sobbing", "cry|cries|cried|crying",
                      "weep|weeps|wept|weeping"),
            "fear": _v("wince|winces|winced|wincing", "flinch|flinches|flinched|flinching",
                       "cower|cowers|cowered|cowering"),
            "surprise": _v("gasp|gasps|gasped|gasping", "gape|gapes|gaped|gaping"),
            "neutral": _v("stare blankly|stares blankly|stared blankly|staring blankly",),
        },
    }),
    Slot("brows", VIDEO, ("brow", "eyebrow", "forehead"), {
        VERB: {
            "surprise": _v("shoot up|shoots up|shot up|shooting up", "raise|raises|raised|raising",
                           "arch|arches|arched|arching", "rise|rises|rose|rising"),
            "angry": _v("furrow|furrows|furrowed|furrowing", "knit|knits|knitted|knitting",
                        "draw together|draws together|drew together|drawing together",
                        "lower|lowers|lowered|lowering", "angle down|angles down|angled down|angling down",
                        "slant down|slants down|slanted down|slanting down"),
            "sad": _v("droop|droops|drooped|drooping", "sag|sags|sagged|sagging",
                      "tilt up in the middle|tilts up in the middle|tilted up in the middle|tilting up in the middle"),
            "fear": _v("pinch together|pinches together|pinched together|pinching together",
                       "draw up|draws up|drew up|drawing up", "slant upward|slants upward|slanted upward|slanting upward"),
            "disgust": _v("wrinkle|wrinkles|wrinkled|wrinkling", "pull down|pulls down|pulled down|pulling down"),
            "happy": _v("soften|softens|softened|softening",
                        "lift slightly|lifts slightly|lifted slightly|lifting slightly"),
            "neutral": _v("relax|relaxes|relaxed|relaxing", "stay level|stays level|stayed level|staying level"),
        },
    }),
    Slot("eyes", VIDEO, ("eye", "gaze", "stare", "glance", "look", "lid"), {
        VERB: {
            "surprise": _v("widen|widens|widened|widening", "go wide|goes wide|went wide|going wide"),
            "angry": _v("narrow|narrows|narrowed|narrowing", "flash|flashes|flashed|flashing"),
            "sad": _v("well up|wells up|welled up|welling up", "look down|looks down|looked down|looking down",
                      "fill with tears|fills with tears|filled with tears|filling with tears",
                      "lower|lowers|lowered|lowering", "droop|droops|drooped|drooping"),
            "fear": _v("dart around|darts around|darted around|darting around", "dart|darts|darted|darting",
                       "avoid eye contact|avoids eye contact|avoided eye contact|avoiding eye contact"),
            "happy": _v("sparkle|sparkles|sparkled|sparkling", "light up|lights up|lit up|lighting up",
                        "crinkle|crinkles|crinkled|crinkling"),
            "disgust": _v("roll|rolls|rolled|rolling", "squint|squints|squinted|squinting"),
            "neutral": _v("stay steady|stays steady|stayed steady|staying steady",),
        },
        ADJ: {"surprise": _v("wide", "wide open"), "sad": _v("downcast", "teary", "red and watery", "heavy", "tired"),
              "angry": _v("fierce", "hard"), "happy": _v("bright", "shining"), "fear": _v("darting",),
              "disgust": _v("narrowed in distaste",), "neutral": _v("steady", "unfocused")},
    }),
    Slot("tears", VIDEO + AUDIO, ("tear", "cry", "crying", "sob", "weep"), {
        VERB: {"sad": _v("roll down|roll down|rolled down|rolling down",
                         "stream down|stream down|streamed down|streaming down"),
               "happy": _v("glisten|glisten|glistened|glistening",), "angry": _v("sting|sting|stung|stinging",),
               "fear": _v("well up|well up|welled up|welling up",),
               "surprise": _v("spring up|spring up|sprang up|springing up",),
               "disgust": _v("burn|burn|burned|burning",), "neutral": _v("dry|dry|dried|drying",)},
        NOUN: {"sad": _v("tears of sadness", "tears of grief"), "happy": _v("tears of joy",),
               "angry": _v("tears of anger", "tears of rage"), "fear": _v("tears of fear",),
               "surprise": _v("tears of shock",), "disgust": _v("tears of disgust",),
               "neutral": _v("a few tears",)},
    }),
    Slot("jaw and nose", VIDEO, ("jaw", "teeth", "nostril", "nose", "chin"), {
        VERB: {
            "angry": _v("clench|clenches|clenched|clenching", "flare|flares|flared|flaring",
                        "grit|grits|gritted|gritting"),
            "disgust": _v("wrinkle|wrinkles|wrinkled|wrinkling", "scrunch up|scrunches up|scrunched up|scrunching up",
                          "crinkle|crinkles|crinkled|crinkling", "pucker|puckers|puckered|puckering"),
            "surprise": _v("drop|drops|dropped|dropping", "fall slack|falls slack|fell slack|falling slack",
                           "fall open|falls open|fell open|falling open", "hang open|hangs open|hung open|hanging open"),
            "sad": _v("quiver|quivers|quivered|quivering", "tremble|trembles|trembled|trembling"),
            "fear": _v("chatter|chatters|chattered|chattering", "tense|tenses|tensed|tensing"),
            "happy": _v("relax|relaxes|relaxed|relaxing",),
            "neutral": _v("stay loose|stays loose|stayed loose|staying loose",),
        },
    }),
    Slot("posture", VIDEO, ("shoulder", "head", "body", "arm", "hand", "fist", "posture", "back", "chest",
                            "sofa", "chair", "seat", "sat", "sit", "lean", "gesture", "foot", "feet", "leg"), {
        VERB: {
            "sad": _v("slump|slumps|slumped|slumping", "hang|hangs|hung|hanging", "sag|sags|sagged|sagging",
                      "drop|drops|dropped|dropping"),
            "angry": _v("clench|clenches|clenched|clenching", "tense|tenses|tensed|tensing",
                        "jab|jabs|jabbed|jabbing", "slam|slams|slammed|slamming", "slap|slaps|slapped|slapping"),
            "fear": _v("shrink back|shrinks back|shrank back|shrinking back", "tremble|trembles|trembled|trembling",
                       "shake|shakes|shook|shaking", "freeze|freezes|froze|freezing",
                       "fidget|fidgets|fidgeted|fidgeting",
                       "fiddle|fiddles|fiddled|fiddling", "wring|wrings|wrung|wringing",
                       "pace back and forth|paces back and forth|paced back and forth|pacing back and forth"),
            "surprise": _v("jerk back|jerks back|jerked back|jerking back", "jump|jumps|jumped|jumping",
                           "sit up|sits up|sat up|sitting up", "jolt|jolts|jolted|jolting"),
            "happy": _v("bounce|bounces|bounced|bouncing", "clap|claps|clapped|clapping", "wave|waves|waved|waving",
                        "hug|hugs|hugged|hugging"),
            "disgust": _v("recoil|recoils|recoiled|recoiling", "turn away|turns away|turned away|turning away"),
            "neutral": _v("stay still|stays still|stayed still|staying still", "rest|rests|rested|resting",
                          "nod|nods|nodded|nodding", "shrug|shrugs|shrugged|shrugging",
                          "relax|relaxes|relaxed|relaxing"),
        },
        ADJ: {"sad": _v("slumped", "hunched", "drooping"), "angry": _v("tense", "rigid"),
              "fear": _v("trembling", "stiff"), "surprise": _v("startled",), "happy": _v("animated", "open"),
              "disgust": _v("turned away",), "neutral": _v("relaxed", "upright")},
    }),
    Slot("gesture action", VIDEO, (), {
        VERB: {
            "happy": _v("hug|hugs|hugged|hugging", "clap|claps|clapped|clapping", "wave|waves|waved|waving"),
            "angry": _v("slap|slaps|slapped|slapping", "slam|slams|slammed|slamming", "jab|jabs|jabbed|jabbing"),
            "fear": _v("fidget|fidgets|fidgeted|fidgeting", "cower|cowers|cowered|cowering"),
            "sad": _v("slump|slumps|slumped|slumping",),
            "surprise": _v("jolt|jolts|jolted|jolting", "jump|jumps|jumped|jumping"),
            "disgust": _v("recoil|recoils|recoiled|recoiling",),
            "neutral": _v("nod|nods|nodded|nodding", "shrug|shrugs|shrugged|shrugging"),
        },
    }),
    Slot("face", VIDEO, ("face", "expression", "look", "features", "complexion", "cheek"), {
        VERB: {
            "sad": _v("fall|falls|fell|falling", "sink into gloom|sinks into gloom|sank into gloom|sinking into gloom"),
            "fear": _v("tense up|tenses up|tensed up|tensing up",),
            "disgust": _v("scrunch up|scrunches up|scrunched up|scrunching up", "pucker|puckers|puckered|puckering"),
            "happy": _v("light up|lights up|lit up|lighting up", "brighten|brightens|brightened|brightening"),
            "surprise": _v("open up|opens up|opened up|opening up",),
            "angry": _v("harden|hardens|hardened|hardening", "darken|darkens|darkened|darkening"),
            "neutral": _v("stay still|stays still|stayed still|staying still",
                          "remain still|remains still|remained still|remaining still"),
        },
        ADJ: {"happy": _v("bright", "beaming", "radiant", "glowing"), "sad": _v("gloomy", "downcast", "sorrowful"),
              "angry": _v("stern", "flushed", "red"), "fear": _v("pale", "frozen", "tense", "strained"),
              "disgust": _v("twisted", "contorted"), "surprise": _v("startled", "stunned"),
              "neutral": _v("blank", "expressionless", "impassive", "plain", "even")},
    }),
    Slot("voice", AUDIO, ("voice", "tone", "speech", "speak", "spoke", "said", "say", "sound", "words",
                          "utter", "talk", "vocal", "delivery"), {
        ADJ: {"happy": _v("cheerful", "bright", "lively", "upbeat", "warm", "gentle", "tender", "light"),
              "sad": _v("heavy", "weak", "choked", "subdued", "mournful", "broken", "small", "dull"),
              "angry": _v("harsh", "sharp", "forceful", "stern", "aggressive", "rough", "heated"),
              "fear": _v("shaky", "trembling", "tense", "hesitant", "quavering", "thin", "unsteady", "tremulous"),
              "surprise": _v("exclamatory", "startled", "incredulous"),
              "disgust": _v("scornful", "disdainful", "sneering", "sour", "grudging", "displeased", "repelled"),
              "neutral": _v("flat", "steady", "monotonous", "monotone", "matter-of-fact", "ordinary", "routine",
                          "plain")},
        VERB: {
            "fear": _v("tremble|trembles|trembled|trembling", "quiver|quivers|quivered|quivering",
                       "shake|shakes|shook|shaking", "waver|wavers|wavered|wavering"),
            "sad": _v("break|breaks|broke|breaking", "choke|chokes|choked|choking", "crack|cracks|cracked|cracking"),
            "angry": _v("boom|booms|boomed|booming", "snap|snaps|snapped|snapping", "rasp|rasps|rasped|rasping"),
            "happy": _v("lilt|lilts|lilted|lilting", "ring out|rings out|rang out|ringing out"),
            "surprise": _v("jump|jumps|jumped|jumping", "leap up|leaps up|leapt up|leaping up"),
            "disgust": _v("drip with disdain|drips with disdain|dripped with disdain|dripping with disdain",),
            "neutral": _v("stay steady|stays steady|stayed steady|staying steady",),
        },
    }),
    Slot("pitch", AUDIO, ("pitch", "intonation", "voice", "tone", "register"), {
        VERB: {
            "surprise": _v("shoot up|shoots up|shot up|shooting up", "jump up|jumps up|jumped up|jumping up",
                           "rise sharply|rises sharply|rose sharply|rising sharply",
                           "rise|rises|rose|rising", "soar|soars|soared|soaring",
                           "leap upward|leaps upward|leapt upward|leaping upward"),
            "sad": _v("drop|drops|dropped|dropping", "fall|falls|fell|falling",
                      "droop downward|droops downward|drooped downward|drooping downward"),
            "angry": _v("harden|hardens|hardened|hardening",),
            "fear": _v("waver|wavers|wavered|wavering",),
            "happy": _v("lift|lifts|lifted|lifting", "bounce|bounces|bounced|bouncing"),
            "disgust": _v("sink|sinks|sank|sinking",),
            "neutral": _v("stay flat|stays flat|stayed flat|staying flat",),
        },
        ADJ: {"surprise": _v("high-pitched", "high", "rising"), "sad": _v("low", "falling"),
              "angry": _v("hard",), "fear": _v("strained",), "happy": _v("sing-song", "bouncy"),
              "disgust": _v("nasal",), "neutral": _v("level", "even-pitched")},
    }),
    Slot("pace", AUDIO, ("pace", "speed", "tempo", "rate", "speak", "spoke", "speech", "talk", "rhythm", "tone",
                         "voice", "deliver",
                         "say", "said", "ask", "answer", "repl", "respond"), {
        ADV: {"sad": _v("slowly",), "fear": _v("quickly", "hurriedly"), "angry": _v("curtly",),
              "happy": _v("briskly",), "surprise": _v("abruptly",), "disgust": _v("drawlingly",),
              "neutral": _v("steadily",)},
        ADJ: {"fear": _v("rushed", "hurried", "rapid", "fast", "quick", "hasty"), "sad": _v("slow", "sluggish", "halting"),
              "happy": _v("brisk", "bubbly"), "angry": _v("clipped", "curt", "abrupt"),
              "surprise": _v("sudden", "breathless"), "disgust": _v("drawn-out", "drawling"),
              "neutral": _v("measured", "unhurried")},
        COMP: {"fear": _v("faster",), "sad": _v("slower",), "neutral": _v("more evenly",),
               "angry": _v("more sharply",), "happy": _v("more brightly",), "surprise": _v("more abruptly",),
               "disgust": _v("more dismissively",)},
        VERB: {
            "fear": _v("stammer|stammers|stammered|stammering", "stutter|stutters|stuttered|stuttering"),
            "sad": _v("trail off|trails off|trailed off|trailing off",
                      "slow down|slows down|slowed down|slowing down", "slow|slows|slowed|slowing",
                      "drag|drags|dragged|dragging"),
            "anxious": _v("speed up|speeds up|sped up|speeding up",),
            "angry": _v("bark|barks|barked|barking",),
            "happy": _v("chatter|chatters|chattered|chattering",),
            "surprise": _v("blurt out|blurts out|blurted out|blurting out", "exclaim|exclaims|exclaimed|exclaiming"),
            "disgust": _v("drawl|drawls|drawled|drawling",),
            "neutral": _v("speak evenly|speaks evenly|spoke evenly|speaking evenly",),
        },
    }),
    Slot("volume", AUDIO, ("volume", "voice", "loud", "quiet", "soft", "speak", "spoke", "said", "say", "tone",
                           "ask", "answer", "repl", "respond", "whisper"), {
        ADV: {"sad": _v("softly", "quietly"), "angry": _v("loudly", "sharply"), "fear": _v("shakily",),
              "happy": _v("brightly",), "surprise": _v("suddenly loudly",), "disgust": _v("dismissively",),
              "neutral": _v("gently",)},
        ADJ: {"angry": _v("loud", "booming", "shouted"), "sad": _v("quiet", "soft", "faint", "hushed"),
              "fear": _v("whispered", "muffled"), "surprise": _v("sudden loud",), "happy": _v("bright and loud",),
              "disgust": _v("muttered",), "neutral": _v("moderate", "normal")},
        COMP: {"angry": _v("louder",), "sad": _v("quieter", "softer"), "neutral": _v("steadier",),
               "fear": _v("shakier",), "happy": _v("brighter",), "surprise": _v("suddenly louder",),
               "disgust": _v("more dismissive",)},
        VERB: {
            "angry": _v("raise|raises|raised|raising",),
            "happy": _v("lift|lifts|lifted|lifting",),
            "disgust": _v("drop to a mutter|drops to a mutter|dropped to a mutter|dropping to a mutter",),
            "sad": _v("lower|lowers|lowered|lowering", "drop|drops|dropped|dropping",
                      "fade to a murmur|fades to a murmur|faded to a murmur|fading to a murmur",
                      "fall away|falls away|fell away|falling away"),
            "fear": _v("drop to a whisper|drops to a whisper|dropped to a whisper|dropping to a whisper",),
            "surprise": _v("jump in volume|jumps in volume|jumped in volume|jumping in volume",),
            "neutral": _v("keep steady|keeps steady|kept steady|keeping steady",),
        },
    }),
    Slot("vocal action", AUDIO, (), {
        VERB: {
            "happy": _v("laugh|laughs|laughed|laughing", "giggle|giggles|giggled|giggling",
                        "chuckle|chuckles|chuckled|chuckling"),
            "sad": _v("sob|sobs|sobbed|sobbing", "sigh|sighs|sighed|sighing", "cry|cries|cried|crying",
                      "weep|weeps|wept|weeping", "sniffle|sniffles|sniffled|sniffling"),
            "angry": _v("shout|shouts|shouted|shouting", "yell|yells|yelled|yelling", "snarl|snarls|snarled|snarling",
                        "growl|growls|growled|growling"),
            "fear": _v("whimper|whimpers|whimpered|whimpering", "scream|screams|screamed|screaming",
                       "shriek|shrieks|shrieked|shrieking", "whisper|whispers|whispered|whispering"),
            "surprise": _v("gasp|gasps|gasped|gasping", "exclaim|exclaims|exclaimed|exclaiming"),
            "disgust": _v("scoff|scoffs|scoffed|scoffing", "groan|groans|groaned|groaning", "gag|gags|gagged|gagging",
                          "mutter|mutters|muttered|muttering"),
            "helpless": _v("mumble|mumbles|mumbled|mumbling",),
            "neutral": _v("speak calmly|speaks calmly|spoke calmly|speaking calmly",),
        },
        NOUN: {"happy": _v("laughter",), "sad": _v("sobbing", "crying"), "angry": _v("shouting",),
               "fear": _v("whimpering", "screaming"), "surprise": _v("gasping",), "disgust": _v("groaning",),
               "neutral": _v("silence",)},
    }),
    Slot("emotion words", ANY, (), {
        ADJ: {
            "happy": _v("happy", "joyful", "cheerful", "delighted", "pleased", "glad", "excited", "elated",
                        "content", "amused", "thrilled", "grateful", "overjoyed", "ecstatic", "jubilant", "satisfied"),
            "sad": _v("sad", "sorrowful", "unhappy", "depressed", "gloomy", "upset", "dejected", "heartbroken",
                      "melancholy", "grieving", "tearful", "miserable", "distressed", "forlorn", "lonely", "anguished",
                      "despairing"),
            "angry": _v("angry", "furious", "irritated", "annoyed", "enraged", "hostile", "agitated", "frustrated",
                        "dissatisfied", "indignant", "irate", "impatient", "livid", "resentful", "exasperated",
                        "outraged", "irritable"),
            "fear": _v("afraid", "scared", "fearful", "frightened", "terrified", "panicked", "alarmed", "horrified",
                       "petrified", "panicky"),
            "anxious": _v("anxious", "worried", "nervous", "uneasy", "apprehensive", "tense", "jittery", "restless"),
            "surprise": _v("surprised", "astonished", "amazed", "shocked", "startled", "stunned", "astounded",
                           "dumbfounded", "incredulous", "flabbergasted"),
            "disgust": _v("disgusted", "repulsed", "revolted", "sickened", "grossed out"),
            "contemptuous": _v("contemptuous", "scornful", "disdainful"),
            "disappointed": _v("disappointed", "let down", "disheartened"),
            "helpless": _v("helpless", "powerless", "resigned", "hopeless"),
            "neutral": _v("neutral", "indifferent", "expressionless", "impassive", "unemotional"),
            "calm": _v("calm", "composed", "relaxed", "peaceful", "serene"),
        },
        NOUN: {
            "happy": _v("happiness", "joy", "delight", "excitement", "pleasure", "glee", "amusement"),
            "sad": _v("sadness", "sorrow", "grief", "despair", "melancholy", "misery"),
            "angry": _v("anger", "rage", "fury", "irritation", "annoyance", "frustration", "dissatisfaction",
                        "indignation", "hostility"),
            "fear": _v("fear", "terror", "panic", "fright", "dread", "alarm"),
            "anxious": _v("anxiety", "worry", "nervousness", "unease", "tension"),
            "surprise": _v("surprise", "astonishment", "amazement", "shock", "disbelief"),
            "disgust": _v("disgust", "revulsion", "distaste", "repulsion"),
            "contemptuous": _v("contempt", "scorn", "disdain"),
            "disappointed": _v("disappointment",),
            "helpless": _v("helplessness", "resignation"),
            "neutral": _v("neutrality", "indifference"),
            "calm": _v("calm", "calmness", "composure", "serenity"),
        },
        ADV: {
            "happy": _v("happily", "joyfully", "cheerfully", "gleefully"),
            "sad": _v("sadly", "sorrowfully", "mournfully", "tearfully"),
            "angry": _v("angrily", "furiously", "irritably", "impatiently"),
            "fear": _v("fearfully", "timidly", "tensely"),
            "anxious": _v("anxiously", "nervously", "uneasily"),
            "surprise": _v("in surprise", "in astonishment", "in disbelief"),
            "disgust": _v("in disgust", "disgustedly"),
            "contemptuous": _v("contemptuously", "scornfully", "disdainfully"),
            "disappointed": _v("in disappointment",),
            "helpless": _v("helplessly",),
            "neutral": _v("indifferently", "impassively"),
            "calm": _v("calmly", "evenly"),
        },
    }),
)


@dataclass(frozen=True)
class Match:
    """One emotion-bearing expression of a claim: offsets in the claim text, slot, kind, form, fine label."""

    start: int
    end: int
    slot: str
    kind: str
    form: int  # verb form index (base, 3rd person, past, -ing); 0 for fixed words
    fine: str


@dataclass(frozen=True)
class Rewrite:
    """What a claim's counterfactuals are: the claim's own labels, the rewritten span `text[start:end]`
    (first to last expression, offsets in the claim text) and, per other label, its rewritten spans."""

    own: tuple[str, ...]
    span: tuple[int, int] | None
    matches: tuple[Match, ...] = ()
    alternatives: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.alternatives


def _phrase_re(phrase: str) -> str:
    return r"\b" + r"\s+".join(re.escape(w) for w in phrase.split()) + r"\b"


@lru_cache(maxsize=8)
def _index(modalities: tuple[str, ...]) -> list[tuple[re.Pattern, Slot, str, int, str]]:
    """(pattern, slot, kind, form, fine label) for every phrase of the slots serving these modalities."""
    out = []
    for slot in SLOTS:
        if modalities and not set(slot.modalities) & set(modalities):
            continue
        for kind, by_label in slot.entries.items():
            for fine, entries in by_label.items():
                for e in entries:
                    forms = e.split("|") if kind == VERB else [e]
                    for f, phrase in enumerate(forms):
                        out.append((re.compile(_phrase_re(phrase), re.IGNORECASE), slot, kind, f, fine))
    return out


def _anchor_distance(text: str, slot: Slot, at: int) -> int | None:
    if not slot.anchors:
        return _FAR
    best = None
    for m in re.finditer(r"\b(?:" + "|".join(re.escape(a) for a in slot.anchors) + ")", text, re.IGNORECASE):
        d = abs(m.start() - at)
        best = d if best is None else min(best, d)
    return best


def find_expressions(text: str, modalities: tuple[str, ...] = ()) -> list[Match]:
    """The emotion-bearing expressions of `text` (non-overlapping, longest first, nearest anchor on ties).

    >>> [(text[m.start:m.end], m.slot, m.fine) for text in ["Her brows furrowed."]
    ...  for m in find_expressions(text, ("video",))]
    [('furrowed', 'brows', 'angry')]
    """
    cands = []
    for pat, slot, kind, form, fine in _index(tuple(modalities)):
        for m in pat.finditer(text):
            d = _anchor_distance(text, slot, m.start())
            if d is not None:
                cands.append((m.start(), -(m.end() - m.start()), d, _KIND_ORDER[kind], m.end(), slot.name, kind, form,
                              fine))
    cands.sort()
    taken: list[Match] = []
    for start, _, _, _, end, slot, kind, form, fine in cands:
        if all(end <= t.start or start >= t.end for t in taken):
            taken.append(Match(start, end, slot, kind, form, fine))
    return sorted(taken, key=lambda m: m.start)


def in_label_set(fine: str, labels: tuple[str, ...]) -> str | None:
    """A fine label in a label set: itself when the set has it, else its DFEW label when the set has that."""
    if fine in labels:
        return fine
    return COARSE.get(fine) if COARSE.get(fine) in labels else None


def _label(m: Match, text: str, labels: tuple[str, ...]) -> str | None:
    """A match's label in the set: an emotion word's from the claim parser's lexicon (`r1omni.audit.lexicon`,
    one word -> label mapping for the whole product) where it has one, else from the fine label."""
    if m.slot == "emotion words":
        from r1omni.audit.lexicon import map_emotion

        found = map_emotion(text[m.start : m.end], labels)
        if found is not None:
            return found
    return in_label_set(m.fine, labels)


def _replacements(slot: str, kind: str, form: int, label: str, labels: tuple[str, ...]) -> list[str]:
    """The slot's expressions for `label` in this kind and form: its own fine label first, then the fine
    labels mapping onto it that the set lacks."""
    s = next(x for x in SLOTS if x.name == slot)
    by_label = s.entries.get(kind, {})
    fines = [label] + [f for f in FINE if f != label and f not in labels and COARSE[f] == label]
    out = []
    for f in fines:
        for e in by_label.get(f, ()):
            out.append(e.split("|")[form] if kind == VERB else e)
    return out


def _styled(new: str, old: str) -> str:
    return new[:1].upper() + new[1:] if old[:1].isupper() else new


def rewrite_claim(text: str, cites: tuple[str, ...], labels: tuple[str, ...] = DFEW, per_label: int = 2) -> Rewrite:
    """The claim's own labels, its rewritten span and up to `per_label` rewrites of that span per other label.

    Every expression of the unit is rewritten (an alternative for label L exists only when each one has a
    form for L); the span runs from the first expression's start to the last one's end, in claim offsets.
    A unit with no expression, or with none whose label is in the set, has nothing to rewrite.
    """
    matches = [m for m in find_expressions(text, tuple(cites)) if _label(m, text, labels) is not None]
    if not matches:
        return Rewrite((), None)
    own = tuple(dict.fromkeys(_label(m, text, labels) for m in matches))
    a, z = matches[0].start, matches[-1].end
    alts: dict[str, list[str]] = {}
    for lab in labels:
        if lab in own:
            continue
        options = [_replacements(m.slot, m.kind, m.form, lab, labels) for m in matches]
        if not all(options):
            continue
        seen = []
        for k in range(per_label):
            pieces, cur, repeats = [], a, {}
            for m, opts in zip(matches, options, strict=True):
                j = repeats[(m.slot, m.kind)] = repeats.get((m.slot, m.kind), -1) + 1  # "slow, halting": two words
                pieces += [text[cur : m.start], _styled(opts[min(k + j, len(opts) - 1)], text[m.start : m.end])]
                cur = m.end
            alt = "".join(pieces)
            if alt not in seen and alt.lower() != text[a:z].lower():
                seen.append(alt)
        if seen:
            alts[lab] = seen
    return Rewrite(own, (a, z), tuple(matches), alts)
