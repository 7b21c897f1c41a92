"""``make demo``: train GI-PPO on a pace-car scenario for a few minutes and show how to watch the result.

    python -m difftraffic.cli.demo --out runs/demo [--scenario 2lane] [--epochs N] [--fresh] [-- RUN_FLAGS...]

It runs ``difftraffic run SCENARIO`` with the default learner (``difftraffic.registry.DEFAULT_LEARNER``) into
``--out`` (recording episodes before training, along the way and at the end), plots the learning curve, and
prints the commands to view, export and plot the run. It needs no display. Flags after ``--`` go to
``difftraffic run`` (e.g. ``-- --device cuda``). Running it again continues an interrupted demo (``--resume``)
or, when the demo already finished, just prints the commands; ``--fresh`` deletes the old demo run and trains
again.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from difftraffic.cli.commands import main as cli_main
from difftraffic.registry import DEFAULT_LEARNER, learner_title
from difftraffic.run.progress import command_lines, command_name
from difftraffic.run.rundir import RunDir

SCENARIO = "2lane"
"""The paper's scenario B (2 lanes, 4 IDM cars): GI-PPO's biggest win over the baselines in the paper."""
EPOCHS = 200
"""Measured to take a few minutes on 2 CPU cores and to raise the return visibly (see docs/cli.md)."""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m difftraffic.cli.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--scenario", default=SCENARIO, help=f"pace-car scenario name or YAML path (default: {SCENARIO})")
    p.add_argument("--epochs", type=int, default=EPOCHS, help=f"training epochs (default: {EPOCHS})")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--fresh", action="store_true", help="delete a previous demo run in --out and train again")
    p.add_argument("run_flags", nargs="*", metavar="-- RUN_FLAGS", help="extra flags for `difftraffic run`")
    args = p.parse_args(argv)
    extra = list(args.run_flags)
    out = Path(args.out)
    run = RunDir(out)
    if args.fresh and run.exists():
        print(f"removing the previous demo run in {out}")
        shutil.rmtree(out)
    record_every = max(1, args.epochs // 4)  # episodes at 0, 25 %, 50 %, 75 % and the end
    if run.exists():
        print(f"{out} already holds a run: continuing it (use --fresh to start over)")
        code = cli_main(["run", "--resume", "--out", str(out), "--epochs", str(args.epochs), *extra])
    else:
        print(
            f"difftraffic demo: {learner_title(DEFAULT_LEARNER)} on the {args.scenario} pace-car scenario, "
            f"{args.epochs} epochs "
            f"(64 envs x 32 steps each); the pace car learns to bring the traffic behind it to 10 m/s\n"
        )
        code = cli_main([
            "run", args.scenario, "--learner", DEFAULT_LEARNER, "--epochs", str(args.epochs), "--seed", str(args.seed),
            "--out", str(out), "--record-every", str(record_every), "--eval-every", str(max(1, args.epochs // 8)),
            *extra,
        ])  # fmt: skip
    if code != 0:
        return code
    code = cli_main(["plot", str(out)])
    if code != 0:
        return code
    cmd = command_name()
    n = len(run.episode_files())
    steps = [
        (f"{cmd} view {out}", "interactive viewer: space plays, [ ] switch episodes, G gradient overlay"),
        (f"{cmd} view {out} --screenshot demo.png --frames 600", "no display: render 600 frames, save the last"),
        (f"{cmd} export {out} -o {out}/demo.gif", "animated GIF (or .mp4) of the final episode"),
        (f"{cmd} plot {out}", f"learning curve and GI-PPO's alpha traces -> {out}/plots/"),
        (f"{cmd} eval {out}", "deterministic evaluation of the best checkpoint"),
    ]
    print(f"\nWatch what the pace car learned ({n} recorded episodes, from before training to the end):")
    print("\n".join(command_lines(steps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
