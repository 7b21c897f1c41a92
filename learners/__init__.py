"""Policy learners (LR, RP, LR+RP, PPO, PE, GI-PPO) on the common DiffEnv interface."""

from .tasks import TASK_NAMES, make_task

__all__ = ["TASK_NAMES", "make_task"]
