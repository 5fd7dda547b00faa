"""Claim units: sentence splitting, modality per cue, conclusions, hedges, concessions, negations, the
lexicon per label set, contradiction and the neutral-state rule, table-driven."""

import pytest

from r1omni.audit.claims import (
    Claim,
    contradicts,
    emotion_words,
    extract_claims,
    is_neutral_claim,
    map_emotion,
    sentence_annotations,
    split_sentences,
    tag_modalities,
    think_span,
)
from r1omni.prompts import DFEW, MAFW, RAVDESS

TAGS = [
    ("The brows pull down into a hard frown.", ("video",)),
    ("Her lips spread in a wide smile.", ("video",)),
    ("He is frowning and his shoulders slump.", ("video",)),
    ("The eyes go wide under slanted brows.", ("video",)),
    ("The voice trembles.", ("audio",)),
    ("The pitch rises in a cheerful tone.", ("audio",)),
    ("The pace is quick and the volume is loud.", ("audio",)),
    ("The speech is fast.", ("audio",)),
    ("Her hands are shaking.", ("video",)),
    ("Her voice is shaking and her brow is furrowed.", ("video", "audio")),
    ("The subtitle says she is fine.", ("text",)),
    ("Overall this looks like anger.", ()),
    ("So the emotion is happy.", ()),
    # issue 16: a scene remark cites video; laughter is heard
    ("In an indoor setting, a man sits by the window.", ("video",)),
    ("The room is dim and the curtains are drawn.", ("video",)),
    ("The laughter is loud and bright.", ("audio",)),
    ("She laughs and her eyes light up.", ("video", "audio")),
    ("He said that his friend is pregnant.", ("audio",)),
    ('A caption at the bottom reads "One year later".', ("text",)),
    ("She seems worried.", ()),
    ("She seems heartbroken in the face of the loss.", ()),
    ("His mouth is open as if shouting.", ("video",)),  # a simile is no cue of its own
    ("The video shows a man in a grey coat on a bench.", ("video",)),
    ("From her words and tone, we can sense her sorrow.", ("audio",)),
    ("The subtitles show the reporter saying that the plant will close.", ("text",)),
    ('The words "Game Over" appear on the screen.', ("text",)),
    ("It can be seen that his eyebrows are raised.", ("video",)),  # a cue, not a conclusion
    ("The emotion expressed by his voice is anger.", ("audio",)),
    ("He scrolls through old messages without saying a word.", ("video", "audio")),  # an action verb
    ("She said that it had slipped out of her hand.", ("audio",)),  # reported words are no visual cue
    ("Somewhere behind her, a branch snapped.", ("audio",)),
    ('The words "CHAMPIONS" flashed on the giant screen.', ("text",)),
    ("He realises that he has lost his keys.", ()),  # narration: no channel
    ("She folded the letter and let out a shaky breath.", ("video", "audio")),
    ("A man in the video sniffed a carton of milk.", ("video",)),
    ("She glances at a text message and smiles.", ("video",)),  # a phone's text message is no on-screen text
]


@pytest.mark.parametrize(("sentence", "expected"), TAGS)
def test_tag_modalities(sentence, expected):
    assert tag_modalities(sentence) == expected


def test_units_one_cue_modality_each_with_offsets():
    text = ("<think>In the video, he found out that his friend is pregnant and he was very surprised. "
            "He spoke faster, raised his voice, and suddenly sat up from the sofa. He opened his mouth wide, "
            "widened his eyes, and raised his eyebrows. Therefore, it can be inferred that his emotional state "
            "is surprise.</think><answer>surprise</answer>")
    units = extract_claims(text)
    for u in units:
        assert text[u.start : u.end] == u.text
        assert text[u.sentence_start : u.sentence_end].find(u.text) >= 0
    assert [(u.text, u.cites, u.kind) for u in units] == [
        ("In the video, he found out that his friend is pregnant and he was very surprised.", ("video",), "cue"),
        ("He spoke faster, raised his voice,", ("audio",), "cue"),
        ("and suddenly sat up from the sofa.", ("video",), "cue"),
        ("He opened his mouth wide, widened his eyes, and raised his eyebrows.", ("video",), "cue"),
        ("Therefore, it can be inferred that his emotional state is surprise.", (), "conclusion"),
    ]
    assert units[1].cue == "pace" and "voice" in units[1].cues
    assert units[3].cue == "mouth" and {"eyes", "brow"} <= set(units[3].cues)
    assert units[0].emotions == ("surprise",) and units[-1].emotions == ("surprise",)


def test_a_sentence_with_a_voice_cue_and_a_brow_cue_gives_two_units():
    units = extract_claims("<think>Her voice is shaking and her brow is furrowed.</think>")
    assert [(u.text, u.cites, u.cue) for u in units] == [
        ("Her voice is shaking", ("audio",), "voice"), ("and her brow is furrowed.", ("video",), "brow")]
    assert all(u.sentence_start == units[0].start and u.sentence_end == units[-1].end for u in units)


def test_split_offsets_index_the_completion():
    text = "<think>The face looks sad.  The voice is slow and quiet! So the emotion is sad</think><answer>sad</answer>"
    claims = extract_claims(text)
    assert [c.text for c in claims] == ["The face looks sad.", "The voice is slow and quiet!", "So the emotion is sad"]
    for c in claims:
        assert text[c.start : c.end] == c.text
    assert [c.cites for c in claims] == [("video",), ("audio",), ()]
    assert [c.kind for c in claims] == ["cue", "cue", "conclusion"]


def test_sentence_rule_of_the_guideline():
    body = ('He shouted, "Get out!" and slammed the door. She asked, "Why?" He left! 3 people stayed. '
            "the end. e.g. this")
    assert [body[a:b] for a, b in split_sentences(body)] == [
        'He shouted, "Get out!" and slammed the door.', 'She asked, "Why?"', "He left!", "3 people stayed.",
        "the end.", "e.g. this"]


def test_unclosed_think_and_no_think():
    assert think_span("no tags at all") is None
    assert extract_claims("no tags") == []
    text = "<think>The eyes are wide. <answer>fear</answer>"
    assert [c.text for c in extract_claims(text)] == ["The eyes are wide."]


def test_split_keeps_decimal_and_trailing_text():
    text = "Pitch at 3.5 kHz rises. then stops"
    assert [text[a:b] for a, b in split_sentences(text)] == ["Pitch at 3.5 kHz rises.", "then stops"]


@pytest.mark.parametrize(
    ("sentence", "answer", "emotions", "contra"),
    [
        ("The face looks angry.", "happy", ("angry",), True),
        ("The face looks angry.", "angry", ("angry",), False),
        ("She is not angry at all.", "happy", (), False),
        ("The voice stays neutral.", "happy", ("neutral",), False),
        ("The voice sounds afraid.", "fear", ("fear",), False),
        # GUIDELINE: a contradiction asserts emotions none of which is the answer
        ("The voice sounds afraid and sad.", "fear", ("fear", "sad"), False),
        ("The voice sounds afraid and sad.", "happy", ("fear", "sad"), True),
        ("Happiness shows in the smile.", "sad", ("happy",), True),
    ],
)
def test_emotions_and_contradiction(sentence, answer, emotions, contra):
    claim = extract_claims(f"<think>{sentence}</think><answer>{answer}</answer>")[0]
    assert emotion_words(sentence) == emotions
    assert contradicts(claim, answer) is contra


def test_conclusion_naming_the_answer_among_several_is_no_contradiction():
    text = ("<think>Her eyes widen. Therefore, it can be inferred that her emotional state is astonishment "
            "and happiness.</think><answer>surprise</answer>")
    conclusion = extract_claims(text)[-1]
    assert conclusion.kind == "conclusion" and conclusion.cites == ()
    assert conclusion.emotions == ("surprise", "happy")
    assert not contradicts(conclusion, "surprise")
    assert contradicts(conclusion, "fear")
    assert sentence_annotations(text)[-1]["contradiction"] is False
    neutral = extract_claims("<think>The face is still. Overall, the emotion is neutral.</think>")[-1]
    assert contradicts(neutral, "angry")  # neutral is a verdict in a conclusion


@pytest.mark.parametrize(
    ("sentence", "emotions", "conceded", "negated", "hedged"),
    [
        ("Although he smiled happily, his voice was heavy with sorrow.", ("sad",), True, False, False),
        ("Despite her cheerful words, her face looks gloomy.", ("sad",), True, False, False),
        ("He is not angry, but he is clearly uneasy.", ("fear",), False, True, False),
        ("Her expression seems helpless rather than angry.", ("sad",), False, True, True),
        ("His brows are knitted, which may indicate tension.", ("fear",), False, False, True),
        ("There is no sign of fear in her eyes.", (), False, True, False),
        ('She whispers, "I am so happy for you."', (), False, False, False),
        ("His tense jaw and clenched fists show fury.", ("angry",), False, False, False),
        ("She does not speak and looks terrified.", ("fear",), False, True, False),
        ("He is far from happy.", (), False, True, False),
        ("He was trying to calm the baby.", (), False, False, False),  # "calm" as a verb on someone
        ("Her voice is calm the whole time.", ("neutral",), False, False, False),
    ],
)
def test_concessions_negations_hedges_quotes(sentence, emotions, conceded, negated, hedged):
    units = extract_claims(f"<think>{sentence}</think>")
    assert emotion_words(sentence) == emotions
    assert units[0].conceded is conceded
    assert any(u.negated for u in units) is negated
    assert any(u.hedged for u in units) is hedged


def test_conceded_cue_is_cited_but_asserts_nothing():
    units = extract_claims("<think>Although he had a smile on his face, his voice was filled with sadness.</think>")
    assert [(u.cites, u.emotions, u.conceded) for u in units] == [
        (("video",), (), True), (("audio",), ("sad",), False)]


@pytest.mark.parametrize(
    ("word", "labels", "label"),
    [
        ("worried", DFEW, "fear"), ("worried", MAFW, "anxious"), ("worried", RAVDESS, "fear"),
        ("astonished", DFEW, "surprise"), ("shocked", MAFW, "surprise"),
        ("dissatisfied", DFEW, "angry"), ("irritated", RAVDESS, "angry"),
        ("grateful", DFEW, "happy"), ("excited", MAFW, "happy"),
        ("disappointed", DFEW, "sad"), ("disappointment", MAFW, "disappointed"),
        ("helpless", DFEW, "sad"), ("helplessness", MAFW, "helpless"),
        ("disdain", DFEW, "disgust"), ("scorn", MAFW, "contemptuous"),
        ("calm", DFEW, "neutral"), ("calm", RAVDESS, "calm"), ("expressionless", RAVDESS, "neutral"),
        ("repulsed", DFEW, "disgust"), ("terrified", RAVDESS, "fear"),
        ("shy", DFEW, None), ("confused", MAFW, None), ("embarrassed", RAVDESS, None), ("serious", DFEW, None),
        ("smile", DFEW, None),
    ],
)
def test_lexicon_per_label_set(word, labels, label):
    assert map_emotion(word, labels) == label


def test_lexicon_maps_every_label_onto_itself():
    for labels in (DFEW, MAFW, RAVDESS):
        for lab in labels:
            assert map_emotion(lab, labels) == lab


@pytest.mark.parametrize(
    ("text", "neutral"),
    [
        ("The voice stays calm and even.", True),
        ("The tone is flat and steady.", True),
        ("The mouth and brows stay still.", True),
        ("The pitch and pace stay level.", True),
        ("The face shows no clear expression.", True),
        ("His intonation is steady and his speaking speed is moderate.", True),
        # issue 16: emotional cues that the old rule read as calm states
        ("His voice becomes even louder.", False),
        ("She is still crying.", False),
        ("The pitch rises to a high level.", False),
        ("The voice trembles.", False),
        ("Her face is calm but her eyes are full of anger.", False),
    ],
)
def test_neutral_state(text, neutral):
    assert is_neutral_claim(text) is neutral
    units = extract_claims(f"<think>{text}</think>")
    if len(units) == 1:
        assert is_neutral_claim(units[0]) is neutral


def test_claim_interface_fields():
    c = extract_claims("<think>The brow is low, suggesting anger.</think>")[0]
    assert isinstance(c, Claim)
    assert (c.kind, c.cue, c.hedged, c.conceded, c.negated) == ("cue", "brow", True, False, False)
    assert c.emotions == ("angry",) and c.cites == ("video",)


def test_synthetic_bank_sentences_tag_their_modality():
    from r1omni.synthetic import CONCLUSIONS, LABELS, PHRASES

    for (modality, _cue), sentences in PHRASES.items():
        for s in sentences:
            assert tag_modalities(s) == (modality,), s
            assert len(extract_claims(f"<think>{s}</think>")) == 1, s  # one unit: the demo's bank keys match
    for c in CONCLUSIONS:
        for lab in LABELS:
            assert tag_modalities(c.format(label=lab)) == (), c


def test_lower_case_demo_text_splits_into_sentences():
    text = "<think>the face looks sad. the voice is slow and quiet. so the emotion is sad.</think><answer>sad</answer>"
    assert [(c.text, c.kind) for c in extract_claims(text)] == [
        ("the face looks sad.", "cue"), ("the voice is slow and quiet.", "cue"),
        ("so the emotion is sad.", "conclusion")]


def test_units_cover_any_text_exactly_once():
    """Seeded garbled reasonings (unbalanced quotes, odd punctuation, no terminator, new lines): every unit
    indexes the completion, units do not overlap, and only whitespace is left between them."""
    import random

    words = ['He', 'said,', '"Stop!"', 'and', 'her', 'voice', 'shook;', 'the', 'subtitle', 'reads', '“Go', 'home”',
             'although', 'she', 'smiled.', 'Overall,', 'anger', '—', 'eyes', 'wide...', 'In', 'the', 'video,', '"',
             'not', 'happy?!', '\n', 'so', 'calm', '(sad).', 'The', 'room', 'is', 'dim.', '3.5', 'x', 'e.g.']
    rng = random.Random(16)
    for _ in range(300):
        body = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 40)))
        text = f"<think>{body}</think><answer>angry</answer>"
        units = extract_claims(text)
        a, b = think_span(text)
        for u in units:
            assert text[u.start : u.end] == u.text and u.text.strip() == u.text and u.text
            assert u.sentence_start <= u.start < u.end <= u.sentence_end
        assert all(p.end <= q.start for p, q in zip(units, units[1:]))
        assert "".join("".join(u.text for u in units).split()) == "".join(text[a:b].split())


@pytest.mark.parametrize("sentence, cites", [
    ("The tone is hard and biting.", ("audio",)),            # an action word said of the voice: a figure
    ("Her speech has a lively bounce to it.", ("audio",)),
    ("The voice holds steady.", ("audio",)),
    ("Her voice is soft as she holds the cup.", ("video", "audio")),  # a new actor: a real action
    ("He speaks while waving his hands.", ("video", "audio")),       # a limb: the camera shows it
    ("His tone is biting and he slams the door.", ("video", "audio")),
    ("The hiker slowly raised both hands and backed away.", ("video",)),  # "slowly" names no voice
])
def test_action_words_said_of_the_voice_are_figures_of_speech(sentence, cites):
    assert tag_modalities(sentence) == cites


@pytest.mark.parametrize("sentence, emotions", [
    ("At some point, the person's face looks stern and tense.", ()),  # tense said of the face: physical
    ("His shoulders are tense.", ()),
    ("She looks tense.", ("fear",)),                                  # of the person: an emotion
    ("His face looks angry and tense.", ("angry",)),                  # the other word still counts
])
def test_tense_said_of_a_body_part_after_a_verb_is_physical(sentence, emotions):
    assert tuple(e for c in extract_claims(f"<think>{sentence}</think>") for e in c.emotions) == emotions


def test_demo_grammar_training_phrasings_assert_only_their_own_emotion():
    from r1omni.synthetic.grammar import CORES, phrasings

    for key in sorted(CORES):
        for p in phrasings(key, "train"):
            said = {e for c in extract_claims(f"<think>{p[0].upper()}{p[1:]}.</think>") for e in c.emotions}
            assert said <= {key[1]}, (key, p, said)
