"""The rollout check: every step's outputs (shapes, dtypes, devices, finiteness), termination/truncation rules,
same-step autoreset and episode statistics; it also records the snapshots the replay check uses."""

from __future__ import annotations

from typing import Any

import torch

from difftraffic.conformance.attributes import tensor_issue
from difftraffic.conformance.context import CheckContext
from difftraffic.conformance.findings import FAIL, PASS, Finding, describe_exception
from difftraffic.conformance.snapshots import INFO_KEYS, clone_out, roundtrip
from difftraffic.env import DiffEnv


def _step_issue(env: DiffEnv, out: Any) -> str | None:
    """Validate one step's outputs; None when they conform."""
    if not isinstance(out, tuple) or len(out) != 5:
        return "step() must return (obs, reward, terminated, truncated, info)"
    obs, reward, term, trunc, info = out
    if not isinstance(info, dict) or any(k not in info for k in INFO_KEYS):
        return f"info must be a dict with keys {list(INFO_KEYS)}"
    B, D, dt = env.num_envs, env.obs_dim, env.dtype
    specs = [("obs", obs, (B, D), dt), ("reward", reward, (B,), dt), ("terminated", term, (B,), torch.bool)]
    specs += [("truncated", trunc, (B,), torch.bool), ('info["final_obs"]', info["final_obs"], (B, D), dt)]
    specs += [(f'info["{k}"]', info[k], (B,), None) for k in ("episode_return", "episode_length")]
    issue = next((i for i in (tensor_issue(*spec, env.device) for spec in specs) if i), None)
    if issue is None and info["episode_length"].is_floating_point():
        issue = 'info["episode_length"] must be integer'
    return issue


def check_rollout(env: DiffEnv, ctx: CheckContext, steps: int | None) -> list[Finding]:
    """Reset, then step with random actions through at least one time limit; checks outputs and autoreset."""
    n_steps = steps if steps is not None else min(env.episode_length + 1, 1200)
    obs = env.reset(seed=ctx.seed + 1)  # not the construction seed: a fresh env's generator differs
    issue = tensor_issue("reset() obs", obs, (env.num_envs, env.obs_dim), env.dtype, env.device)
    if issue:
        return [Finding("reset", FAIL, issue)]
    found = [Finding("reset", PASS, f"obs {list(obs.shape)} {env.dtype} on {env.device}, finite")]
    first_obs = obs.clone()
    ret = torch.zeros(env.num_envs, dtype=torch.float64, device=env.device)
    absret = torch.zeros_like(ret)
    length = torch.zeros(env.num_envs, dtype=torch.long, device=env.device)
    errors: dict[str, str] = {}
    n_term = n_trunc = done_rows = done_same = 0
    obs_varies = False
    # snapshots every `stride` steps (and 5 before the end); the replay check later restarts from the last
    # snapshot before the last episode end, so that it covers an autoreset and its random draws
    stride, snap_end = max(1, n_steps // 20), n_steps - min(5, n_steps)
    replay = ctx.replay
    replay.update(snaps={}, steps=[], last_done=None)

    def flag(check: str, msg: str) -> None:  # the first error of each check, with its step number
        errors.setdefault(check, f"step {i + 1}: {msg}")

    for i in range(n_steps):
        if (i % stride == 0 or i == snap_end) and "error" not in replay:
            try:
                live = env.state_dict()
                replay["snaps"][i] = roundtrip(live)
                replay["live"] = (live, replay["snaps"][i])
            except Exception as exc:
                replay["error"] = f"state_dict() / torch.load(weights_only=True) {describe_exception(exc)}"
        a = ctx.actions(env)
        with torch.no_grad():
            out = env.step(a)
        issue = _step_issue(env, out)
        if issue:
            return [*found, Finding("step", FAIL, f"step {i + 1}: {issue}")]
        next_obs, reward, term, trunc, info = out
        replay["steps"].append((a, clone_out(out)))
        done = term | trunc
        if bool(done.any()):
            replay["last_done"] = i
        if bool((term & trunc).any()):
            flag("exclusive", "terminated and truncated both true")
        obs_varies = obs_varies or not torch.equal(next_obs, first_obs) or not torch.equal(info["final_obs"], first_obs)
        ret += reward.double()
        absret += reward.double().abs()
        length += 1
        nd = ~done
        if not torch.equal(info["final_obs"][nd], next_obs[nd]):
            flag("final_obs", "final_obs differs from obs where no episode ended")
        if bool(done.any()):
            n_term += int(term.sum())
            n_trunc += int(trunc.sum())
            done_rows += int(done.sum())
            done_same += int((info["final_obs"][done] == next_obs[done]).all(dim=-1).sum())
            ep_len, ep_ret = info["episode_length"][done].long(), info["episode_return"][done].double()
            tol = (4.0 * torch.finfo(env.dtype).eps * length[done] + 1e-9) * (absret[done] + 1.0)
            if not torch.equal(ep_len, length[done]):
                flag("episode_stats", f"episode_length {ep_len.tolist()} but {length[done].tolist()} steps were taken")
            if bool(((ep_ret - ret[done]).abs() > tol).any()):
                flag("episode_stats", f"episode_return {ep_ret.tolist()} but the rewards sum to {ret[done].tolist()}")
            if bool((length[trunc] != env.episode_length).any()):
                flag("time_limit", f"truncated at length {length[trunc].tolist()} != {env.episode_length}")
            ret[done], absret[done], length[done] = 0.0, 0.0, 0
        if bool((length > env.episode_length).any()):
            flag("time_limit", f"an episode ran past episode_length={env.episode_length}")
    found.append(Finding("step", PASS, f"{n_steps} steps: shapes, dtypes, devices and finiteness of every output"))
    found.append(_verdict("exclusive", errors, "terminated and truncated never both true"))
    if n_steps >= env.episode_length and n_term + n_trunc == 0:
        msg = f"no episode ended within {n_steps} steps (episode_length={env.episode_length})"
        errors.setdefault("time_limit", msg)
    ok = f"{n_trunc} truncations, all at length {env.episode_length}"
    if n_trunc == 0:
        ok = f"no truncation seen in {n_steps} steps ({n_term} terminations); no episode ran past the limit"
    found.append(_verdict("time_limit", errors, ok))
    if done_rows and done_same and obs_varies:
        errors.setdefault("final_obs", f"{done_same}/{done_rows} ended envs returned final_obs equal to the reset obs")
    ok = "final_obs == obs where nothing ended, differs where an episode ended"
    if not done_rows:
        ok = f"final_obs == obs at every step (no episode ended in {n_steps} steps)"
    elif not obs_varies:
        ok = "final_obs == obs where nothing ended (observation is constant, so it cannot differ at resets)"
    found.append(_verdict("final_obs", errors, ok))
    found.append(_verdict("episode_stats", errors, f"episode_return/length correct for {done_rows} ended episodes"))
    return found


def _verdict(check: str, errors: dict[str, str], ok: str) -> Finding:
    return Finding(check, FAIL, errors[check]) if check in errors else Finding(check, PASS, ok)
