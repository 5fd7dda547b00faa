"""Cue-controlled synthetic emotion clips with ground truth (DESIGN 3.5) and truthful reasoning texts.

A clip shows its label only inside one cue window and only in its cue modality (video, audio or both);
the manifest records the window and the true drawn/voiced attributes, so every reasoning claim can be
checked against what is actually in the clip (`check_claims`).
"""

from r1omni.synthetic.clips import (
    BASE_COLUMNS,
    DURATION_S,
    LABELS,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    MODALITIES,
    WINDOW_S,
    ClipSpec,
    balanced_plan,
    generate_clips,
    plan_specs,
    render_clip,
    sample_spec,
    write_clip,
    write_mp4,
)
from r1omni.synthetic.face import FACE_ATTRS, FACE_TARGETS, FPS, FRAME_SIZE, NEUTRAL_FACE
from r1omni.synthetic.reasoning import (
    AUDIO_WORDS,
    CONCLUSIONS,
    PHRASES,
    VISUAL_WORDS,
    build_reasoning,
    check_claims,
    claim_facts,
    corpus_lines,
    false_claim,
    modality_labels,
    split_sentences,
    vocabulary,
)
from r1omni.synthetic.voice import NEUTRAL_VOICE, SAMPLE_RATE, VOICE_ATTRS, VOICE_TARGETS

__all__ = [
    "AUDIO_WORDS",
    "BASE_COLUMNS",
    "CONCLUSIONS",
    "DURATION_S",
    "FACE_ATTRS",
    "FACE_TARGETS",
    "FPS",
    "FRAME_SIZE",
    "LABELS",
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "MODALITIES",
    "NEUTRAL_FACE",
    "NEUTRAL_VOICE",
    "PHRASES",
    "SAMPLE_RATE",
    "VISUAL_WORDS",
    "VOICE_ATTRS",
    "VOICE_TARGETS",
    "WINDOW_S",
    "ClipSpec",
    "balanced_plan",
    "build_reasoning",
    "check_claims",
    "claim_facts",
    "corpus_lines",
    "false_claim",
    "generate_clips",
    "modality_labels",
    "plan_specs",
    "render_clip",
    "sample_spec",
    "split_sentences",
    "vocabulary",
    "write_clip",
    "write_mp4",
]
