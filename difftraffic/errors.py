"""UserError: a mistake in what the user asked for (bad path, flag, name, checkpoint).

The ``difftraffic`` command prints it as exactly one line, ``difftraffic: error: <what>: <why>``, and
exits with code 2; it never shows a traceback for it. Library code raises its own exceptions
(``ScenarioError``, ``EpisodeError``, ``ValueError``); the CLI converts the ones that describe user input.
"""

from __future__ import annotations


class UserError(Exception):
    """A user mistake; ``str(err)`` is the one-line message (``<what>: <why>``)."""

    def __init__(self, message: str):
        # Keep it to one line whatever the underlying library put in its message.
        super().__init__(" ".join(str(message).split()))
