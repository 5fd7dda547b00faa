"""Exceptions a user sees. Each message is one line naming the bad value and, where useful, the fix.

This module knows nothing about the CLI or the UI: they catch `R1OmniError` and show `str(err)`.
"""

from __future__ import annotations


class R1OmniError(Exception):
    """Base class for every error meant for the user (exit 2 in the CLI, a one-line message in the app)."""

    def __init__(self, message: str):
        # Keep the promise of one line even when a library error text spans several.
        super().__init__(" ".join(str(message).split()))


class MediaError(R1OmniError):
    """A clip cannot be read or used (missing, empty, truncated, wrong type, no usable stream)."""


class CheckpointError(R1OmniError):
    """A checkpoint cannot be found, is in a refused format, or does not match the model."""


class UsageError(R1OmniError):
    """Bad arguments: unknown names, invalid values."""
