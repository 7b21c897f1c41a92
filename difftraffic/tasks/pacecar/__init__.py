"""The pace-car task: the env (``task.PaceCarEnv``), its configuration and reset layout (``layout``), the packed
state (``state``), the batched step (``dynamics``), observation/reward/termination (``rules``) and the
compiled-step fast path (``compiled``)."""
