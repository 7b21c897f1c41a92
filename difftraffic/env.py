"""DiffEnv: the one interface every task implements (traffic, function optimisation, physics).

Every learner in `learners` talks to a task only through this class, so a user's own
differentiable environment trains with no glue beyond subclassing it.

Contract (shapes use B = num_envs):

* attributes ``num_envs``, ``obs_dim``, ``act_dim``, ``episode_length`` (steps),
  ``device`` (torch.device) and ``dtype`` (torch.float32 or torch.float64).
* ``family`` (class attribute): the task family whose learner config defaults apply, one of
  ``difftraffic.registry.FAMILIES``: "functions", "physics", "traffic" or (the default, a user's own task)
  "generic". Together with ``name`` it selects the defaults in ``learners/configs/*.yaml``.
* ``reset(seed=None) -> obs``: resets every env; ``obs`` is ``[B, obs_dim]``. A seed re-seeds the
  env's own generator (never the global torch RNG).
* ``step(action) -> (obs, reward, terminated, truncated, info)``:
  ``action`` is ``[B, act_dim]`` in [-1, 1] (learners squash with tanh; the env clips and scales
  to physical units). ``obs`` ``[B, obs_dim]`` and ``reward`` ``[B]`` are differentiable w.r.t.
  ``action`` and w.r.t. the carried state since the last ``detach()``. ``terminated`` and
  ``truncated`` are bool ``[B]``: terminated = a true end (failure/success, no bootstrap),
  truncated = the time limit (bootstrap from ``final_obs``). Both may not be true at once;
  termination wins.
  Same-step autoreset: ended envs are reset inside ``step``; the returned ``obs`` is the new
  episode's first observation there, and ``info["final_obs"]`` ``[B, obs_dim]`` holds the
  pre-reset observation (differentiable; equal to ``obs`` where nothing ended).
  ``info["episode_return"]`` and ``info["episode_length"]`` ``[B]`` are valid where an episode
  ended (undiscounted return of the finished episode, its length in steps).
* ``detach()``: cut the autograd history of the internal state (start of a truncated-BPTT window).
* ``state_dict()`` / ``load_state_dict(sd)``: the full state incl. RNG, so a checkpoint restores
  the exact future trajectory. Values are tensors, numbers, strings or nested dicts/lists of them
  (loadable with ``torch.load(weights_only=True)``), and tensors are copies, never views of live state
  (stepping after ``state_dict()`` must not change what it returned).
* ``render_state()`` (traffic tasks): what the recorder and viewer need for the current step; other
  tasks return ``None``.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

StepResult = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]


class DiffEnv(abc.ABC):
    """Abstract base of every batched differentiable task. See the module docstring for the contract."""

    num_envs: int
    obs_dim: int
    act_dim: int
    episode_length: int
    device: torch.device
    dtype: torch.dtype
    family: str = "generic"
    """Task family for learner config defaults (see the module docstring)."""

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Reset every env and return the first observation ``[num_envs, obs_dim]``."""

    @abc.abstractmethod
    def step(self, action: torch.Tensor) -> StepResult:
        """Advance every env by one step; see the module docstring for the outputs."""

    @abc.abstractmethod
    def detach(self) -> None:
        """Cut the autograd history of the internal state."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Full state (including RNG) for checkpoints and exact replay."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict`."""

    def render_state(self) -> dict[str, Any] | None:
        """Per-step drawing state for the recorder/viewer (traffic tasks); ``None`` otherwise."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most tasks hold no external resources
        """Release external resources (MuJoCo data, files). Optional."""

    @property
    def name(self) -> str:
        """Short task name used in run directories and logs."""
        return type(self).__name__


def same_device(a: torch.device, b: torch.device) -> bool:
    """True when ``a`` and ``b`` name one device: ``cuda`` without an index is the current CUDA device
    (a tensor's ``.device`` always has the index, ``torch.device("cuda")`` does not, and they compare unequal)."""
    if a == b:
        return True
    if a.type != b.type or a.type != "cuda":
        return False
    current = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return (current if a.index is None else a.index) == (current if b.index is None else b.index)


def check_action(env: DiffEnv, action: torch.Tensor) -> torch.Tensor:
    """Assert ``action`` is ``[num_envs, act_dim]`` on the env's device; cast it to the env's dtype."""
    if action.shape != (env.num_envs, env.act_dim):
        raise ValueError(
            f"{env.name}: action must have shape [{env.num_envs}, {env.act_dim}], got {list(action.shape)}"
        )
    if not same_device(action.device, env.device):
        raise ValueError(f"{env.name}: action is on {action.device}, env is on {env.device}")
    return action.to(env.dtype)


def rng_state(gen: torch.Generator) -> torch.Tensor:
    """The state of a torch.Generator as a uint8 tensor on the CPU (checkpoint-safe)."""
    return gen.get_state().clone()


def make_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (a fresh non-deterministic seed when None)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


class AutoresetBookkeeping:
    """Running episode return/length counters shared by tasks (``[num_envs]`` tensors).

    ``update(reward, done)`` adds this step's reward (detached), returns the finished episodes'
    returns and lengths (valid where ``done``), and zeroes the counters of ended envs.
    """

    def __init__(self, num_envs: int, device: torch.device, dtype: torch.dtype):
        self.ret = torch.zeros(num_envs, device=device, dtype=dtype)
        self.length = torch.zeros(num_envs, device=device, dtype=torch.long)

    def update(self, reward: torch.Tensor, done: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.ret = self.ret + reward.detach()
        self.length = self.length + 1
        ep_ret, ep_len = self.ret.clone(), self.length.clone()
        self.ret = torch.where(done, torch.zeros_like(self.ret), self.ret)
        self.length = torch.where(done, torch.zeros_like(self.length), self.length)
        return ep_ret, ep_len

    def reset(self) -> None:
        self.ret.zero_()
        self.length.zero_()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"ret": self.ret.clone(), "length": self.length.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.ret = state["ret"].to(self.ret.device, self.ret.dtype).clone()
        self.length = state["length"].to(self.length.device).clone()
