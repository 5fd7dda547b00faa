"""Claims as an annotator reads them: the `<think>` body split into sentences, and each sentence into
evidence units with character offsets into the completion.

Pure text functions (no model, no I/O). Definitions (docs/EXPLANATIONS.md, "Claims"):

- A **sentence** ends at `.`, `!` or `?` (one or more, with any closing quotes or brackets after them) when
  what follows is the end of the body, or whitespace and then an upper-case letter, a digit or an opening
  quote (tests/fixtures/reasonings/GUIDELINE.md). So `He shouted, "Get out!" and slammed the door.` is one
  sentence. Lower-case text (the demo model writes "the voice trembles. so the emotion is sad.") also
  breaks after a single bare `.` outside quotes.
- A **unit** (`Claim`) is a clause-level span of one sentence; the units of a sentence tile it (nothing is
  dropped). A *cue unit* cites exactly one modality: video (face, gaze, tears, head, posture, gestures,
  movement, the scene and lighting), audio (voice, prosody, sighs, crying, laughter, sounds, and the
  content of what is said: quoted words, "he said that ...") or text (on-screen text and subtitles only).
  Clauses are cut at commas and semicolons outside quotes, before a conjunction that opens a new clause
  ("and his voice ..."), and between two cues of different modalities ("She nods | and says, "Yes.""). A
  clause with no cue of its own (", which may indicate tension") belongs to the cue before it (the first
  cue after it when it opens the sentence). **Adjacent clauses citing the same modality are one unit**
  ("He opened his mouth wide, widened his eyes, and raised his eyebrows." is one video unit; its `cues`
  lists every cue category), unless one of them is conceded or negated and the other is not.
- The **conclusion** ("Therefore, it can be inferred that ...", "Overall, ...", "In summary, ...") is one
  unit of kind "conclusion" and cites nothing, even when it repeats cues. A sentence with neither a cue nor
  a conclusion is one "context" unit ("She seems worried.").
- **Emotions** are the labels a unit asserts, emotion words mapped through `r1omni.audit.lexicon` onto the
  label set; words inside quotes (what is said or written), negated ("not angry", "rather than happy") or
  conceded ("Although he smiled happily, ...") assert nothing. Hedged ones ("which may indicate tension")
  are asserted and the unit is marked `hedged`.

The automatic flags that need attributions live in `r1omni.explain.flags`; the audit store is not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from r1omni.audit.lexicon import EMOTION_WORD, map_emotion
from r1omni.prompts import DFEW, normalize_label

Modality = str  # one of MODALITIES
MODALITIES = ("video", "audio", "text")
KINDS = ("cue", "conclusion", "context")
# Descriptors of one modality's state that are no emotion verdict ("the voice stays neutral").
NON_VERDICT_LABELS = frozenset({"neutral", "calm"})


@dataclass(frozen=True)
class Claim:
    """One evidence unit: `completion[start:end] == text`."""

    text: str
    start: int
    end: int
    cites: tuple[Modality, ...]  # exactly one modality for a cue unit; () for conclusion / context units
    emotions: tuple[str, ...]  # labels this unit asserts (lexicon-mapped; not negated / conceded / quoted)
    kind: str = "cue"  # "cue" | "conclusion" | "context"
    cue: str | None = None  # the first cue category of the unit ("brow", "voice", "speech content", ...)
    hedged: bool = False
    conceded: bool = False
    negated: bool = False
    sentence_start: int = -1  # offsets of the sentence holding the unit
    sentence_end: int = -1
    cues: tuple[str, ...] = field(default=())  # every cue category of the unit, in text order


# ---------------------------------------------------------------------------------------------------------
# cue lexicon: (pattern, modality, category, strong). A *weak* cue (scene nouns, generic motion verbs,
# loud/quiet) counts only in a clause that has no strong cue of another modality ("his voice drops": the
# verb "drops" is no visual cue next to "voice").


def _words(*forms: str) -> str:
    return r"\b(?:" + "|".join(forms) + r")\b"


_CUES: list[tuple[str, str, str, bool | None]] = [
    # --- text: on-screen text and subtitles
    (_words(r"subtitles?", r"subtitled", r"captions?", r"captioned", r"on-screen", r"onscreen", r"text(?! messages?)",
            r"banner", r"signboard", r"headline", r"slide", r"title card"),
     "text", "subtitle", True),
    (r"\b(?:screen|monitor|display|sign|poster|board|card|note|notice|label|placard|messages?|notification)\b"
     r"[^.;]{0,40}?\b(?:reads|read|says|shows|displays|flashes|flash|spells|pops up|appears)\b", "text", "subtitle",
     True),
    (r"\bwords?\b[^.;]{0,60}?\b(?:appears?|appeared|displayed|shown|written|printed|flash(?:es|ed)?|pops? up|"
     r"popped up|scroll(?:s|ed))\b[^.;]{0,20}?"
     r"\b(?:on|across|at) (?:the |a )?(?:[\w-]+ ){0,2}(?:screen|sign|wall|board|top|bottom)",
     "text", "subtitle", True),
    # --- audio
    (r"\bin the (?:audio|soundtrack|recording)\b", "audio", "voice", True),
    (_words(r"voices?", r"voiced", r"vocal(?:ly)?"), "audio", "voice", True),
    (_words(r"tones?", r"intonation", r"prosody", r"inflection", r"melody", r"timbre", r"delivery"),
     "audio", "tone", True),
    (_words(r"pitch(?:ed)?", r"high-pitched", r"low-pitched"), "audio", "pitch", True),
    (_words(r"pace", r"tempo", r"speaking speed", r"rate of speech", r"speech rate"), "audio", "pace", True),
    (_words(r"volume", r"shouts?", r"shouted", r"shouting", r"yells?", r"yelled", r"yelling", r"screams?",
            r"screamed", r"screaming", r"shrieks?", r"shrieked", r"whispers?", r"whispered", r"whispering",
            r"hoarse", r"shrill"), "audio", "volume", True),
    (_words(r"sighs?", r"sighed", r"sighing", r"gasps?", r"gasped", r"gasping", r"groans?", r"groaned",
            r"moans?", r"moaned", r"breathless(?:ly)?", r"panting"),
     "audio", "sigh", True),
    (_words(r"breath", r"breathing", r"breathes"), "audio", "sigh", False),
    (_words(r"cry", r"cries", r"cried", r"crying", r"sobs?", r"sobbed", r"sobbing", r"weeps?", r"weeping",
            r"wept", r"whimpers?", r"whimpered", r"whimpering", r"wails?", r"wailed", r"wailing", r"sniffles?",
            r"sniffling", r"sniffl(?:e|es|ed|ing)"), "audio", "crying", True),
    (_words(r"sniff(?:s|ed|ing)?"), "audio", "crying", False),
    (r"\blet(?:s|ting)? out (?:a|an) (?:[\w-]+ )?(?:breath|sigh|cry|scream|laugh|groan|moan|gasp|sob|yelp|shriek|"
     r"whimper|sound|noise|howl|wail|grunt|squeal)\b", "audio", "sigh", True),
    (_words(r"laughs?", r"laughed", r"laughing", r"laughter", r"giggles?", r"giggled", r"giggling",
            r"chuckles?", r"chuckled", r"chuckling"), "audio", "laughter", True),
    (_words(r"says", r"said", r"saying", r"say", r"speaks?", r"spoke", r"spoken", r"speaking", r"speech",
            r"talks", r"talked", r"talking", r"tells?", r"told", r"telling", r"asks?", r"asked", r"asking",
            r"answers?", r"answered", r"answering", r"repl(?:y|ies|ied|ying)", r"responds?", r"responded",
            r"exclaims?", r"exclaimed", r"exclaiming", r"mutters?", r"muttered", r"muttering", r"mumbles?",
            r"mumbled", r"mumbling", r"murmurs?", r"murmured", r"stammers?", r"stammered", r"stutters?",
            r"stuttered", r"mentions?", r"mentioned", r"explains?", r"explained", r"explaining",
            r"calls?", r"called", r"dialogue", r"conversation", r"utters?", r"uttered", r"remarks?",
            r"remarked", r"complains?", r"complained", r"insists?", r"insisted", r"admits?", r"admitted",
            r"promises?", r"promised", r"thanks", r"thanked", r"sings?", r"sang", r"singing", r"hums?",
            r"snap(?:s|ped|ping)? at", r"barks? at", r"barked at", r"retorts?", r"retorted", r"hiss(?:es|ed|ing)?",
            r"growls?", r"growled", r"growling", r"roars?", r"roared", r"whines?", r"whined", r"pleads?", r"pleaded",
            r"begs?", r"begged", r"scoffs?", r"scoffed", r"snorts?", r"snorted", r"articulation", r"accent",
            r"clear(?:s|ed|ing)? (?:his|her|their|the) throat",
            r"stumbl(?:es|ed|ing) over (?:his|her|their|the) words",
            r"squeals?", r"squealed", r"squealing", r"reports", r"reported", r"announces?", r"announced",
            r"declares?", r"declared", r"states", r"stated", r"describes", r"described", r"gags?", r"gagged",
            r"gagging", r"deliver(?:s|ed|ing)", r"howls?", r"howled", r"cheers", r"cheered", r"cheering",
            r"humming", r"recording", r"audio"), "audio", "speech content", True),
    (_words(r"sounds?", r"sounded", r"noises?", r"music", r"footsteps", r"thunder", r"crash", r"bang",
            r"heard", r"hears?", r"hearing", r"audible", r"audibly", r"silence", r"silent", r"ringing", r"rings",
            r"creak(?:s|ed|ing|y)?", r"thud(?:s|ded|ding)?", r"knock(?:s|ed|ing)?", r"beep(?:s|ed|ing)?",
            r"buzz(?:es|ed|ing)?", r"honk(?:s|ed|ing)?", r"whistles", r"whistled", r"whistling",
            r"rattl(?:e|es|ed|ing)",
            r"click(?:s|ed|ing)?", r"crackl(?:e|es|ed|ing)", r"explosions?", r"gunshots?", r"sirens?", r"doorbell",
            r"ringtone", r"echo(?:es|ed|ing)?"),
     "audio", "sound", True),
    (_words(r"loud", r"louder", r"loudly", r"quiet", r"quieter", r"quietly", r"softly", r"soft-spoken",
            r"monotone", r"monotonous"), "audio", "volume", False),
    (_words(r"words?"), "audio", "speech content", False),
    (_words(r"pauses?", r"paused", r"rhythm", r"rhythmic"), "audio", "pace", False),
    (_words(r"snaps", r"snapped", r"cracks", r"cracked", r"crashes", r"crashed"),
     "audio", "sound", False),
    (_words(r"faster", r"slower", r"quickly", r"rapidly", r"hurriedly", r"slowly"), "audio", "pace", None),
    # --- video
    (r"\b(?:in|throughout|from) (?:the|this) (?:video|clip|footage|scene|frame|image|picture)s?\b|"
     r"\bthe (?:video|clip|footage|image|picture)s? (?:shows?|depicts?)\b|\bwe (?:can )?see\b|\bvisual(?:ly)?\b",
     "video", "scene", False),
    (_words(r"acoustic(?:ally)?", r"auditory", r"audibly"), "audio", "sound", True),
    (_words(r"wearing", r"wears", r"dressed", r"jacket", r"shirt", r"suit", r"dress", r"glasses", r"hat",
            r"uniform", r"hoodie", r"coat", r"clothes", r"clothing"), "video", "scene", False),
    (_words(r"brows?", r"eyebrows?", r"forehead", r"frowns?", r"frowned", r"frowning", r"scowls?",
            r"scowled", r"scowling"), "video", "brow", True),
    (_words(r"mouth", r"lips?", r"smiles?", r"smiled", r"smiling", r"smirks?", r"smirked", r"smirking",
            r"grins?", r"grinned", r"grinning", r"pouts?", r"pouted", r"pouting", r"teeth", r"tongue",
            r"sneers?", r"sneered"), "video", "mouth", True),
    (_words(r"eyes?", r"eyelids?", r"eyelashes", r"blinks?", r"blinked", r"blinking", r"winks?", r"winked",
            r"squints?", r"squinted", r"squinting", r"wide-eyed"), "video", "eyes", True),
    (_words(r"gaze", r"gazes", r"gazed", r"gazing", r"stares?", r"stared", r"staring", r"glances?", r"glanced",
            r"glancing", r"glares?", r"glared", r"glaring", r"eye contact", r"watch(?:es|ed|ing)?",
            r"look(?:s|ed|ing)?(?! like)"), "video", "gaze", True),
    (_words(r"tears?", r"tearful", r"teary", r"tear-stained"), "video", "tears", True),
    (_words(r"heads?", r"nods?", r"nodded", r"nodding", r"neck", r"hair"), "video", "head", True),
    (_words(r"face", r"faces", r"facial", r"expressions?", r"cheeks?", r"jaw", r"chin", r"nose", r"nostrils?",
            r"blush(?:es|ed|ing)?", r"flushed", r"pale", r"complexion", r"muscles?", r"demeanou?r",
            r"appearance", r"grimaces?", r"grimaced", r"grimacing"), "video", "face", True),
    (_words(r"posture", r"shoulders?", r"body", r"chest", r"back straight", r"slump(?:s|ed|ing)?", r"sits?",
            r"sat", r"sitting", r"stands?", r"stood", r"standing", r"leans?", r"leaned", r"leaning", r"kneels?",
            r"knelt", r"kneeling", r"lies", r"lying", r"crouch(?:es|ed|ing)?", r"hunched", r"legs?", r"knees?",
            r"feet", r"foot"), "video", "posture", True),
    (_words(r"gestures?", r"gestured", r"gesturing", r"hands?", r"fingers?", r"palms?", r"fists?", r"arms?",
            r"points", r"pointed", r"pointing", r"shrugs?", r"shrugged", r"shrugging", r"claps?", r"clapped",
            r"clapping", r"waves", r"waved", r"waving", r"hugs?", r"hugged", r"hugging", r"embrac(?:e|es|ed|ing)",
            r"kiss(?:es|ed|ing)?", r"wipes?", r"wiped", r"wiping", r"rubs?", r"rubbed", r"rubbing", r"taps?",
            r"tapped", r"tapping", r"grips?", r"gripped", r"gripping", r"grabs?", r"grabbed", r"holds?",
            r"held", r"holding", r"covers?", r"covered", r"covering", r"fiddl(?:es|ed|ing)", r"fidget(?:s|ed|ing)?",
            r"slams?", r"slammed", r"slapp?(?:s|ed|ing)?", r"throws?", r"threw", r"thrown", r"pushes",
            r"pushed", r"pushing", r"pulls?", r"pulled", r"pulling", r"bites?", r"biting", r"presses",
            r"pressed", r"pressing", r"squeez(?:es|ed|ing)", r"reaches", r"reached", r"clench(?:es|ed|ing)?",
            r"crossed", r"uncross(?:es|ed)"), "video", "gesture", True),
    (_words(r"walks?", r"walked", r"walking", r"paces", r"paced", r"pacing", r"runs", r"ran", r"running",
            r"steps?", r"stepped", r"stepping", r"flinch(?:es|ed|ing)?",
            r"recoil(?:s|ed|ing)?", r"dances?", r"danced", r"dancing", r"kicks?", r"kicked", r"kicking",
            r"hides?", r"hiding", r"hid", r"drives?", r"drove", r"driving", r"bounces?", r"bouncing",
            r"shiver(?:s|ed|ing)?", r"wakes?", r"woke", r"movements?", r"motionless", r"freezes", r"froze",
            r"stomp(?:s|ed|ing)?", r"collaps(?:e|es|ed|ing)", r"yawn(?:s|ed|ing)?", r"sweat(?:s|ed|ing|y)?",
            r"hunch(?:es|ing)?", r"stretch(?:es|ed|ing)",
            r"storms?", r"stormed"), "video", "movement", True),
    (_words(r"scene", r"setting", r"settings", r"background", r"indoors?", r"outdoors?", r"room", r"kitchen",
            r"office", r"street", r"corridor", r"hallway", r"car", r"table", r"desk", r"sofa", r"couch", r"bed",
            r"door", r"wall", r"window", r"stage", r"camera", r"crowd", r"people", r"lighting", r"light",
            r"lights", r"lit", r"dim", r"dimly", r"dark", r"darkness", r"shadows?", r"night", r"sky", r"rain",
            r"raining", r"sunny", r"sunlight", r"sun", r"bright", r"brightly", r"glow", r"screen", r"shown",
            r"shows", r"visible", r"visibly", r"seen", r"frame", r"park", r"restaurant", r"classroom",
            r"garden", r"platform", r"field", r"party", r"apartment", r"house", r"home", r"hospital"),
     "video", "scene", False),
    (_words(r"drops?", r"dropped", r"rises?", r"rose", r"raises?", r"raised", r"raising", r"lifts?",
            r"lifted", r"falls?", r"fell", r"sinks?", r"sank", r"opens?", r"opened", r"closes", r"closed",
            r"lowers?", r"lowered", r"turns?", r"turned", r"red", r"wet", r"moist", r"wide", r"widens?",
            r"widened", r"narrows?", r"narrowed", r"tightens?", r"tightened", r"quiver(?:s|ed|ing)?",
            r"tremble", r"trembled", r"trembles", r"trembling", r"shake", r"shakes", r"shaking", r"shook",
            r"droop(?:s|ed|ing)?", r"sags?", r"sagged", r"rushes", r"rushed", r"jumps?", r"jumped", r"jumping",
            r"moves?", r"moved", r"swings?", r"swung",
            r"plays?", r"playing", r"played", r"reads?", r"reading", r"eats?", r"eating", r"drinks?", r"drinking",
            r"cooking", r"bakes?", r"baking", r"typing", r"writing", r"working", r"sleeping", r"checks?",
            r"checked", r"checking", r"arguing", r"argues", r"fighting", r"crying face"),
     "video", "movement", False),
]
_CUE_PATTERNS = [(re.compile(p, re.IGNORECASE), m, c, s) for p, m, c, s in _CUES]
_VOICE_NOUNS = ("voice", "tone", "pitch", "pace")  # cue categories naming the voice itself
_BODY_PARTS = ("brow", "mouth", "eyes", "gaze", "tears", "head", "face", "posture")
_LIMB = re.compile(r"(?:hands?|fingers?|palms?|fists?|arms?|legs?|feet|foot)", re.IGNORECASE)
_SPEECH_NOUN = re.compile(r"speech|delivery|utterances?", re.IGNORECASE)
_NEW_ACTOR = re.compile(r"\b(?:he|she|they|who|i|we|you)\b", re.IGNORECASE)  # a new actor: a real action
# Phrases whose words look like cues but are none ("in the face of the loss", "at one point").
_NOT_CUES = re.compile(r"\bin the face of\b|\bon the other hand\b|\bat (?:one|some|this|that) point\b|"
                       r"\bface to face\b(?=.*\bface\b)|\bbehind (?:his|her|their|my|your) back\b|"
                       r"\btake (?:it|this) to heart\b|\bto (?:his|her|their) face\b(?!s)", re.IGNORECASE)

_QUOTE = re.compile(r"\"[^\"]*\"?|“[^”]*”?")
_TERMINATOR = re.compile(r"[.!?]+[\"'”’)\]]*")
_NEXT_STARTS_SENTENCE = re.compile(r"\s+[A-Z0-9\"'“‘(\[]")
_NEXT_LOWER = re.compile(r"\s+[a-z]")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx|mr|mrs|ms|dr|st|no)\.$", re.IGNORECASE)

# clause boundaries (outside quotes): ", " / "; " / dashes, and a conjunction opening a new clause
_SUBJECT = (r"(?:he|she|they|it|i|we|you|his|her|their|its|the|a|an|this|that|these|those|there|one|both|"
            r"someone|everyone|nobody|then)\b")
_CLAUSE_CONJ = re.compile(r"\s(?:and|but|whereas|yet|so|or)\s+(?=" + _SUBJECT + ")",
                          re.IGNORECASE)
_PUNCT_BREAK = re.compile(r"[,;:]\s+(?![\"“])|\s[-–—]+\s")
_CONNECTOR = re.compile(r",\s+|\s(?:and|or|with|without|while|as|but|then|in|when)\s", re.IGNORECASE)

_CONCESSIVE = re.compile(r"^\W*(?:although|though|even though|even if|despite|in spite of|while|whilst|"
                         r"notwithstanding)\b", re.IGNORECASE)
_NEGATOR = re.compile(r"\b(?:not|no|never|neither|nor|without|nothing|none|cannot|lacks?|lacking|absence|"
                      r"rather than|instead of|free of|no longer|hardly|barely|scarcely|far from)\b|n't\b",
                      re.IGNORECASE)
_HEDGE = re.compile(r"\b(?:may|might|could|possibly|possible|perhaps|probably|likely|seems?|seemed|seemingly|"
                    r"appears?|appeared|apparently|suggests?|suggested|suggesting|indicates?|indicated|indicating|"
                    r"implies|implying|hints?|hinting|as if|as though|somewhat|slightly|a bit|maybe)\b",
                    re.IGNORECASE)
_NEG_STOP = re.compile(r"\b(?:but|however|yet|though|although|instead)\b|[;]|\band (?=(?:\w+ly )?(?:looks?|seems?|"
                       r"appears?|is|was|are|were|sounds?|feels?|shows?|becomes?|turns?|gets?|got)\b)", re.IGNORECASE)
# physical tension of a body part ("tense jaw") is no emotion word
_PHYSICAL_TENSE = re.compile(r"(?:tense|tension)(?:\s+(?:in|of)\s+(?:his|her|their|the))?\s+"
                             r"(?:jaw|jaws|muscles?|shoulders?|body|lips?|hands?|neck|face|arms?|fingers?|posture)\b",
                             re.IGNORECASE)
# ... and said of one after a verb: "the face looks stern and tense", "his shoulders are tense" (only the word
# "tense" is physical there; another emotion word in between still counts)
_PHYSICAL_TENSE_PRED = re.compile(
    r"\b(?:jaw|jaws|muscles?|shoulders?|body|lips?|hands?|neck|face|arms?|fingers?|posture|brows?|forehead)\s+"
    r"(?:looks?|looked|is|are|was|were|appears?|appeared|seems?|seemed|becomes?|became|grows?|grew|stays?|stayed|"
    r"remains?|remained|goes|went|turns?|turned)\s+(?:[\w-]+\s+(?:and|,)\s+)?(?:very\s+|visibly\s+|slightly\s+)?"
    r"(?P<t>tense|tensed)\b", re.IGNORECASE)

_CONNECTIVE = re.compile(
    r"^\W*(?:therefore|thus|hence|so|overall|in summary|in conclusion|to sum up|to summari[sz]e|in short|"
    r"all in all|taken together|putting (?:it|this|these|everything|all (?:of )?(?:this|these|the cues)) together|"
    r"combining|combined|considering|given|based on|judging (?:from|by)|from (?:this|these|the above|all)|"
    r"in general|all things considered|ultimately|finally|in the end|as a result|consequently|accordingly|"
    r"in total|to conclude|summing up)\b", re.IGNORECASE)
_INFERENCE = re.compile(
    r"\b(?:it (?:can|could|may) (?:be|thus be|therefore be) (?:inferred|concluded|determined|judged|deduced|"
    r"summari[sz]ed)|we can (?:infer|conclude|determine)|(?:can|could) be (?:inferred|concluded|"
    r"judged|determined) (?:as|to be|that)|"
    r"emotional state|(?:the )?(?:most obvious|main|dominant|primary|overall|final|predominant|prevailing|"
    r"strongest|underlying|most likely|likely|most probable|probable) emotion|"
    r"(?:his|her|their|its|the (?:person|character|man|woman|speaker|subject)'s) (?:overall )?(?:emotion|mood) "
    r"(?:is|was|should be|would be|must be|seems to be|appears to be|can be)\b|(?:the )?(?:best|final) label|"
    r"(?:all (?:of )?(?:this|these|the)|everything|these cues together|all the cues)\b[^.]{0,30}?"
    r"\b(?:points?|suggests?|indicates?|shows?) to\b|"
    r"(?:all (?:of )?(?:this|these)|everything)\b[^.]{0,20}?\b(?:points?|suggests?|indicates?)\b|"
    r"the emotion (?:is|was|conveyed|expressed|shown|here|of)\b(?!\s+(?:by|in|through|on)\s+(?:his|her|their|the)\s+"
    r"(?:voice|tone|face|facial|expression|eyes|words|speech|body|gestures?|posture)))", re.IGNORECASE)
_STATE_WORD = re.compile(r"\b(?:emotion|emotions|emotional|feel|feels|feeling|feelings|mood|state|label|"
                         r"reaction|attitude)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------------------
# spans


def think_span(completion: str) -> tuple[int, int] | None:
    """Character offsets of the `<think>` body in `completion` (to `</think>`, `<answer>` or the end)."""
    i = completion.find("<think>")
    if i < 0:
        return None
    start = i + len("<think>")
    ends = [j for j in (completion.find("</think>", start), completion.find("<answer>", start)) if j >= 0]
    return start, min(ends) if ends else len(completion)


def answer_span(completion: str) -> tuple[int, int] | None:
    """Character offsets of the first `<answer>` body in `completion`, or None."""
    m = re.search(r"<answer>(.*?)</answer>", completion, re.DOTALL)
    return (m.start(1), m.end(1)) if m else None


def _quote_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    end = len(text) if end is None else end
    return [(m.start(), m.end()) for m in _QUOTE.finditer(text, start, end)]


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a < pos < b for a, b in spans)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text[start:end]`, whitespace trimmed, empty ones dropped.

    >>> t = 'The brow is low. He said, "Stop!" and left.  Done'
    >>> [t[a:b] for a, b in split_sentences(t)]
    ['The brow is low.', 'He said, "Stop!" and left.', 'Done']
    """
    end = len(text) if end is None else end
    quotes = _quote_spans(text, start, end)
    cuts, cur = [], start
    for m in _TERMINATOR.finditer(text, start, end):
        rest_at = m.end()
        if text[rest_at:end].strip() == "":
            cut = True
        elif _NEXT_STARTS_SENTENCE.match(text, rest_at, end):
            cut = True
        else:  # lower-case text: a single bare full stop outside quotes, not an abbreviation
            cut = (m.group(0) == "." and bool(_NEXT_LOWER.match(text, rest_at, end))
                   and not _inside(m.start(), quotes) and not _ABBREV.search(text[max(cur, m.start() - 8):m.end()]))
        if cut:
            cuts.append((cur, m.end()))
            cur = m.end()
    cuts.append((cur, end))
    out = []
    for a, b in cuts:
        seg = text[a:b]
        a2 = a + (len(seg) - len(seg.lstrip()))
        b2 = b - (len(seg) - len(seg.rstrip()))
        if b2 > a2:
            out.append((a2, b2))
    return out


# ---------------------------------------------------------------------------------------------------------
# clause analysis


def _mask_quotes(text: str) -> str:
    """`text` with the inside of quotes blanked (same length), so cue and emotion words there do not count."""
    return _QUOTE.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1]
                      if len(m.group(0)) >= 2 else m.group(0), text)


@dataclass
class _Cue:
    pos: int
    end: int
    modality: str
    category: str
    strong: bool | None  # None: a modifier ("faster") that only refines another cue


# An action verb after a person subject ("He scrolls", "the audience applauds", "is cleaning") is a weak video
# cue, unless it is a verb of mind, state, saying or narration ("he realises", "she wants", "he learns").
_PERSON = (r"(?:he|she|they|who|i|we|man|woman|men|women|boy|girl|boys|girls|child|children|kid|kids|baby|person|"
           r"people|audience|crowd|couple|friend|friends|mother|father|son|daughter|husband|wife|student|teacher|"
           r"customer|driver|actor|actress|character|speaker|player|worker|officer|doctor|nurse|host|guest|[a-z]+er)")
_ACTION = re.compile(r"\b" + _PERSON + r"\s+(?:\w+ly\s+|then\s+|also\s+|still\s+|just\s+)?(?P<verb>[a-z]{3,}s)\b|"
                     r"\b(?:he|she|they|who)\s+(?:\w+ly\s+|then\s+|also\s+|just\s+)?(?P<verb3>[a-z]{2,}ed)\b|"
                     r"\b(?:is|are|was|were|keeps?|kept|starts?|started|begins?|began|stops?|stopped)\s+(?:\w+ly\s+)?"
                     r"(?P<verb2>[a-z]{3,}ing)\b", re.IGNORECASE)
_NOT_ACTIONS = frozenset("""
is was has does goes seems appears feels looks sounds says thinks knows believes wants needs hopes wishes remembers
forgets learns finds realizes realises discovers receives gets becomes tries decides plans expects means suggests
indicates reveals conveys expresses reflects implies remains stays continues lacks likes loves hates fears
worries misses cares understands agrees refuses accepts wonders notices hears sees seeing feeling thinking trying
going getting becoming being having doing saying hoping wanting waiting waits knowing wondering planning expecting
begins starts stops keeps helps lets makes takes gives tells asks answers explains mentions hears listens listening
struggles struggling manages managing fails failing succeeds wins loses happens occurs includes contains turns
seemed appeared sounded wanted needed hoped wished remembered learned learnt realized realised discovered received
decided tried planned expected noticed wondered started stopped happened managed failed succeeded continued remained
stayed believed liked loved hated feared worried missed cared agreed refused accepted asked answered explained
mentioned listened waited expressed reflected suggested indicated revealed conveyed implied helped used
called added insisted admitted complained replied repeated tended intended pretended considered wanted turned
pauses paused hesitates hesitated stammers stammered stutters stuttered
""".split())


def _emotion_stem(verb: str) -> bool:
    stem = verb[:-3] if verb.endswith("ing") else verb[:-1]
    return any(map_emotion(w) for w in (verb, stem, stem + "e", verb[:-2]))


def _cues(masked: str, has_quote: bool) -> list[_Cue]:
    """Cues found in one clause (positions relative to it), weak ones dropped next to a strong cue of another
    modality; speech words in a clause that cites on-screen text are that text's content, not audio."""
    blocked = [(m.start(), m.end()) for m in _NOT_CUES.finditer(masked)]
    found: list[_Cue] = []
    taken: list[tuple[int, int]] = []
    for pat, modality, category, strong in _CUE_PATTERNS:
        for m in pat.finditer(masked):
            if any(a <= m.start() < b for a, b in blocked) or any(a <= m.start() < b for a, b in taken):
                continue
            found.append(_Cue(m.start(), m.end(), modality, category, strong))
            taken.append((m.start(), m.end()))
    for m in _ACTION.finditer(masked):  # a person doing something the camera shows ("the audience applauds")
        g = next(k for k in ("verb", "verb2", "verb3") if m.group(k))
        verb, at, to = m.group(g).lower(), m.start(g), m.end(g)
        pronoun = g != "verb2" and re.match(r"(?:he|she|they|who)\b", m.group(0), re.IGNORECASE) is not None
        if pronoun:  # "he crashes the car": the action outranks a weak reading of the same word
            weak = [c for c in found if not c.strong and c.pos <= at < c.end]
            found = [c for c in found if c not in weak]
            taken = [t for t in taken if not any(t == (c.pos, c.end) for c in weak)]
        if any(a <= at < b for a, b in taken) or verb in _NOT_ACTIONS or verb.endswith("ss") or _emotion_stem(verb):
            continue
        found.append(_Cue(at, to, "video", "movement", pronoun))  # "he scrolls": as strong as a body word
        taken.append((at, to))
    # an action word said OF the voice ("the tone is hard and biting", "the speech has a cheerful bounce",
    # "the voice holds steady") is a figure of speech, not something the camera shows: a gesture or movement
    # word after a voice noun of the clause, with no body part or face word in it, is dropped
    voice_at = min((c.pos for c in found if c.modality == "audio" and c.strong and (
        c.category in _VOICE_NOUNS or _SPEECH_NOUN.fullmatch(masked[c.pos:c.end]))), default=None)
    if voice_at is not None and not any(c.modality == "video" and (c.category in _BODY_PARTS or _LIMB.fullmatch(
            masked[c.pos:c.end])) for c in found):
        found = [c for c in found if not (c.modality == "video" and c.category in ("gesture", "movement")
                                          and c.pos > voice_at and not _NEW_ACTOR.search(masked, voice_at, c.pos))]
    if has_quote:
        q = masked.find('"') if '"' in masked else masked.find("“")
        found.append(_Cue(q, q + 1, "audio", "speech content", True))
    if any(c.modality == "text" for c in found):
        found = [c for c in found if not (c.modality == "audio" and c.category in ("speech content", "volume"))]
    # modifiers (strong=None: "faster", "slowly") only refine another cue of their modality in the clause
    found = [c for c in found if c.strong is not None or any(d.modality == c.modality and d.strong is not None
                                                             for d in found)]
    strong = {c.modality for c in found if c.strong}
    found = [c for c in found if c.strong or not (strong - {c.modality})]
    if not strong and found:  # only weak cues: the first one's modality ("The scene is grey and quiet.")
        first = min(found, key=lambda c: c.pos).modality
        found = [c for c in found if c.modality == first]
    return sorted(found, key=lambda c: c.pos)


def _clause_cuts(masked: str) -> list[int]:
    """Positions (in a sentence) where a new clause starts."""
    cuts = {m.end() for m in _PUNCT_BREAK.finditer(masked)}
    cuts |= {m.start() + 1 for m in _CLAUSE_CONJ.finditer(masked)}
    return sorted(c for c in cuts if 0 < c < len(masked.rstrip()))


def _emotions(text: str, masked: str, labels: tuple[str, ...], conceded: bool) -> tuple[str, ...]:
    if conceded:
        return ()
    out: list[str] = []
    physical = [(m.start(), m.end()) for m in _PHYSICAL_TENSE.finditer(masked)]
    physical += [m.span("t") for m in _PHYSICAL_TENSE_PRED.finditer(masked)]
    for m in EMOTION_WORD.finditer(masked):
        if any(a <= m.start() < b for a, b in physical) or (
                _VERB_USE.match(masked, m.start()) and not _COPULA_BEFORE.search(masked[: m.start()])):
            continue
        label = map_emotion(m.group(0), labels)
        if label is None or label in out:
            continue
        before = masked[: m.start()]
        stop = max((s.end() for s in _NEG_STOP.finditer(before)), default=0)
        window = before[stop:]
        window = " ".join(window.split()[-6:]) if window.split() else ""
        if _NEGATOR.search(window):
            continue
        out.append(label)
    return tuple(out)


# an emotion word used as a verb on someone ("trying to calm the baby", "it surprised him") asserts nothing
_VERB_USE = re.compile(r"(?:calm|calms|calmed|calming|worry|worries|worried|frighten\w*|scare[sd]?|scaring|"
                       r"surprise[sd]?|"
                       r"surprising|upset|upsets|disgust|disgusts|disgusted|delight|delights|delighted|please[sd]?|"
                       r"excite[sd]?|amuse[sd]?|annoy|annoys|annoyed|irritate[sd]?|frustrate[sd]?|"
                       r"shock|shocks|shocked|"
                       r"sadden\w*|disappoint|disappoints|disappointed|anger|angers|angered|terrif(?:y|ies|ied))\s+"
                       r"(?:him|her|them|me|us|you|the|a|an|his|their|its|my|everyone|everybody|someone|people)\b",
                       re.IGNORECASE)


_COPULA_BEFORE = re.compile(r"\b(?:is|are|was|were|be|been|being|seems?|seemed|looks?|looked|feels?|felt|appears?|"
                            r"appeared|becomes?|became|gets?|got|remains?|remained|stays?|stayed|sounds?|sounded)"
                            r"(?:\s+(?:very|so|quite|clearly|visibly|rather|a bit|somewhat|really|extremely|deeply|"
                            r"more|most|less|too|not))*\s+$", re.IGNORECASE)


@dataclass
class _Clause:
    start: int  # in the sentence
    end: int
    cues: list[_Cue]
    conceded: bool = False
    negated: bool = False
    hedged: bool = False
    emotions: tuple[str, ...] = ()

    @property
    def modality(self) -> str | None:
        mods = {c.modality for c in self.cues}
        return mods.pop() if len(mods) == 1 else None


def _split_mixed(clause_start: int, masked: str, cues: list[_Cue]) -> list[tuple[int, list[_Cue]]]:
    """Cut a clause whose cues span several modalities before the connector that precedes each change
    (positions index the whole sentence)."""
    pieces: list[tuple[int, list[_Cue]]] = [(clause_start, [])]
    for prev, cue in zip([None, *cues[:-1]], cues, strict=True):
        if prev is not None and cue.modality != prev.modality:
            hits = list(_CONNECTOR.finditer(masked, prev.end, cue.pos))
            if hits:
                last = hits[-1]
                cut = last.end() if last.group(0).startswith(",") else last.start() + 1
            else:  # no connector: cut at the start of the word holding the new cue
                cut = cue.pos
                while cut > prev.end and masked[cut - 1].isalnum():
                    cut -= 1
            while cut < cue.pos and masked[cut].isspace():
                cut += 1
            if cut > pieces[-1][0]:
                pieces.append((cut, []))
        pieces[-1][1].append(cue)
    return pieces


# a simile ("his mouth is open as if shouting") describes the cue before it; it is no cue of its own
_SIMILE = re.compile(r"(?<=\S)\s(?:as if|as though)\b[^,;]*", re.IGNORECASE)


# reported speech ("she said that it slipped out of her hand"): the words after "that" are what was said; the
# speech verb is the (audio) cue, body or scene words inside are no cue of their own
_REPORTED = re.compile(r"\b(?:says|said|saying|tells?|told|telling|explains?|explained|mentions?|mentioned|answers?|"
                       r"answered|repl(?:y|ies|ied)|whispers?|whispered|adds|added|insists?|insisted|admits?|"
                       r"admitted|complains?|complained|claims?|claimed|shouts?|shouted|mutters?|muttered|"
                       r"mumbles?|mumbled)\b(?:[\s,]+(?:to\s+)?[\w-]+){0,6}?\s+that\b(?P<content>[^;,]*)",
                       re.IGNORECASE)


def _blank_reported(text: str) -> str:
    out = list(text)
    for m in _REPORTED.finditer(text):
        for i in range(m.start("content"), m.end("content")):
            if not text[i].isspace() and text[i] not in ",.!?":
                out[i] = " "
    return "".join(out)


def _analyse_sentence(sentence: str, labels: tuple[str, ...]) -> list[_Clause]:
    masked = _mask_quotes(sentence)
    cue_text = _blank_reported(_SIMILE.sub(lambda m: " " * len(m.group(0)), masked))
    starts = [0, *_clause_cuts(masked)]
    bounds = list(zip(starts, [*starts[1:], len(sentence)], strict=True))
    # an opening "In the video," carries no cue of its own: it joins the clause after it
    if len(bounds) > 1 and re.fullmatch(r"\W*(?:in|throughout) (?:the|this) (?:video|clip|footage|scene)\W*",
                                        masked[bounds[0][0]:bounds[0][1]], re.IGNORECASE):
        bounds = [(bounds[0][0], bounds[1][1]), *bounds[2:]]
    clauses: list[_Clause] = []
    for a, b in bounds:
        part = cue_text[a:b]
        cues = [_Cue(c.pos + a, c.end + a, c.modality, c.category, c.strong)
                for c in _cues(part, bool(_QUOTE.search(sentence[a:b])))]
        if len({c.modality for c in cues}) > 1:
            pieces = _split_mixed(a, masked, cues)
            ends = [p for p, _ in pieces[1:]] + [b]
            clauses += [_Clause(p, e, cs) for (p, cs), e in zip(pieces, ends, strict=True)]
        else:
            clauses.append(_Clause(a, b, cues))
    for i, c in enumerate(clauses):
        text, mtext = sentence[c.start:c.end], masked[c.start:c.end]
        c.conceded = bool(_CONCESSIVE.match(mtext)) and (i == 0 or not mtext.lstrip().lower().startswith("while"))
        c.negated = bool(_NEGATOR.search(mtext))
        c.hedged = bool(_HEDGE.search(mtext))
        c.emotions = _emotions(text, mtext, labels, c.conceded)
    return clauses


def _group(clauses: list[_Clause]) -> list[list[_Clause]]:
    """Clauses -> units: a clause without cue joins the cue clause before it (after it when it opens the
    sentence); adjacent clauses of one modality with the same concession and negation merge."""
    groups: list[list[_Clause]] = []
    pending: list[_Clause] = []
    for c in clauses:
        if not c.cues:
            if groups:
                groups[-1].append(c)
            else:
                pending.append(c)
            continue
        head = groups[-1][0] if groups else None
        if (head is not None and head.modality == c.modality and head.conceded == c.conceded
                and _cue_negated(groups[-1]) == c.negated):
            groups[-1].append(c)
        else:
            groups.append([*pending, c])
            pending = []
    if pending:  # no cue anywhere (callers handle that case before)
        groups.append(pending)
    return groups


def _cue_negated(group: list[_Clause]) -> bool:
    return any(c.negated for c in group if c.cues)


def _is_conclusion(sentence: str) -> bool:
    masked = _mask_quotes(sentence)
    if _INFERENCE.search(masked):
        return True
    if _CONNECTIVE.match(masked):
        return bool(EMOTION_WORD.search(masked) or _STATE_WORD.search(masked))
    return False


def extract_claims(completion: str, labels: tuple[str, ...] = DFEW) -> list[Claim]:
    """Every unit of the completion's `<think>` body, in text order (offsets index `completion`)."""
    span = think_span(completion)
    if span is None:
        return []
    labels = tuple(labels)
    sentences = split_sentences(completion, *span)
    out: list[Claim] = []
    conclusions = [_is_conclusion(completion[a:b]) for a, b in sentences]
    for k, (a, b) in enumerate(sentences):
        sentence = completion[a:b]
        clauses = _analyse_sentence(sentence, labels)
        has_cue = any(c.cues for c in clauses)
        last_fallback = (k == len(sentences) - 1 and not any(conclusions) and not has_cue
                         and any(c.emotions for c in clauses) and len(sentences) > 1)
        if conclusions[k] or last_fallback or not has_cue:
            kind = "conclusion" if (conclusions[k] or last_fallback) else "context"
            masked = _mask_quotes(sentence)
            emotions = _emotions(sentence, masked, labels, False) if kind == "conclusion" else _union(clauses)
            out.append(Claim(sentence, a, b, (), emotions, kind, None, bool(_HEDGE.search(masked)),
                             any(c.conceded for c in clauses), any(c.negated for c in clauses), a, b))
            continue
        for group in _group(clauses):
            s, e = group[0].start, group[-1].end
            raw = sentence[s:e]
            s2 = s + (len(raw) - len(raw.lstrip()))
            e2 = e - (len(raw) - len(raw.rstrip()))
            cues = [q for c in group for q in c.cues]
            cats = tuple(dict.fromkeys(q.category for q in cues))
            specific = [q for q in cats if q not in _GENERIC_CUES] or list(cats)
            cue_clauses = [c for c in group if c.cues]
            out.append(Claim(
                text=sentence[s2:e2], start=a + s2, end=a + e2, cites=(cues[0].modality,), emotions=_union(group),
                kind="cue", cue=specific[0] if specific else None, hedged=any(c.hedged for c in group),
                conceded=all(c.conceded for c in cue_clauses), negated=_cue_negated(group),
                sentence_start=a, sentence_end=b, cues=cats))
    return out


# cue categories that say little on their own: a unit's `cue` is its first more specific one, when it has one
_GENERIC_CUES = frozenset({"speech content", "scene", "movement", "sound"})


def _union(clauses) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e for c in clauses for e in c.emotions))


# ---------------------------------------------------------------------------------------------------------
# verdicts


def contradicts(claim: Claim, answer_label: str | None) -> bool:
    """Whether a unit asserts an emotion and none of its emotions is the answer.

    "neutral"/"calm" said of one cue ("the voice stays calm") is no verdict; in a conclusion it is. A
    conclusion that names the answer among several emotions is no contradiction.

    >>> c = extract_claims("<think>The face looks angry.</think><answer>happy</answer>")[0]
    >>> contradicts(c, "happy"), contradicts(c, "angry"), contradicts(c, None)
    (True, False, False)
    """
    return _contradiction(claim.emotions, claim.kind == "conclusion", answer_label)


def _contradiction(emotions, conclusion: bool, answer_label: str | None) -> bool:
    if answer_label is None:
        return False
    verdicts = [e for e in emotions if conclusion or e not in NON_VERDICT_LABELS]
    return bool(verdicts) and answer_label not in emotions


_NEUTRAL_STATE = re.compile(
    r"\b(?:calm(?:ly)?|relaxed|steady|steadily|flat|plain|neutral|composed|unchanged|unchanging|expressionless|"
    r"blank|impassive|moderate|ordinary|routine|matter-of-fact|unremarkable|normal|usual|even-toned|"
    r"(?:stays?|stayed|remains?|remained|is|are|was|were|sits?|sat|holds?|keeps?) still(?=\s*(?:[.,;!?]|and\b|$))|"
    r"(?:an?|is|are|was|stays?|remains?|and|quite|fairly) even(?=\s*(?:[.,;!?]|and\b|tone|voice|pace|pitch|"
    r"rhythm|volume|$))|"
    r"(?:is|are|was|stays?|remains?|stayed|remained|and|a) level(?=\s*(?:[.,;!?]|and\b|voice|tone|$))|"
    r"no (?:clear|visible|obvious|particular|strong|notable|marked|apparent|special) (?:\w+ )?"
    r"(?:emotion|expression|change|sign|signs|fluctuation|reaction|feeling)s?|"
    r"without (?:any )?(?:obvious|clear|visible|particular|notable) (?:\w+ )?"
    r"(?:emotion|expression|change|fluctuation|ups and downs)s?)", re.IGNORECASE)
# cue words that are emotional on their own: a unit holding one describes an emotional cue, not a calm state
_EMOTIONAL_CUE = re.compile(
    r"\b(?:louder|loud|loudly|shout\w*|yell\w*|scream\w*|cry|cries|cried|crying|sob\w*|tears?|tearful|weep\w*|"
    r"laugh\w*|trembl\w*|shak\w*|quiver\w*|frown\w*|smil\w*|grin\w*|gasp\w*|sigh\w*|rises?|rising|rose|high|"
    r"higher|sharp\w*|harsh\w*|fast|faster|rapid\w*|rush\w*|wide|widen\w*|clench\w*|furrow\w*|glar\w*|"
    r"scowl\w*|sneer\w*|jump\w*|shoots?|raised|raises|raising|drops?|dropped|falls?|fell|slams?|slammed|"
    r"breaks?|broke|cracks?|cracked|choked|hoarse|shrill|agitat\w*|intens\w*|strong(?:ly)?|forceful\w*)\b",
    re.IGNORECASE)


def is_neutral_claim(claim_or_text, labels: tuple[str, ...] = DFEW) -> bool:
    """A unit saying that a modality shows nothing in particular ("the face stays relaxed"), no emotional cue.

    "his voice becomes even louder", "she is still crying", "the pitch rises to a high level" are emotional
    cues: the calm-looking word there is an adverb or a noun.

    >>> is_neutral_claim("The voice stays calm and even."), is_neutral_claim("Her voice becomes even louder.")
    (True, False)
    """
    text = claim_or_text.text if isinstance(claim_or_text, Claim) else str(claim_or_text)
    masked = _mask_quotes(text)
    if isinstance(claim_or_text, Claim):
        named = [e for e in claim_or_text.emotions if e not in NON_VERDICT_LABELS]
    else:
        named = [e for e in emotion_words(text, labels) if e not in NON_VERDICT_LABELS]
    if named or not _NEUTRAL_STATE.search(masked):
        return False
    return not _EMOTIONAL_CUE.search(masked)


# ---------------------------------------------------------------------------------------------------------
# sentence-level views (the corpus fields; older callers)


def emotion_words(sentence: str, labels: tuple[str, ...] = DFEW) -> tuple[str, ...]:
    """Labels a sentence asserts (lexicon-mapped; not negated, conceded or quoted), in order, no repeats.

    >>> emotion_words("She is not angry; she looks happy and joyful."), emotion_words("He seems worried.")
    (('happy',), ('fear',))
    """
    return _union(_analyse_sentence(sentence, tuple(labels)))


def tag_modalities(sentence: str) -> tuple[Modality, ...]:
    """The modalities a sentence's cue units cite, in MODALITIES order; () for a conclusion.

    >>> tag_modalities("Her brow is furrowed and her voice is sharp."), tag_modalities("So the emotion is anger.")
    (('video', 'audio'), ())
    """
    claims = extract_claims(f"<think>{sentence}</think>")
    cited = {m for c in claims for m in c.cites}
    return tuple(m for m in MODALITIES if m in cited)


def map_label(answer: str | None, labels: tuple[str, ...] = DFEW) -> str | None:
    """An `<answer>` text as a label of `labels`: the label itself or a synonym, else the lexicon."""
    label = normalize_label(answer, labels)
    if label is None and answer:
        label = map_emotion(answer.strip().strip(".!").lower(), labels)
    return label


def sentence_annotations(completion: str, labels: tuple[str, ...] = DFEW, answer: str | None = None) -> list[dict]:
    """Per sentence of `<think>`: {"text", "cites", "emotions", "conclusion", "contradiction"} (the corpus
    fields of tests/fixtures/reasonings), derived from the units. `answer` defaults to the `<answer>` label."""
    labels = tuple(labels)
    if answer is None:
        span = answer_span(completion)
        answer = map_label(completion[span[0]:span[1]], labels) if span else None
    out: list[dict] = []
    by_sentence: dict[tuple[int, int], list[Claim]] = {}
    for c in extract_claims(completion, labels):
        by_sentence.setdefault((c.sentence_start, c.sentence_end), []).append(c)
    for (a, b), units in by_sentence.items():
        cited = {m for u in units for m in u.cites}
        emotions = tuple(dict.fromkeys(e for u in units for e in u.emotions))
        conclusion = any(u.kind == "conclusion" for u in units)
        out.append({"text": completion[a:b], "start": a, "end": b,
                    "cites": [m for m in MODALITIES if m in cited], "emotions": list(emotions),
                    "conclusion": conclusion, "contradiction": _contradiction(emotions, conclusion, answer)})
    return out
