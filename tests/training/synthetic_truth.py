"""Shared by the grounding tests: a fixed set of synthetic clip specs and what each modality of one shows."""

from __future__ import annotations

import pytest

from r1omni.synthetic.clips import plan_specs
from r1omni.synthetic.reasoning import modality_labels


def truth_of(spec) -> dict[str, str]:
    shown = modality_labels(spec)
    return {"label": spec.label, "video_label": shown["video"], "audio_label": shown["audio"]}


@pytest.fixture(scope="module")
def specs():
    return plan_specs(84, 5150)
