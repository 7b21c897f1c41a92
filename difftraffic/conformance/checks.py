"""The DiffEnv contract checks run by :mod:`difftraffic.conformance`; each returns a list of :class:`Finding`.

Every ``check_*`` function takes the env under test and/or a :class:`CheckContext` (which builds fresh
instances from a factory and draws reproducible actions) and returns its findings; what each one
verifies is tabled in docs/tasks.md. :func:`difftraffic.conformance.check_env` runs them in order.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import torch

from difftraffic.env import DiffEnv, same_device

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
INFO_KEYS = ("final_obs", "episode_return", "episode_length")


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``status`` is pass / warn / fail / skip."""

    check: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"{self.status.upper():<4}  {self.check:<13} {self.message}"


class CheckContext:
    """Builds envs from the factory (or hands back the one instance) and draws reproducible actions."""

    def __init__(self, env_or_factory, num_envs, device, dtype, seed):
        self.instance = env_or_factory if isinstance(env_or_factory, DiffEnv) else None
        self.factory = None if self.instance is not None else env_or_factory
        self.num_envs, self.device, self.dtype, self.seed = num_envs, device, dtype, seed
        self.gen = torch.Generator().manual_seed(seed + 12345)
        self.replay: dict[str, Any] = {}  # the rollout's state_dict snapshots and recorded steps

    def make(self, num_envs: int, dtype: torch.dtype) -> DiffEnv:
        if self.instance is not None:
            return self.instance
        env = self.factory(num_envs=num_envs, device=self.device, dtype=dtype, seed=self.seed)
        if not isinstance(env, DiffEnv):
            raise TypeError(f"factory returned {type(env).__name__}, not a DiffEnv")
        return env

    def make64(self, num_envs: int) -> DiffEnv | None:
        if self.instance is not None:
            return self.instance if self.instance.dtype == torch.float64 else None
        return self.make(num_envs, torch.float64)

    def actions(self, env: DiffEnv, n: int | None = None, bound: float = 1.0) -> torch.Tensor:
        shape = (env.num_envs, env.act_dim) if n is None else (n, env.num_envs, env.act_dim)
        a = (torch.rand(shape, generator=self.gen, dtype=torch.float64) * 2.0 - 1.0) * bound
        return a.to(device=env.device, dtype=env.dtype)


def describe_exception(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"raised {type(exc).__name__}: {msg[0] if msg else ''}"


def _tensor_issue(what: str, t: Any, shape: tuple, dtype: torch.dtype | None, device: torch.device) -> str | None:
    """Why ``t`` is not a finite tensor of ``shape``/``dtype`` on ``device`` (None if it is)."""
    if not isinstance(t, torch.Tensor):
        return f"{what} is {type(t).__name__}, not a tensor"
    if tuple(t.shape) != tuple(shape):
        return f"{what} has shape {list(t.shape)}, expected {list(shape)}"
    if dtype is not None and t.dtype != dtype:
        return f"{what} has dtype {t.dtype}, expected {dtype}"
    if dtype is None and t.dtype == torch.bool:
        return f"{what} is bool, expected an integer count"
    if not same_device(t.device, device):
        return f"{what} is on {t.device}, env is on {device}"
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        return f"{what} has non-finite values"
    return None


def check_attributes(env: DiffEnv, ctx: CheckContext) -> list[Finding]:
    bad = []
    for key in ("num_envs", "obs_dim", "act_dim", "episode_length"):
        value = getattr(env, key, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            bad.append(f"{key}={value!r} is not a positive int")
    if not isinstance(getattr(env, "device", None), torch.device):
        bad.append(f"device={getattr(env, 'device', None)!r} is not a torch.device")
    elif env.device.type != ctx.device.type:
        bad.append(f"device {env.device} differs from the requested {ctx.device}")
    if getattr(env, "dtype", None) not in (torch.float32, torch.float64):
        bad.append(f"dtype={getattr(env, 'dtype', None)!r} is not float32/float64")
    if ctx.factory is not None and not bad and env.num_envs != ctx.num_envs:
        bad.append(f"num_envs={env.num_envs}, requested {ctx.num_envs}")
    if bad:
        return [Finding("attributes", FAIL, "; ".join(bad))]
    keys = ("num_envs", "obs_dim", "act_dim", "episode_length", "dtype", "device")
    return [Finding("attributes", PASS, " ".join(f"{k}={getattr(env, k)}" for k in keys))]


def check_render(env: DiffEnv) -> list[Finding]:
    state, ok = env.render_state(), True
    if state is None:
        msg = "None (no drawing state: not a traffic task)"
    else:
        ok = isinstance(state, dict)
        msg = f"dict with keys {sorted(state)}" if ok else f"returned {type(state).__name__}, not a dict or None"
    return [Finding("render_state", PASS if ok else FAIL, msg)]


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
    issue = next((i for i in (_tensor_issue(*spec, env.device) for spec in specs) if i), None)
    if issue is None and info["episode_length"].is_floating_point():
        issue = 'info["episode_length"] must be integer'
    return issue


def check_rollout(env: DiffEnv, ctx: CheckContext, steps: int | None) -> list[Finding]:
    """Reset, then step with random actions through at least one time limit; checks outputs and autoreset."""
    n_steps = steps if steps is not None else min(env.episode_length + 1, 1200)
    obs = env.reset(seed=ctx.seed + 1)  # not the construction seed: a fresh env's generator differs
    issue = _tensor_issue("reset() obs", obs, (env.num_envs, env.obs_dim), env.dtype, env.device)
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
                replay["snaps"][i] = _roundtrip(live)
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
        replay["steps"].append((a, _clone_out(out)))
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


def _clone_out(out: tuple) -> tuple:
    obs, reward, term, trunc, info = out
    info = {k: info[k].detach().clone() for k in INFO_KEYS}
    return obs.detach().clone(), reward.detach().clone(), term.clone(), trunc.clone(), info


def _roundtrip(state: Any) -> Any:
    """Serialise with torch.save and load back with weights_only=True (a deep, checkpoint-safe copy)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _out_diff(expected: tuple, got: tuple) -> str | None:
    names = ("obs", "reward", "terminated", "truncated")
    for name, e, g in zip(names, expected[:4], got[:4]):
        if not torch.equal(e, g):
            return name
    done = expected[2] | expected[3]
    for k in INFO_KEYS:
        e, g = expected[4][k], got[4][k]
        if k != "final_obs":
            e, g = e[done], g[done]
        if not torch.equal(e, g):
            return f'info["{k}"]'
    return None


def check_replay(env: DiffEnv, ctx: CheckContext, replay: dict[str, Any]) -> list[Finding]:
    """Load the snapshot (into a fresh env when a factory is given) and replay: outputs must be identical."""
    if "error" in replay:
        return [Finding("state_dict", FAIL, replay["error"])]
    steps, snaps, last_done = replay.get("steps", []), replay.get("snaps", {}), replay.get("last_done")
    if not snaps or not steps:
        return [Finding("state_dict", SKIP, "the rollout stopped before a snapshot")]
    found = []
    if not _same(_roundtrip(replay["live"][0]), replay["live"][1]):
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
            what = _out_diff(expected, _clone_out(target.step(a)))
        if what:
            msg = f"after load_state_dict into {where} at step {start + 1}, step {k + 1} gave a different {what}"
            return [*found, Finding("state_dict", FAIL, msg)]
    n_end = sum(int((out[2] | out[3]).sum()) for _, out in steps[start:stop])
    ok = f"torch.load(weights_only=True) round trip into {where}: {stop - start} identical steps"
    return found or [Finding("state_dict", PASS, f"{ok} ({n_end} autoresets)")]


def check_detach(env: DiffEnv, ctx: CheckContext) -> list[Finding]:
    """Gradient must reach the previous step's action without detach() and must not reach it after."""
    found = []
    for cut in (False, True):
        env.reset(seed=ctx.seed)
        a1 = ctx.actions(env, bound=0.8).requires_grad_(True)
        env.step(a1)
        if cut:
            env.detach()
        a2 = ctx.actions(env, bound=0.8).requires_grad_(True)
        obs, reward, _, _, info = env.step(a2)
        w = torch.randn(obs.shape, generator=ctx.gen, dtype=torch.float64).to(obs.device, obs.dtype)
        loss = reward.sum() + (info["final_obs"] * w).sum() + (obs * w).sum()
        if not loss.requires_grad:
            return [Finding("detach", FAIL, "reward/obs do not require grad when the action does")]
        loss.backward()
        reached = a1.grad is not None and bool((a1.grad != 0).any())
        if cut and reached:
            found.append(Finding("detach", FAIL, "after detach() a backward still reaches the previous step's action"))
        elif cut:
            found.append(Finding("detach", PASS, "detach() cuts the history: no gradient reaches earlier actions"))
        elif not reached and env.episode_length > 1:
            found.append(Finding("history", FAIL, "without detach() no gradient flows to the previous action"))
        elif reached:
            found.append(Finding("history", PASS, "gradients flow through the carried state across steps"))
        if a2.grad is None or not bool((a2.grad != 0).any()):
            found.append(Finding("action-grad", WARN, "reward/obs have zero gradient w.r.t. the current action"))
    env.detach()
    return found


def check_seed(env: DiffEnv, ctx: CheckContext) -> list[Finding]:
    """Same reset seed -> identical rollouts; the global torch RNG is neither used nor re-seeded."""
    actions = ctx.actions(env, n=3)
    global_rng = torch.get_rng_state()

    def run(target: DiffEnv, seed: int) -> list[Any]:
        outs: list[Any] = [target.reset(seed=seed).detach().clone()]
        with torch.no_grad():
            outs += [_clone_out(target.step(a)) for a in actions]
        return outs

    first, again = run(env, ctx.seed + 7), run(env, ctx.seed + 7)
    if not torch.equal(torch.get_rng_state(), global_rng):
        return [Finding("seed", FAIL, "reset/step used or re-seeded the global torch RNG")]
    if not _same(first, again):
        return [Finding("seed", FAIL, "reset(seed) twice with the same seed gave different rollouts")]
    if ctx.factory is not None and not _same(run(ctx.make(env.num_envs, env.dtype), ctx.seed + 7), first):
        return [Finding("seed", FAIL, "a fresh env reset with the same seed gave a different rollout")]
    varies = not torch.equal(run(env, ctx.seed + 8)[0], first[0])
    how = "seed changes the initial state" if varies else "resets are deterministic (independent of the seed)"
    return [Finding("seed", PASS, f"reset(seed) reproduces rollouts exactly; global RNG untouched; {how}")]


def check_grad(ctx: CheckContext, window: int, n_envs: int, warmup: int, eps: float, rtol: float, max_bad: float):
    """Autograd d(sum_t reward_t + w . final_obs_t)/d action_t vs central finite differences (float64)."""
    check = f"grad-{window}step"
    env = ctx.make64(n_envs)
    if env is None:
        return [Finding(check, SKIP, "needs float64: pass a factory (or a float64 env) to check gradients")]
    env.reset(seed=ctx.seed)
    with torch.no_grad():
        for _ in range(max(0, min(warmup, env.episode_length - window - 1))):
            env.step(ctx.actions(env))
    sd0 = _roundtrip(env.state_dict())
    acts = ctx.actions(env, n=window, bound=0.8)
    w = torch.randn(env.num_envs, env.obs_dim, generator=ctx.gen, dtype=torch.float64).to(env.device)
    w = w / math.sqrt(env.obs_dim)

    def rollout(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env.load_state_dict(sd0)
        env.detach()
        loss, dones = 0.0, []
        for t in range(window):
            _, r, te, tr, info = env.step(a[t])
            loss = loss + r + (info["final_obs"] * w).sum(-1)
            dones.append(te | tr)
        return loss, torch.stack(dones)

    leaf = acts.clone().requires_grad_(True)
    loss, done0 = rollout(leaf)
    loss.sum().backward()
    g = leaf.grad if leaf.grad is not None else torch.zeros_like(acts)
    if not bool(torch.isfinite(g).all()):
        return [Finding(check, FAIL, "autograd gradient has non-finite entries")]
    fd = torch.zeros_like(acts)
    usable = torch.ones_like(acts, dtype=torch.bool)
    with torch.no_grad():
        for t in range(window):
            for j in range(env.act_dim):
                vals = []
                for sign in (1.0, -1.0):
                    a = acts.clone()
                    a[t, :, j] += sign * eps
                    val, dones = rollout(a)
                    usable[t, :, j] &= (dones == done0).all(dim=0)
                    vals.append(val)
                fd[t, :, j] = (vals[0] - vals[1]) / (2.0 * eps)
    env.detach()
    scale = float(fd[usable].abs().max()) if bool(usable.any()) else 0.0
    err = (g - fd).abs()
    tol = rtol * torch.maximum(g.abs(), fd.abs()) + 1e-6 * scale + 1e-10
    bad = (err > tol) & usable
    n_use, n_bad = int(usable.sum()), int(bad.sum())
    if n_use == 0:
        return [Finding(check, WARN, "every finite difference crossed an episode end; nothing compared")]
    rel = err / torch.maximum(torch.maximum(g.abs(), fd.abs()), torch.full_like(err, 1e-12))
    worst = torch.where(usable, rel, torch.zeros_like(rel)).flatten().argmax()
    t, b, j = (int(x) for x in torch.unravel_index(worst, rel.shape))
    detail = (
        f"max rel err {float(rel.flatten()[worst]):.2e} at t={t} env={b} dim={j} "
        f"(autograd {float(g[t, b, j]):.6g}, FD {float(fd[t, b, j]):.6g}); |g|max {float(g.abs().max()):.3g}"
    )
    skipped = f", {acts.numel() - n_use} skipped at episode ends" if n_use < acts.numel() else ""
    summary = f"{n_use - n_bad}/{n_use} entries agree with central FD (eps {eps:g}, rtol {rtol:g}{skipped}); {detail}"
    if scale == 0.0 and float(g.abs().max()) == 0.0:
        return [Finding(check, WARN, "reward and final_obs have zero gradient w.r.t. actions: " + summary)]
    if n_bad > max_bad * n_use:
        return [Finding(check, FAIL, summary)]
    return [Finding(check, WARN if n_bad else PASS, summary)]
