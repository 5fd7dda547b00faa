"""Audit tab (placeholder): annotators will confirm or reject flagged claims here."""

from __future__ import annotations

import gradio as gr


def build() -> None:
    gr.Markdown(
        "### Audit: coming soon\n"
        "Annotators will review each flagged claim of the reasoning here (confirm or reject a suspected "
        "hallucination), with verdicts stored and exported. Until then, flagged claims are marked in the "
        "**Clip** tab.",
        elem_id="audit-placeholder",
    )
