"""The ``difftraffic`` command: run, eval, view, export, plot, check, bench, calibrate, simulate (and sweep).

Imports stay light: learners, matplotlib, the viewer and TensorBoard are imported only by the
subcommand that needs them. Every user mistake is printed as one line,
``difftraffic: error: <what>: <why>``, with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from difftraffic import registry
from difftraffic.errors import UserError
from difftraffic.run.commandline import HelpFormatter, OneLineParser, run_main

FORMATS = ("csv", "sumo-fcd")  # difftraffic simulate --format
LEARNERS = registry.learner_names()
TASKS_HELP = ", ".join(registry.task_names())
MUJOCO_HELP = "/".join(registry.task_names("physics", extra="physics"))


def _learners_help() -> str:
    """Every learner name in the registry's order, followed by the paper's title where that is spelled differently
    (LR+RP), the last one after "or"."""
    names = [n if e.title.replace("-", "").lower() == n else f"{n} ({e.title})" for n, e in registry.LEARNERS.items()]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _command(sub, name: str, handler: str, help: str, description: str, **kwargs) -> argparse.ArgumentParser:
    """Add subcommand ``name`` run by ``handler`` ("package.module:function", imported only when the command runs)."""
    p = sub.add_parser(name, help=help, description=description, formatter_class=HelpFormatter, **kwargs)
    module, function = handler.split(":")
    p.set_defaults(func=lambda args: getattr(importlib.import_module(module), function)(args))
    return p


def _add_run(sub) -> None:
    p = _command(
        sub,
        "run",
        "difftraffic.run.training:cmd_run",
        help="train a learner on a task or scenario, writing a run directory",
        description="Train LEARNER on TASK and write a run directory with config.yaml, progress.csv, eval.csv,\n"
        "checkpoints/{latest,best}.pt, episodes/*.npz (traffic) and TensorBoard events (if installed).",
        epilog="examples:\n"
        f"  difftraffic run {registry.task_names()[0]} --learner {registry.DEFAULT_LEARNER} --epochs 200\n"
        f"  difftraffic run 2lane --learner {registry.BASELINE_LEARNER} --epochs 100 --seed 1 --out runs/b\n"
        "  difftraffic run --resume --out runs/b --epochs 300      # continue runs/b up to 300 epochs\n"
        "  difftraffic run 10lane --config-override critic_lr=5e-4",
    )
    p.add_argument(
        "task",
        nargs="?",
        metavar="TASK|SCENARIO",
        help=f"a task ({TASKS_HELP}), a bundled scenario name (e.g. 1lane, 10lane) or a path to a "
        "scenario .yaml file; optional with --resume (the run's own task is used)",
    )
    p.add_argument(
        "--learner",
        choices=LEARNERS,
        metavar="NAME",
        help=f"policy learner: {_learners_help()} (default: {registry.DEFAULT_LEARNER})",
    )
    p.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="total training epochs; one epoch = a rollout of `horizon` steps (1 on function tasks, 32 "
        "otherwise) in every env, then the updates; with --resume the total to reach (default: the learner "
        f"config's max_epochs, the paper's budget: {registry.budget_text()})",
    )
    p.add_argument("--seed", type=int, metavar="S", help="seed for torch, numpy, python and the task (default: 0)")
    p.add_argument("--device", metavar="DEV", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--dtype", choices=("float32", "float64"), help="floating-point precision (default: float32)")
    p.add_argument(
        "--num-envs",
        type=int,
        metavar="N",
        help="parallel environments per rollout (default: the learner config's num_envs, 64 in the paper)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch intra-op CPU threads (default: per task family: functions 1, traffic 1, physics 1; "
        "measured fastest for these small tensors, see docs/cli.md)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="run directory (default: runs/<task>__<learner>__s<seed>__<YYYYmmdd-HHMMSS>); must be new "
        "or empty unless --resume",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out DIR from checkpoints/latest.pt up to --epochs in total; other "
        "flags default to the run's saved values and may not change results",
    )
    p.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of the task class (repeatable), e.g. frame_skip=2 or fd_eps=1e-3 and "
        f"fd_centered=true for {MUJOCO_HELP}, compile=false for a scenario; saved in config.yaml, fixed on --resume "
        "(default: none; options per task in docs/tasks.md)",
    )
    p.add_argument(
        "--config-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one learner config entry (repeatable); the key must exist in the learner's resolved config "
        "and the value must have its type, e.g. actor_lr=3e-4, stable_ppo=false, actor_hidden=[256,64] "
        "(default: none, i.e. the paper's values for the task, listed in config.yaml and docs/learners.md)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        help="evaluate the deterministic policy every N epochs into eval.csv; 0 = only at the end "
        "(default: epochs/10, at least 1)",
    )
    p.add_argument(
        "--eval-episodes",
        type=int,
        metavar="N",
        help="episodes per evaluation, run as N parallel envs from a fixed seed (default: 16)",
    )
    p.add_argument(
        "--record-every",
        type=int,
        metavar="N",
        help="traffic tasks: record an episode (episodes/epoch_NNNNNN.npz) every N epochs, besides the "
        "ones at the start and the end; 0 = start and end only (default: epochs/4, at least 1)",
    )
    p.add_argument(
        "--record-envs", type=int, metavar="N", help="traffic tasks: envs per recorded episode file (default: 4)"
    )
    p.add_argument(
        "--record-steps",
        type=int,
        metavar="STEPS",
        help="traffic tasks: steps per recorded episode (default: the task's episode length, 1000 steps = 30 s "
        "for the pace-car scenarios)",
    )
    p.add_argument(
        "--grad-window",
        type=int,
        metavar="STEPS",
        help="traffic tasks: steps of pace-car actions whose gradient is recorded for the viewer's "
        "gradient-flow overlay; 0 = record no gradients (default: 32)",
    )
    p.add_argument(
        "--record-grads",
        choices=("final", "all", "none"),
        help="traffic tasks: which recorded episodes get gradient-flow data (about 50 s per 1000-step episode "
        "here, vs 2 s without): the final one, all, or none (default: final)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="write checkpoints/latest.pt every N epochs (also at the end and on Ctrl-C/SIGTERM) (default: 10)",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="stop this session after N epochs with a checkpoint (exit 0); continue later with "
        "--resume (default: run to --epochs)",
    )
    p.add_argument(
        "--no-tensorboard",
        action="store_true",
        help="do not write TensorBoard events (default: write them to tb/ if tensorboard is installed)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress line and no summary; print only the run directory at the end"
    )


def _add_eval(sub) -> None:
    p = _command(
        sub,
        "eval",
        "difftraffic.run.evaluate:cmd_eval",
        help="evaluate a run's checkpoint with the deterministic policy",
        description="Load checkpoints/best.pt (or latest.pt) of RUN and run the deterministic policy for N\n"
        "episodes from the run's evaluation seed; prints mean ± std return and compares it with the\n"
        "evaluation recorded in eval.csv for that checkpoint.",
    )
    p.add_argument("run", metavar="RUN", help="a run directory written by 'difftraffic run'")
    p.add_argument(
        "--checkpoint", choices=("best", "latest"), default="best", help="which checkpoint to evaluate (default: best)"
    )
    p.add_argument("--episodes", type=int, metavar="N", help="episodes (default: the run's --eval-episodes)")
    p.add_argument("--seed", type=int, metavar="S", help="evaluation seed (default: the run's evaluation seed)")
    p.add_argument("--device", metavar="DEV", help="cpu, cuda or cuda:N (default: the run's device)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: the run's)")


def _add_view(sub) -> None:
    p = _command(
        sub,
        "view",
        "difftraffic.cli.tools:cmd_view",
        help="watch recorded episodes in the interactive viewer",
        description="Open the viewer on a run directory (its latest recorded episode; [ and ] switch episodes)\n"
        "or on one episode .npz file. With --screenshot, render --frames frames without interaction and\n"
        "save the last one (works without a display through headless rendering).",
    )
    p.add_argument("src", metavar="RUN|EPISODE", help="a run directory or an episode .npz file")
    p.add_argument(
        "--screenshot",
        metavar="PNG",
        help="render --frames frames without interaction, save the last one to this PNG and exit "
        "(default: interactive window)",
    )
    p.add_argument("--frames", type=int, metavar="N", help="frames to render before the screenshot (default: 1)")
    p.add_argument("--size", metavar="WxH", help="window/screenshot size in pixels (default: 1280x720)")
    _add_render_options(p)


def _add_render_options(p) -> None:
    """Flags shared by view and export: which env of the batch and what is drawn besides the road."""
    p.add_argument("--env", type=int, default=0, metavar="B", help="which env of the recorded batch (default: 0)")
    p.add_argument(
        "--overlay",
        action="store_true",
        help="start with the gradient-flow overlay on (|d speed / d pace-car actions|, paper Fig. 9)",
    )
    p.add_argument(
        "--no-panels",
        action="store_true",
        help="hide the speed plots and time-space diagram beside the road (default: shown)",
    )


def _add_export(sub) -> None:
    p = _command(
        sub,
        "export",
        "difftraffic.cli.tools:cmd_export",
        help="export a recorded episode to GIF, MP4 or PNG frames",
        description="Render a recorded episode without a display and write it as an animated GIF, an MP4\n"
        "(needs the imageio-ffmpeg extra) or a directory of PNG frames (any other -o path).",
    )
    p.add_argument("src", metavar="RUN|EPISODE", help="a run directory (its latest episode) or an episode .npz file")
    p.add_argument("-o", "--out", required=True, metavar="PATH", help="output: x.gif, x.mp4 or a directory for PNGs")
    p.add_argument(
        "--fps",
        type=float,
        metavar="F",
        help="frames per second of the output (default: one frame per simulation step at --speed, "
        "e.g. 33.3 for dt = 0.03 s)",
    )
    p.add_argument("--size", metavar="WxH", help="frame size in pixels (default: 960x540)")
    p.add_argument(
        "--renderer",
        choices=("auto", "gl", "pillow"),
        default="auto",
        help="auto: headless GL if available, else Pillow (default: auto)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="playback speed as a multiple of real (simulated) time (default: 1.0)",
    )
    _add_render_options(p)


def _add_plot(sub) -> None:
    p = _command(
        sub,
        "plot",
        "difftraffic.run.curves:cmd_plot",
        help="plot learning curves and GI-PPO/LR+RP diagnostics of runs",
        description="Write PNG figures of one or more runs: learning curves (one axes per task, one curve per\n"
        "learner; mean ± std over seeds when several runs share task and learner), GI-PPO's alpha,\n"
        "R_alpha, estimated determinant (min/mean/max) and out-of-range ratio (paper Fig. 6), LR+RP's k_LR.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--out", metavar="DIR", help="output directory (default: RUN/plots of the first run)")
    p.add_argument(
        "--x",
        choices=("epoch", "steps", "time"),
        default="epoch",
        help="x axis: epoch, env steps or wall-clock seconds (default: epoch)",
    )
    p.add_argument(
        "--yscale",
        choices=("auto", "linear", "log"),
        default="auto",
        help="learning-curve y axis: log plots -return on a log scale (for negative returns such as "
        "the function tasks); auto = log when all returns are <= 0 and span > 3 decades (default: auto)",
    )
    p.add_argument(
        "--no-eval",
        action="store_true",
        help="leave out the deterministic-evaluation markers (default: drawn from eval.csv)",
    )
    p.add_argument("--show", action="store_true", help="also open the figures in a window (needs a display)")


def _add_check(sub) -> None:
    p = _command(
        sub,
        "check",
        "difftraffic.cli.tools:cmd_check",
        help="validate a scenario and/or check that a task obeys the DiffEnv contract",
        description="For a scenario: validate the YAML and run a short gradient/finiteness check. For any task:\n"
        "run the conformance checker (shapes, autoreset, detach, state round trip, gradients vs finite\n"
        "differences). Exit 0 = no findings, 1 = findings, 2 = bad input.",
    )
    p.add_argument("target", metavar="TASK|SCENARIO", help=f"a task ({TASKS_HELP}), scenario name or .yaml path")
    p.add_argument("--device", default="cpu", metavar="DEV", help="cpu, cuda or cuda:N (default: cpu)")


def _add_bench(sub) -> None:
    p = _command(
        sub,
        "bench",
        "difftraffic.cli.tools:cmd_bench",
        help="run the benchmark scripts in benchmarks/",
        description="Run benchmark scripts (benchmarks/<NAME>.py, in the source tree) one after another; each\n"
        "prints its own figures. Without NAME, run them all.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="benchmark names, e.g. sim_throughput (default: all)")
    p.add_argument("--list", action="store_true", help="list the available benchmarks and exit")


def _add_simulate(sub) -> None:
    p = _command(
        sub,
        "simulate",
        "difftraffic.run.simulate:cmd_simulate",
        help="run a pure-simulation scenario: FCD, detector data, diagrams and an episode",
        description="Run SCENARIO (task.kind: none, e.g. ring22) for N steps in B envs and write DIR/fcd.csv\n"
        "(env,time,vehicle_id,lane,position,speed,accel; position = front bumper, SUMO's pos), DIR/detectors.csv\n"
        "(the scenario's detectors: section), fundamental_diagram.png, time_space.png and episode.npz (replay\n"
        "it with 'difftraffic view DIR/episode.npz'). Nothing is left behind on failure.",
        epilog="examples:\n"
        "  difftraffic simulate ring22 --steps 3000 --out runs/ring22\n"
        "  difftraffic simulate ring22 --steps 600 --envs 4 --seed 1 --format sumo-fcd --out runs/r4",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="a bundled pure-simulation scenario name or a .yaml path")
    p.add_argument("--steps", type=int, required=True, metavar="N", help="simulation steps (of the scenario's dt)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory; must be new or empty")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the start perturbation (default: 0)")
    p.add_argument("--envs", type=int, default=1, metavar="B", help="parallel envs (default: 1)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="csv",
        help="csv, or sumo-fcd to also write SUMO FCD XML per env, DIR/fcd_env<B>.xml (default: csv)",
    )
    p.add_argument("--device", default="cpu", metavar="DEV", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64", help="speed precision (default: float64)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress line; print only the output directory")


def _add_calibrate(sub) -> None:
    p = _command(
        sub,
        "calibrate",
        "difftraffic.calibration.calibrate_cmd:cmd_calibrate",
        help="fit IDM parameters to measured trajectories by gradient (per driver, global or per class)",
        description="Calibrate IDM to trajectories (our CSV, NGSIM or highD): each follower replays its recorded\n"
        "leader (open loop) or a platoon runs closed loop, and batched Levenberg-Marquardt on exact\n"
        "sensitivities fits every driver at once. Writes DIR/params.csv (parameters, goodness of fit,\n"
        "standard errors), DIR/params.yaml (a scenario drivers section), summary.yaml and plots/.\n"
        "Input format, losses, bounds and method: docs/calibration.md.",
        epilog="examples:\n"
        "  difftraffic calibrate trajectories.csv --out fit/\n"
        "  difftraffic calibrate trajectories.csv --out fit/ --mode global --loss mixed\n"
        "  difftraffic calibrate 0750am-0805am.csv --out fit/ --classes class --fit v0,T,a,b,s0,delta\n"
        "  difftraffic calibrate 01_tracks.csv --out fit/ --platoon --bounds v0=10:45,T=0.3:3",
    )
    p.add_argument("data", metavar="DATA", help="trajectory file: CSV vehicle_id,time,lane,position,speed,length"
                   "[,leader_id], an NGSIM file or a highD XX_tracks.csv")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="output directory; must be new or empty")
    p.add_argument("--format", choices=("auto", "csv", "ngsim", "highd"), default="auto",
                   help="input layout (default: auto, from the header)")  # fmt: skip
    p.add_argument("--mode", choices=("per-driver", "global"), default="per-driver",
                   help="one IDM parameter set per follower, or one for all (default: per-driver)")  # fmt: skip
    p.add_argument("--classes", metavar="COLUMN", help="one parameter set per value of this column, e.g. class "
                   "(default: off)")  # fmt: skip
    p.add_argument("--fit", default="v0,T,a,b,s0", metavar="LIST",
                   help="parameters to fit, from v0,T,a,b,s0,delta (default: v0,T,a,b,s0; delta stays 4)")  # fmt: skip
    p.add_argument("--loss", choices=("spacing", "speed", "mixed"), default="spacing",
                   help="RMSE of gap, of speed, or Kesting-Treiber's mixed gap error (default: spacing)")  # fmt: skip
    p.add_argument("--platoon", action="store_true", help="closed loop: only vehicles without a leader replay "
                   "their data, the others follow their simulated leaders (default: open loop)")  # fmt: skip
    p.add_argument("--integrator", choices=("euler", "explicit", "ballistic"), default="euler",
                   help="the simulator's integrator (default: euler, SUMO's update)")  # fmt: skip
    p.add_argument("--sstar-clip", choices=("dynamic", "total"), default="dynamic",
                   help="IDM variant, see docs/model.md (default: dynamic, SUMO's)")  # fmt: skip
    p.add_argument("--bounds", metavar="NAME=LO:HI,...", help="parameter boxes (default: v0=5:60,T=0.1:5,"
                   "a=0.1:6,b=0.1:8,s0=0.1:10,delta=1:10)")  # fmt: skip
    p.add_argument("--initial", metavar="NAME=VALUE,...", help="start values, and the values of unfitted "
                   "parameters (default: v0=30,T=1.5,a=1,b=1.5,s0=2,delta=4)")  # fmt: skip
    p.add_argument("--min-duration", type=float, default=2.0, metavar="S",
                   help="open loop: shortest car-following segment used, s (default: 2.0)")  # fmt: skip
    p.add_argument("--free-road", action="store_true", help="also fit on samples without a leader (free road; "
                   "travelled-distance error) (default: off)")  # fmt: skip
    p.add_argument("--max-iter", type=int, default=100, metavar="N", help="Levenberg-Marquardt iterations at most "
                   "(default: 100)")  # fmt: skip
    p.add_argument("--plots", type=int, default=12, metavar="N", help="drivers in the trace plots; 0 = no plots "
                   "(default: 12)")  # fmt: skip
    p.add_argument("--ngsim-location", metavar="NAME", help="NGSIM files with several Location values: the one "
                   "to use (default: the file must hold one)")  # fmt: skip
    p.add_argument("--frame-rate", type=float, metavar="HZ", help="highD: frame rate (default: frameRate of "
                   "XX_recordingMeta.csv beside the file, else 25)")  # fmt: skip
    p.add_argument("--device", default="cpu", metavar="DEV", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="torch CPU threads (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def build_parser() -> argparse.ArgumentParser:
    from difftraffic import __version__

    parser = OneLineParser(
        prog="difftraffic",
        description="difftraffic: differentiable multi-lane traffic simulation and gradient-informed policy learning.",
        epilog="Run 'difftraffic COMMAND --help' for a command's flags. Units: seconds (s), metres (m), epochs.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"difftraffic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    commands = (_add_run, _add_eval, _add_view, _add_export, _add_plot, _add_check, _add_bench, _add_calibrate,
                _add_simulate)  # fmt: skip
    for add in commands:
        add(sub)
    from difftraffic.sweep.command import (
        register as add_sweep,  # light: the sweep's heavy parts (Ray) load when it runs
    )

    add_sweep(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``difftraffic`` console script; returns the exit code."""
    for stream in (sys.stdout, sys.stderr):  # never die on '±' in a non-UTF-8 terminal or log
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    return run_main(build_parser(), argv, _dispatch)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command is None:
        commands = "run, eval, view, export, plot, check, bench, calibrate, simulate, sweep"
        raise UserError(f"missing COMMAND ({commands}); see difftraffic --help")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
