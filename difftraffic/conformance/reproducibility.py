"""Reproducibility checks: the ``state_dict`` round trip replays identically; ``reset(seed)`` reproduces rollouts
without touching the global torch RNG."""

from __future__ import annotations

from typing import Any

import torch

from difftraffic.conformance.context import CheckContext
from difftraffic.conformance.findings import FAIL, PASS, SKIP, Finding
from difftraffic.conformance.snapshots import clone_out, out_diff, roundtrip, same
from difftraffic.env import DiffEnv


def check_replay(env: DiffEnv, ctx: CheckContext, replay: dict[str, Any]) -> list[Finding]:
    """Load the snapshot (into a fresh env when a factory is given) and replay: outputs must be identical."""
    if "error" in replay:
        return [Finding("state_dict", FAIL, replay["error"])]
    steps, snaps, last_done = replay.get("steps", []), replay.get("snaps", {}), replay.get("last_done")
    if not snaps or not steps:
        return [Finding("state_dict", SKIP, "the rollout stopped before a snapshot")]
    found = []
    if not same(roundtrip(replay["live"][0]), replay["live"][1]):
        found.append(Finding("state_dict", FAIL, "state_dict() aliases live tensors: later steps changed it in place"))
    if last_done is None:
        start, stop = max(snaps), len(steps)
    else:
        start = max(k for k in snaps if k <= last_done)
        stop = min(len(steps), last_done + 3)
    target = ctx.make(env.num_envs, env.dtype) if ctx.factory is not None else env
    where = "a fresh env" if target is not env else "the same env"
    target.load_state_dict(snaps[start])
    for k in range(start, stop):
        a, expected = steps[k]
        with torch.no_grad():
            what = out_diff(expected, clone_out(target.step(a)))
        if what:
            msg = f"after load_state_dict into {where} at step {start + 1}, step {k + 1} gave a different {what}"
            return [*found, Finding("state_dict", FAIL, msg)]
    n_end = sum(int((out[2] | out[3]).sum()) for _, out in steps[start:stop])
    ok = f"torch.load(weights_only=True) round trip into {where}: {stop - start} identical steps"
    return found or [Finding("state_dict", PASS, f"{ok} ({n_end} autoresets)")]


def check_seed(env: DiffEnv, ctx: CheckContext) -> list[Finding]:
    """Same reset seed -> identical rollouts; the global torch RNG is neither used nor re-seeded."""
    actions = ctx.actions(env, n=3)
    global_rng = torch.get_rng_state()

    def run(target: DiffEnv, seed: int) -> list[Any]:
        outs: list[Any] = [target.reset(seed=seed).detach().clone()]
        with torch.no_grad():
            outs += [clone_out(target.step(a)) for a in actions]
        return outs

    first, again = run(env, ctx.seed + 7), run(env, ctx.seed + 7)
    if not torch.equal(torch.get_rng_state(), global_rng):
        return [Finding("seed", FAIL, "reset/step used or re-seeded the global torch RNG")]
    if not same(first, again):
        return [Finding("seed", FAIL, "reset(seed) twice with the same seed gave different rollouts")]
    if ctx.factory is not None and not same(run(ctx.make(env.num_envs, env.dtype), ctx.seed + 7), first):
        return [Finding("seed", FAIL, "a fresh env reset with the same seed gave a different rollout")]
    varies = not torch.equal(run(env, ctx.seed + 8)[0], first[0])
    how = "seed changes the initial state" if varies else "resets are deterministic (independent of the seed)"
    return [Finding("seed", PASS, f"reset(seed) reproduces rollouts exactly; global RNG untouched; {how}")]
