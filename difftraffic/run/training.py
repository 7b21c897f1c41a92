"""``difftraffic run``: validate everything, create the run directory, then train with logging,
periodic evaluation, episode recording and checkpoints (see docs/cli.md for the layout and semantics).

Order of work per epoch: append the progress.csv row (and TensorBoard scalars), update the best
snapshot, draw the progress line, then evaluate / record / checkpoint when due. A checkpoint stores the
learner state after the epoch plus the row counts of progress.csv and eval.csv, so ``--resume`` can drop
rows logged after it and continue exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from difftraffic.run.commandline import SignalTrap
from difftraffic.run.csvlog import CsvLog
from difftraffic.run.factory import RESULT_KEYS
from difftraffic.run.planning import Plan, global_rng_state, plan_run
from difftraffic.run.progress import ProgressLine, command_lines, command_name, fmt_count, fmt_duration, fmt_num
from difftraffic.run.rundir import RunDir, load_checkpoint, removed_on_failure, save_checkpoint, write_config

TIMING_COLUMNS = ("wall_s", "charts/SPS")
"""progress.csv columns (besides time/*) that measure speed and so differ between identical runs."""


class StopRequest(SignalTrap):
    """SIGINT/SIGTERM handler: the first signal asks to stop after the current epoch, a second aborts."""

    def __init__(self, progress: ProgressLine):
        super().__init__()
        self.progress = progress

    def on_signal(self, signum: int, first: bool) -> None:
        if not first:
            raise KeyboardInterrupt
        self.progress.message(
            f"received {signal.Signals(signum).name}: finishing this epoch, then saving a "
            "checkpoint (send it again to abort the epoch)"
        )


@dataclass
class Trainer:
    """Runs one training session of a planned run (new or resumed)."""

    plan: Plan
    progress_log: CsvLog = field(init=False)
    eval_log: CsvLog = field(init=False)
    best_return: float = -math.inf
    best_epoch: int = 0
    best_steps: int = 0
    best_state: dict[str, Any] | None = None
    best_dirty: bool = False
    wall_offset: float = 0.0
    tb: Any = None
    saved_epoch: int = -1
    evals: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[Path] = field(default_factory=list)
    last_row: dict[str, Any] | None = None

    def last_return(self) -> float:
        return self.last_row["episode_return"] if self.last_row else math.nan

    def total_wall(self) -> float:
        return self.last_row["wall_s"] if self.last_row else self.wall_offset

    @property
    def s(self) -> dict[str, Any]:
        return self.plan.settings

    @property
    def run(self) -> RunDir:
        return self.plan.run

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        """Write config.yaml, open the logs, restore a resumed state, record the first episode."""
        write_config(self.run.config, self.s)
        from difftraffic.run.evaluate import EVAL_COLUMNS

        self.progress_log = CsvLog(self.run.progress, ("epoch", "env_steps", "wall_s", "episode_return"))
        self.eval_log = CsvLog(self.run.eval, EVAL_COLUMNS)
        ckpt = self.plan.checkpoint
        if ckpt is not None:
            self.progress_log.truncate(int(ckpt["csv_rows"]["progress"]))
            self.eval_log.truncate(int(ckpt["csv_rows"]["eval"]))
            self.wall_offset = float(ckpt["wall_s"])
            self.best_return = float(ckpt["best_return"])
            self.best_epoch = int(ckpt["best_epoch"])
            self.saved_epoch = int(ckpt["epoch"])
        if self.s["tensorboard"]:
            from difftraffic.run.tblog import TBLogger

            self.tb = TBLogger(self.run.tb, purge_step=self.plan.learner.epoch + 1 if ckpt is not None else None)
        if ckpt is None and self.s["task_family"] == "traffic":
            self.record_episode(0)

    # ---------------------------------------------------------------- steps
    def log_epoch(self, metrics: dict[str, Any], wall: float) -> dict[str, Any]:
        learner = self.plan.learner
        row = {
            "epoch": int(learner.epoch),
            "env_steps": int(learner.env_steps),
            "wall_s": wall,
            "episode_return": _float(metrics.get("charts/episode_return", math.nan)),
        }
        row.update({k: v for k, v in metrics.items() if k not in row})
        self.progress_log.append(row)
        self.last_row = row
        if self.tb is not None:
            self.tb.log(row["epoch"], {"charts/wall_s": wall, **metrics})
        ret = row["episode_return"]
        if not math.isnan(ret) and ret > self.best_return:
            self.best_return, self.best_epoch, self.best_steps = ret, row["epoch"], row["env_steps"]
            self.best_state = copy.deepcopy(learner.state_dict())
            self.best_dirty = True
        return row

    def evaluate(self, policy: str) -> dict[str, Any]:
        from difftraffic.run.evaluate import evaluate_learner, learner_from_state

        learner = self.plan.learner
        if policy == "best":
            if self.best_state is None:  # resumed run, best not improved since: use best.pt
                self.best_state = load_checkpoint(self.run.checkpoint("best"))["learner"]
            learner = learner_from_state(self.s, self.best_state)
            epoch, steps = self.best_epoch, int(learner.env_steps)
        else:
            epoch, steps = int(learner.epoch), int(learner.env_steps)
        result = evaluate_learner(self.s, learner)
        row = {"epoch": epoch, "env_steps": steps, "policy": policy, **result}
        self.eval_log.append(row)
        if self.tb is not None and policy != "best":
            self.tb.log(epoch, {"eval/return_mean": result["return_mean"], "eval/return_std": result["return_std"]})
        self.evals.append(row)
        return row

    def record_episode(self, epoch: int, final: bool = False) -> Path:
        """Record episodes/epoch_NNNNNN.npz; gradient-flow data per --record-grads (all, final, none)."""
        from difftraffic.run.evaluate import record

        learner = self.plan.learner
        path = self.run.episodes / f"epoch_{epoch:06d}.npz"
        meta = {
            "learner": self.s["learner"],
            "epoch": epoch,
            "env_steps": int(learner.env_steps),
            "run": self.run.path.name,
            "seed": self.s["record_seed"],
            "policy": "deterministic",
        }
        which = self.s.get("record_grads", "all")
        grads = which == "all" or (which == "final" and final)
        record(self.s, learner, path, meta, grad_window=int(self.s["grad_window"]) if grads else 0)
        self.episodes.append(path)
        return path

    def save(self, wall: float, epoch_return: float) -> None:
        """best.pt (if it changed) then latest.pt, each atomically."""
        learner = self.plan.learner
        self.progress_log.sync()
        self.eval_log.sync()
        common = {"run": {k: self.s[k] for k in RESULT_KEYS}, "learner_name": self.s["learner"]}
        if self.best_dirty and self.best_state is not None:
            save_checkpoint(
                self.run.checkpoint("best"),
                {
                    **common,
                    "kind": "best",
                    "epoch": self.best_epoch,
                    "env_steps": self.best_steps,
                    "episode_return": self.best_return,
                    "learner": self.best_state,
                },
            )
            self.best_dirty = False
        save_checkpoint(
            self.run.checkpoint("latest"),
            {
                **common,
                "kind": "latest",
                "epoch": int(learner.epoch),
                "env_steps": int(learner.env_steps),
                "episode_return": epoch_return,
                "wall_s": wall,
                "best_return": self.best_return,
                "best_epoch": self.best_epoch,
                "csv_rows": {"progress": self.progress_log.rows, "eval": self.eval_log.rows},
                "rng": global_rng_state(),
                "learner": learner.state_dict(),
            },
        )
        self.saved_epoch = int(learner.epoch)

    # ---------------------------------------------------------------- loop
    def train(self, out: ProgressLine, stop: StopRequest) -> str:
        """Train to the target epoch; returns 'done', 'stopped' (--stop-after) or 'signal'."""
        learner, s = self.plan.learner, self.s
        total = int(s["epochs"])
        limit = total if self.plan.stop_after is None else min(total, learner.epoch + self.plan.stop_after)
        t0 = time.monotonic()
        last_t, last_steps = t0, int(learner.env_steps)
        ret = math.nan
        if learner.epoch >= limit:
            return "done" if learner.epoch >= total else "stopped"
        for metrics in learner.train(total):
            now = time.monotonic()
            wall = self.wall_offset + (now - t0)
            row = self.log_epoch(metrics, wall)
            epoch, ret = row["epoch"], row["episode_return"]
            sps = (row["env_steps"] - last_steps) / max(now - last_t, 1e-9)
            last_t, last_steps = now, row["env_steps"]
            alpha = metrics.get("grad/alpha")  # GI-PPO's step size, shown on the progress line where logged
            out.update(epoch, row["env_steps"], sps, ret, self.best_return, None if alpha is None else _float(alpha))
            final = epoch >= total
            if s["eval_every"] and epoch % s["eval_every"] == 0 and not final:
                r = self.evaluate("periodic")
                out.message(
                    f"  eval @ epoch {epoch}: return {fmt_num(r['return_mean'])} ± "
                    f"{fmt_num(r['return_std'], 3)} ({r['episodes']} episodes, deterministic)"
                )
            if s["task_family"] == "traffic" and s["record_every"] and epoch % s["record_every"] == 0 and not final:
                path = self.record_episode(epoch)
                out.message(f"  recorded {path}")
            if final:
                self.evaluate("final")
                self.save(self.wall_offset + (time.monotonic() - t0), ret)
                return "done"
            if s["checkpoint_every"] and epoch % s["checkpoint_every"] == 0:
                self.save(self.wall_offset + (time.monotonic() - t0), ret)
            if stop.signum is not None or epoch >= limit:
                if self.saved_epoch != epoch:
                    self.save(self.wall_offset + (time.monotonic() - t0), ret)
                return "signal" if stop.signum is not None else "stopped"
            last_t = time.monotonic()  # steps/s measures training only, not evaluation/recording/saving
        return "done"

    def finish(self) -> None:
        """After the last epoch: evaluate best.pt and record the final episode."""
        if self.best_epoch > 0:
            self.evaluate("best")
        if self.s["task_family"] == "traffic":
            self.record_episode(int(self.plan.learner.epoch), final=True)

    def close(self) -> None:
        self.progress_log.close()
        self.eval_log.close()
        if self.tb is not None:
            self.tb.close()


def _float(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def cmd_run(args: argparse.Namespace) -> int:
    plan = plan_run(args)
    if plan.checkpoint is not None and plan.learner.epoch >= int(plan.settings["epochs"]):
        print(
            f"{plan.run.path}: already trained to epoch {plan.learner.epoch} of {plan.settings['epochs']}; "
            "nothing to do (pass a larger --epochs to continue)"
        )
        return 0
    trainer = Trainer(plan)
    out = ProgressLine(int(plan.settings["epochs"]), start_epoch=int(plan.learner.epoch), quiet=plan.quiet)
    guard = removed_on_failure(plan.run.path) if plan.checkpoint is None else contextlib.nullcontext()
    t_start = time.monotonic()
    with guard:
        trainer.setup()
    try:
        with StopRequest(out) as stop:
            try:
                status = trainer.train(out, stop)
            except KeyboardInterrupt:
                out.finish()
                print(
                    f"difftraffic: aborted during epoch {plan.learner.epoch + 1}; the last checkpoint "
                    f"(epoch {max(trainer.saved_epoch, 0)}) is kept in {plan.run.checkpoint('latest')}",
                    file=sys.stderr,
                )
                return stop.exit_code
        out.finish()
        if status == "done":
            trainer.finish()
    finally:
        trainer.close()
    resume_cmd = f"{command_name()} run --resume --out {plan.run.path}"
    if status == "signal":
        print(
            f"difftraffic: interrupted by {signal.Signals(stop.signum).name} after epoch {plan.learner.epoch}/"
            f"{plan.settings['epochs']}; checkpoint saved to {plan.run.checkpoint('latest')}; "
            f"continue with: {resume_cmd}",
            file=sys.stderr,
        )
        return stop.exit_code
    if plan.quiet:
        print(plan.run.path)
        return 0
    print_summary(trainer, status, time.monotonic() - t_start, resume_cmd)
    return 0


def print_summary(trainer: Trainer, status: str, session_s: float, resume_cmd: str) -> None:
    """The one-screen end-of-run summary."""
    s, run, learner = trainer.s, trainer.run, trainer.plan.learner
    rows = trainer.progress_log.rows
    final = next((e for e in reversed(trainer.evals) if e["policy"] == "final"), None)
    best_eval = next((e for e in reversed(trainer.evals) if e["policy"] == "best"), None)
    head = "finished" if status == "done" else f"stopped after epoch {learner.epoch} (--stop-after)"
    best = (
        f"{fmt_num(trainer.best_return)} at epoch {trainer.best_epoch} (running mean of the last 100 episodes)"
        if trainer.best_epoch
        else "n/a (no episode has finished yet)"
    )
    lines = [
        "",
        f"difftraffic run {head}: {s['task_name']} / {s['learner']} / seed {s['seed']} / {learner.epoch} of "
        f"{s['epochs']} epochs, {fmt_count(learner.env_steps)} env steps",
        f"  best return    {best}",
        f"  final return   {fmt_num(trainer.last_return())}",
    ]
    if final:
        lines.append(
            f"  eval (final)   {fmt_num(final['return_mean'])} ± {fmt_num(final['return_std'], 3)} over "
            f"{final['episodes']} episodes, deterministic policy"
        )
    if best_eval and final and best_eval["epoch"] == learner.epoch:
        lines.append("  eval (best.pt) the same (the best epoch is the last one)")
    elif best_eval:
        lines.append(
            f"  eval (best.pt) {fmt_num(best_eval['return_mean'])} ± {fmt_num(best_eval['return_std'], 3)} "
            f"(epoch {best_eval['epoch']})"
        )
    ckpts = [n for n in ("latest", "best") if run.checkpoint(n).exists()]
    names = ckpts[0] if len(ckpts) == 1 else "{" + ",".join(ckpts) + "}"
    files = ["config.yaml", "progress.csv", "eval.csv", f"checkpoints/{names}.pt"]
    if run.episode_files():
        files.append(f"episodes/ ({len(run.episode_files())} files)")
    if trainer.tb is not None:
        files.append("tb/")
    which = "best.pt" if "best" in ckpts else "latest.pt"
    lines += [
        f"  wall time      {fmt_duration(session_s)} this session, {fmt_duration(trainer.total_wall())} of training "
        f"in total; {rows} rows in progress.csv",
        f"  run directory  {run.path}/",
        "                 " + "  ".join(files),
        "  next:",
    ]
    cmd = command_name()
    steps = [
        (f"{cmd} plot {run.path}", f"learning curves -> {run.plots}/"),
        (f"{cmd} eval {run.path}" + ("" if "best" in ckpts else " --checkpoint latest"),
         f"deterministic evaluation of {which}"),
    ]  # fmt: skip
    if run.episode_files():
        steps += [
            (f"{cmd} view {run.path}", "watch the recorded episodes"),
            (f"{cmd} export {run.path} -o {run.path}/episode.gif", "or .mp4"),
        ]
    if status != "done":
        steps.append((resume_cmd, f"continue to epoch {s['epochs']}"))
    lines += command_lines(steps, indent="    ")
    print("\n".join(lines))
