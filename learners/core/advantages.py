"""GAE / TD(lambda) and the single-backward gradient of advantages w.r.t. actions (docs/reference.md §A4, §A5).

Conventions, all ``[H, B]`` (time-major): ``done[t]`` = the episode ended at step t (terminated or
truncated); ``next_values[t]`` = V(s_{t+1}) evaluated on the pre-reset observation and already zeroed
where the episode terminated (true end) or the observation was invalid; ``starts[t]`` = step t begins a
differentiable segment (t = 0, or the env was reset after step t-1).
"""

from __future__ import annotations

import torch


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalised advantage estimates ``[H, B]`` (differentiable if the inputs are).

    delta_t = r_t + gamma * V'_{t+1} - V_t;  A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}.
    ``1 - done`` multiplies only the recursion, never gamma*V' (a truncated episode bootstraps from
    V'; a terminated one has V' = 0 already). A + values is the TD(lambda) return.
    """
    assert rewards.shape == values.shape == next_values.shape == done.shape, "gae: shapes differ"
    delta = rewards + gamma * next_values - values
    carry = (gamma * lam) * (~done).to(rewards.dtype)
    out = [None] * rewards.shape[0]
    last = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        last = delta[t] + carry[t] * last
        out[t] = last
    return torch.stack(out)


def segment_starts(done: torch.Tensor) -> torch.Tensor:
    """``starts[t] = (t == 0) or done[t-1]``: where a differentiable segment begins ``[H, B]``."""
    starts = torch.zeros_like(done)
    starts[0] = True
    starts[1:] = done[:-1]
    return starts


def steps_since_start(starts: torch.Tensor) -> torch.Tensor:
    """For each (t, b): t minus the most recent segment start at or before t (long ``[H, B]``)."""
    t = torch.arange(starts.shape[0], device=starts.device).unsqueeze(1).expand_as(starts)
    last_start = torch.where(starts, t, torch.zeros_like(t)).cummax(dim=0).values
    return t - last_start


def advantage_action_grads(
    advantages: torch.Tensor,
    starts: torch.Tensor,
    actions: list[torch.Tensor],
    gamma: float,
    lam: float,
    retain_graph: bool = False,
) -> torch.Tensor:
    """dA_t/da_t for every (t, b) from ONE backward pass (paper eq. 15, §A5).

    S = sum over segment starts s of A_s. Since A_s = sum_k (gamma lam)^k delta_{s+k} and delta_{t'}
    for t' < t does not depend on a_t, dS/da_t = (gamma lam)^(t-s) dA_t/da_t for the segment start s
    of (t, b); multiply back by (1/(gamma lam))^(t-s). ``actions`` are the H pre-tanh action tensors
    ``[B, A]`` used in the rollout graph. Returns a detached ``[H, B, A]`` tensor.
    """
    if gamma * lam <= 0:
        raise ValueError("gamma * lam must be > 0 for the single-backward dA/da trick")
    total = (advantages * starts.to(advantages.dtype)).sum()
    if total.requires_grad:
        grads = torch.autograd.grad(total, actions, allow_unused=True, retain_graph=retain_graph)
    else:  # nothing in the window depends on the actions
        grads = [None] * len(actions)
    g = torch.stack([torch.zeros_like(a) if gr is None else gr for gr, a in zip(grads, actions)])
    scale = (1.0 / (gamma * lam)) ** steps_since_start(starts).to(g.dtype)
    return (g * scale.unsqueeze(-1)).detach()
