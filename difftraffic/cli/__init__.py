"""The ``difftraffic`` command: argument parsing and the commands (``commands.py``), viewer/check/bench
commands (``tools.py``) and ``make demo`` (``demo.py``)."""

from difftraffic.cli.commands import main

__all__ = ["main"]
