"""The learner base class: networks, optimisers, the per-epoch plumbing, metrics and checkpoints.

A learner subclasses :class:`Learner`, sets ``name`` and implements ``setup()`` (its own optimisers
and state), ``train_epoch()`` (its algorithm, top to bottom, returning a metrics dict) and, if it
has state, ``extra_state()`` / ``load_extra_state()`` (:class:`ActorAdamLearner` does all three for a
learner with one Adam optimiser on the actor). Everything random comes from generators the
learner owns and saves, so same seed => identical metrics and ``state_dict`` => exact resume (CPU).
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from difftraffic.env import DiffEnv, rng_state

from .core.advantages import gae
from .core.config import resolve
from .core.critic import fit_critic, polyak_update
from .core.episodes import EpisodeWindow
from .core.flat import FlatAdam, FlatParams, Snapshot, clip_grad
from .core.networks import ActorStochasticMLP, CriticMLP
from .core.rms import RunningMeanStd
from .core.rollout import Rollout, collect
from .core.schedules import linear_lr

STATE_VERSION = 1


def detect_family(env: DiffEnv) -> tuple[str, str]:
    """(family, task name) of an env: the family it declares (``DiffEnv.family``) and its ``name``."""
    return str(env.family), str(env.name)


def flatten_batch(x: torch.Tensor) -> torch.Tensor:
    """``[H, B, ...] -> [B*H, ...]`` actor-major (all steps of env 0 first), as the reference."""
    return x.transpose(0, 1).reshape(x.shape[0] * x.shape[1], *x.shape[2:])


class Learner:
    """Base of the six learners. See the module docstring; public API in ``learners/__init__.py``."""

    name = "base"

    def __init__(self, env: DiffEnv, config: dict | None = None, seed: int | None = None):
        if not isinstance(env, DiffEnv):
            raise ValueError(f"env: expected a difftraffic DiffEnv, got {type(env).__name__}")
        user = dict(config or {})
        try:
            seed = 0 if seed is None else operator.index(seed)
        except TypeError:
            raise ValueError(f"seed: expected an integer, got {seed!r}") from None
        family, task = detect_family(env)
        explicit_envs = user.get("num_envs")
        self.config = cfg = resolve(self.name, family, task, user)
        if explicit_envs is not None and cfg["num_envs"] != env.num_envs:
            raise ValueError(f"num_envs: config says {cfg['num_envs']} but the env has {env.num_envs}")
        self.env, self.seed = env, int(seed)
        self.device, self.dtype = torch.device(env.device), env.dtype
        self.horizon, self.num_envs = cfg["horizon"], env.num_envs
        self.gamma, self.lam = cfg["gamma"], cfg["lam"]

        init_gen = torch.Generator().manual_seed(self.seed)  # CPU: the same init on every device
        self.gen = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        self.act_gen = torch.Generator(device=self.device).manual_seed(self.seed + 2)
        self.actor = self._place(
            ActorStochasticMLP(
                env.obs_dim, env.act_dim, cfg["actor_hidden"], cfg["activation"], generator=init_gen, dtype=self.dtype
            )
        )
        self.critic = self._place(
            CriticMLP(env.obs_dim, cfg["critic_hidden"], cfg["activation"], generator=init_gen, dtype=self.dtype)
        )
        self.target_critic = self._place(
            CriticMLP(env.obs_dim, cfg["critic_hidden"], cfg["activation"], generator=init_gen, dtype=self.dtype)
        )
        self.actor_flat = FlatParams(self.actor)
        self.critic_flat = FlatParams(self.critic)
        self.target_flat = FlatParams(self.target_critic)
        self.target_flat.copy_(self.critic_flat.data)
        for p in self.target_flat.params:
            p.requires_grad_(False)
        self.critic_opt = FlatAdam(self.critic_flat, cfg["critic_lr"], cfg["critic_betas"])
        rms_args = {"device": self.device, "dtype": self.dtype}
        self.obs_rms = RunningMeanStd((env.obs_dim,), **rms_args) if cfg["normalize_obs"] else None
        self.value_rms = RunningMeanStd((), **rms_args) if cfg["normalize_value"] else None
        self.window = EpisodeWindow(cfg["episode_window"])
        self.epoch = 0
        self.env_steps = 0
        self.nan_skips = 0
        self.obs = env.reset().detach()
        self._check_obs(self.obs, "env.reset()")
        self.setup()

    # ------------------------------------------------------------------ subclass hooks
    def setup(self) -> None:
        """Create the learner's optimisers and state."""

    def train_epoch(self) -> dict[str, float]:
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    # ------------------------------------------------------------------ public API
    def train(self, epochs: int) -> Iterator[dict[str, float]]:
        """Train until ``self.epoch == epochs`` (a total), yielding one metrics dict per epoch."""
        if self.config["num_threads"]:
            torch.set_num_threads(int(self.config["num_threads"]))
        while self.epoch < int(epochs):
            start = time.perf_counter()
            self.begin_epoch()
            metrics = self.train_epoch()
            self.epoch += 1
            self.env_steps += self.horizon * self.num_envs
            self._sync()
            wall = time.perf_counter() - start
            out = {
                "epoch": self.epoch,
                "env_steps": self.env_steps,
                "charts/episode_return": self.window.mean_return(),
                "charts/episode_length": self.window.mean_length(),
                "charts/episodes": self.window.finished,
                "charts/SPS": self.horizon * self.num_envs / max(wall, 1e-9),
                "grad/critic_lr": self.critic_opt.lr,
                "health/nan_skips": self.nan_skips,
            }
            out.update(metrics)
            out.update(self.timers)
            out["time/epoch"] = wall
            yield out

    def begin_epoch(self) -> None:
        """Per-epoch set-up before ``train_epoch``: timers, frozen normalisers, the critic lr schedule."""
        self.timers = dict.fromkeys(("time/fwd_sim", "time/bwd_sim", "time/actor_update", "time/critic_update"), 0.0)
        self.frozen_obs_rms = self.obs_rms.frozen() if self.obs_rms is not None else None
        self.frozen_value_rms = self.value_rms.frozen() if self.value_rms is not None else None
        if self.config["critic_lr_schedule"] == "linear":
            self.critic_opt.lr = linear_lr(
                self.config["critic_lr"], self.epoch, self.config["max_epochs"], self.config["min_lr"]
            )

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Raw observations ``[B, obs_dim]`` -> actions in [-1, 1] (tanh of the pre-tanh Gaussian)."""
        if obs.dim() != 2 or obs.shape[1] != self.env.obs_dim:
            raise ValueError(f"act: obs must be [B, {self.env.obs_dim}], got {list(obs.shape)}")
        obs = obs.to(self.device, self.dtype)
        nobs = self.obs_rms.normalize(obs) if self.obs_rms is not None else obs
        mu, logstd = self.actor(nobs)
        if deterministic:
            return torch.tanh(mu)
        eps = torch.randn(mu.shape, generator=self.act_gen, device=mu.device, dtype=mu.dtype)
        return torch.tanh(mu + torch.exp(logstd) * eps)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed for exact continuation (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "version": STATE_VERSION,
            "learner": self.name,
            "config": dict(self.config),
            "actor": self.actor_flat.clone(),
            "critic": self.critic_flat.clone(),
            "target_critic": self.target_flat.clone(),
            "critic_opt": self.critic_opt.state_dict(),
            "obs_rms": self.obs_rms.state_dict() if self.obs_rms is not None else None,
            "value_rms": self.value_rms.state_dict() if self.value_rms is not None else None,
            "gen": rng_state(self.gen),
            "act_gen": rng_state(self.act_gen),
            "window": self.window.state_dict(),
            "epoch": self.epoch,
            "env_steps": self.env_steps,
            "nan_skips": self.nan_skips,
            "env": self.env.state_dict(),
            "obs": self.obs.clone(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("learner") != self.name:
            raise ValueError(f"state is for learner {state.get('learner')!r}, not {self.name!r}")
        nets = (("actor", self.actor_flat), ("critic", self.critic_flat), ("target_critic", self.target_flat))
        for key, flat in nets:
            if tuple(state[key].shape) != tuple(flat.data.shape):
                raise ValueError(f"{key}: state has {state[key].numel()} parameters, the learner {flat.numel}")
            flat.copy_(state[key].to(flat.data.device, flat.data.dtype))
        self.critic_opt.load_state_dict(state["critic_opt"])
        for key, rms in (("obs_rms", self.obs_rms), ("value_rms", self.value_rms)):
            if (state[key] is None) != (rms is None):
                raise ValueError(f"{key}: the state and the learner's config disagree on normalisation")
            if rms is not None:
                rms.load_state_dict(state[key])
        self.gen.set_state(state["gen"].cpu())
        self.act_gen.set_state(state["act_gen"].cpu())
        self.window.load_state_dict(state["window"])
        self.epoch = int(state["epoch"])
        self.env_steps = int(state["env_steps"])
        self.nan_skips = int(state["nan_skips"])
        self.env.load_state_dict(state["env"])
        self.obs = state["obs"].to(self.device, self.dtype).clone()
        self.load_extra_state(state["extra"])

    # ------------------------------------------------------------------ plumbing for subclasses
    def _place(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(self.device)

    def _check_obs(self, obs: torch.Tensor, where: str) -> None:
        if obs.shape != (self.env.num_envs, self.env.obs_dim):
            raise ValueError(f"{where}: obs must be [{self.env.num_envs}, {self.env.obs_dim}], got {list(obs.shape)}")

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def timer(self, key: str):
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.timers[key] = self.timers.get(key, 0.0) + time.perf_counter() - t0

    def actor_fn(self, nobs: torch.Tensor, with_params: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor for rollouts; ``with_params=False`` keeps the parameters out of the graph."""
        if with_params:
            return self.actor(nobs)
        with self.params_frozen(self.actor_flat):
            return self.actor(nobs)

    @contextmanager
    def params_frozen(self, flat: FlatParams):
        for p in flat.params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in flat.params:
                p.requires_grad_(True)

    def value_fn(self, nobs: torch.Tensor) -> torch.Tensor:
        """Target critic in raw return units (frozen value normaliser of this epoch)."""
        v = self.target_critic(nobs)
        return self.frozen_value_rms.denormalize(v) if self.frozen_value_rms is not None else v

    def collect(self, graph: str) -> Rollout:
        """Roll out one window; updates the observation statistics, the episode window, the carried obs."""
        with self.timer("time/fwd_sim"):
            ro = collect(
                self.env,
                self.obs,
                self.actor_fn,
                self.value_fn,
                self.frozen_obs_rms,
                self.horizon,
                self.gen,
                graph=graph,
                invalid_obs=self.config["invalid_obs"],
            )
        if self.obs_rms is not None:
            raw = ro.raw_obs.reshape(-1, ro.raw_obs.shape[-1])
            self.obs_rms.update(raw, mask=torch.isfinite(raw).all(-1))
        self.window.add(ro.done, ro.episode_return, ro.episode_length)
        self.obs = ro.last_obs
        return ro

    def advantages(self, ro: Rollout, lam: float, graph: bool = False) -> torch.Tensor:
        """GAE ``[H, B]`` with this lambda (detached unless ``graph``)."""
        if graph:
            return gae(ro.rewards, ro.values, ro.next_values, ro.done, self.gamma, lam)
        return gae(ro.rewards.detach(), ro.values.detach(), ro.next_values.detach(), ro.done, self.gamma, lam)

    @staticmethod
    def normalise(adv: torch.Tensor) -> torch.Tensor:
        return (adv - adv.mean()) / (adv.std() + 1e-8)

    def update_critic(self, ro: Rollout, adv: torch.Tensor) -> dict[str, float]:
        """Fit the critic to A + V_target (A: GAE with the common lambda), then the Polyak update."""
        cfg = self.config
        with self.timer("time/critic_update"):
            targets = flatten_batch(adv.detach() + ro.values.detach())
            obs = flatten_batch(ro.obs)
            if self.value_rms is not None:
                self.value_rms.update(targets, mask=torch.isfinite(targets))
            snap = self.snapshot([self.critic_flat], [self.critic_opt])
            loss = fit_critic(
                self.critic,
                self.critic_flat,
                self.critic_opt,
                obs,
                targets,
                self.value_rms,
                cfg["critic_iterations"],
                cfg["critic_num_batch"],
                cfg["grad_norm"],
            )
            ok = self.guard_ok(snap, [loss], [self.critic_flat])
            if ok:
                polyak_update(self.target_flat, self.critic_flat, cfg["target_critic_alpha"])
        return {"losses/critic": float(loss) if ok else math.nan}

    def snapshot(self, flats, optims) -> Snapshot | None:
        return Snapshot(flats, optims) if self.config["nan_guard"] else None

    def guard_ok(self, snap: Snapshot | None, values: list[torch.Tensor], flats: list[FlatParams]) -> bool:
        """True if ``values`` and the parameters are finite; else restore ``snap`` and count a skip."""
        if snap is None:
            return True
        finite = torch.stack([torch.isfinite(v).all() for v in values] + [torch.isfinite(f.data).all() for f in flats])
        if bool(finite.all()):
            return True
        snap.restore()
        self.nan_skips += 1
        return False

    def gradient_step(self, optim: FlatAdam, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip a flat actor gradient and take an Adam step; returns the norms before/after clipping."""
        clipped, before, after = clip_grad(grad, self.config["grad_norm"])
        optim.step(clipped)
        return before, after

    def actor_lr(self) -> float:
        """The actor lr of this epoch (linear decay to ``min_lr`` if ``actor_lr_schedule`` is linear)."""
        cfg = self.config
        if cfg.get("actor_lr_schedule", "constant") == "linear":
            return linear_lr(cfg["actor_lr"], self.epoch, cfg["max_epochs"], cfg["min_lr"])
        return cfg["actor_lr"]


class ActorAdamLearner(Learner):
    """A learner whose actor has one Adam optimiser ``actor_opt`` (``actor_lr``, ``actor_betas``), checkpointed."""

    def setup(self) -> None:
        self.actor_opt = FlatAdam(self.actor_flat, self.config["actor_lr"], self.config["actor_betas"])

    def extra_state(self) -> dict[str, Any]:
        return {"actor_opt": self.actor_opt.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.actor_opt.load_state_dict(state["actor_opt"])
