"""Pieces shared by the command-line entry points (``difftraffic``, ``difftraffic sweep``,
``python -m difftraffic.sweep.results``): the parser whose errors are one line, the help layout, the ``main``
wrapper that turns user mistakes into ``difftraffic: error: ...`` with exit code 2, and the SIGINT/SIGTERM
trap behind graceful stops.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from difftraffic.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one-line UserErrors (no usage dump)."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(message)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions' line breaks; flags in a 34-column gutter, 100 columns in all."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=34, width=100)


def run_main(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    handler: Callable[[argparse.Namespace], int | None],
    interrupted: str = "difftraffic: interrupted",
) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``; kept as ``args.argv``) and return ``handler(args)`` as an exit code.

    A UserError prints one line ``difftraffic: error: ...`` and gives 2; --help/--version give their own
    code; Ctrl-C prints ``interrupted`` and gives 130; a closed stdout pipe (``... | head``) gives 0."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(argv)
        args.argv = argv
        return int(handler(args) or 0)
    except UserError as err:
        sys.stdout.flush()
        print(f"difftraffic: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except BrokenPipeError:  # silence the interpreter's own flush of the closed stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


class SignalTrap(abc.ABC):
    """Routes SIGINT/SIGTERM to :meth:`on_signal` while active (the main thread only; elsewhere the default
    handling stays) and restores the previous handlers on exit. ``signum`` is the first signal received."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        self.on_signal(signum, first)

    @abc.abstractmethod
    def on_signal(self, signum: int, first: bool) -> None:
        """React to a signal (``first``: no signal came before); may raise KeyboardInterrupt."""

    @property
    def exit_code(self) -> int:
        """128 + the first signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports it."""
        return 128 + int(self.signum or signal.SIGINT)
