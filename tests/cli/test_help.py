"""--help texts explain every flag with its default (and units); importing the CLI stays light."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from difftraffic.cli.commands import build_parser

from ..clihelpers import REPO
from .conftest import run_cli

COMMANDS = ("run", "eval", "view", "export", "plot", "check", "bench")


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_command_has_help():
    res = run_cli("--help")
    assert res.code == 0
    for cmd in COMMANDS:
        assert cmd in res.out
        sub = run_cli(cmd, "--help")
        assert sub.code == 0 and sub.out.startswith(f"usage: difftraffic {cmd}")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_valued_flag_states_its_default(cmd):
    parser = _subparsers()[cmd]
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0 or action.dest == "help":
            continue  # positionals and on/off switches
        if action.required:
            continue
        assert "(default" in (action.help or ""), f"{cmd} {action.option_strings[0]}: no default in help"


def test_run_help_mentions_units():
    text = run_cli("run", "--help").out
    for fragment in ("epochs", "STEPS", "30 s", "threads", "--resume", "KEY=VALUE", "seed"):
        assert fragment in text
    # the learners and tasks are listed
    for name in ("gippo", "lrp", "dejong64", "ant", "10lane"):
        assert name in text


def test_import_cli_is_light():
    code = (
        "import sys, difftraffic.cli; "
        "heavy = [m for m in ('learners', 'matplotlib', 'viewer', 'tensorboard', 'pyglet', 'mujoco', 'gymnasium') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sweep_is_a_difftraffic_command(tmp_path, capsys):
    import difftraffic.cli.commands as cli

    out = tmp_path / "sw"
    code = cli.main(
        [
            "sweep",
            "--tasks",
            "dejong",
            "--learners",
            "rp",
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--out",
            str(out),
            "--dry-run",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "dejong/rp/s1" in printed and "would run 1 job(s)" in printed
    assert cli.main(["sweep", "--preset", "nope"]) == 2
