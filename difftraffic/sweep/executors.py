"""Where sweep jobs run: a Ray cluster (local or ``--address``) or a local process pool.

Every job is a ``python -m difftraffic run ...`` subprocess in its own session (so a Ctrl-C in the
terminal reaches only the sweep, which then sends each job exactly one SIGTERM), with its output appended
to the job's log file. On Linux the job also gets SIGTERM if the process that started it dies, so an
abandoned job checkpoints and exits instead of running on unsupervised.

Both executors offer ``submit(key, args, log)``, ``poll(timeout) -> [(key, exit_code, error)]``,
``stop()`` (SIGTERM to every running job: it finishes its epoch, checkpoints and exits 143; a second call
makes the jobs abort the epoch, keeping their last checkpoint) and ``close()``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

CPU_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def job_command(args: list[str]) -> list[str]:
    """The full command line of a job: this interpreter running ``difftraffic args...``."""
    return [sys.executable, "-m", "difftraffic", *args]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in CPU_THREAD_VARS:  # one CPU per job: no BLAS/OpenMP thread pools beyond torch's 1 thread
        env.setdefault(var, "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _load_prctl():
    """libc's prctl, resolved here in the parent: the child (between fork and exec) must not load libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).prctl
        fn.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
        return fn
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec: a single system call
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def start_process(args: list[str], log: str | Path, cwd: str | None) -> subprocess.Popen:
    """Start one job, its stdout and stderr appended to ``log`` after a header line."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = job_command(args)
    with open(log, "ab") as fh:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        fh.write(f"=== {stamp} pid {os.getpid()} on {os.uname().nodename}: {shlex.join(cmd)}\n".encode())
        fh.flush()
        return subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd if cwd and os.path.isdir(cwd) else None,
            env=_child_env(),
            start_new_session=True,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )


def run_job(args: list[str], log: str, cwd: str | None) -> int:
    """Run one job to its end and return its exit code (the body of a Ray task).

    ``ray.cancel`` raises KeyboardInterrupt here: the job gets SIGTERM and we keep waiting for its exit."""
    proc = start_process(args, log, cwd)
    while True:
        try:
            return proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)


class LocalPool:
    """Jobs as child processes of this process."""

    def __init__(self, cwd: str, concurrency: int):
        self.cwd = cwd
        self.concurrency = concurrency
        self.procs: dict[int, subprocess.Popen] = {}
        self.description = f"a local process pool ({concurrency} at a time)"

    def submit(self, key: int, args: list[str], log: Path) -> None:
        self.procs[key] = start_process(args, log, self.cwd)

    def poll(self, timeout: float) -> list[tuple[int, int | None, str | None]]:
        deadline = time.monotonic() + timeout
        while True:
            done = [(k, p.returncode) for k, p in self.procs.items() if p.poll() is not None]
            if done or time.monotonic() >= deadline or not self.procs:
                for k, _ in done:
                    del self.procs[k]
                return [(k, rc, None) for k, rc in done]
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    def close(self) -> None:
        self.stop()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
        self.procs.clear()


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _cpus(n: int) -> str:
    return f"{n} CPU" if n == 1 else f"{n} CPUs"


class RayPool:
    """Jobs as Ray tasks (one CPU each) that each run the job's subprocess on some node of the cluster."""

    def __init__(self, cwd: str, concurrency: int | None, address: str | None, gpus_per_job: float):
        import logging

        import ray

        self.ray = ray
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            where = f"the Ray cluster at {address} ({_cpus(cpus)})"
        else:
            cpus = concurrency or os.cpu_count() or 1
            gpus = None if gpus_per_job else 0
            ray.init(
                num_cpus=cpus,
                num_gpus=gpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
            where = f"a local Ray cluster ({_cpus(cpus)})"
        self.concurrency = max(1, concurrency or cpus)
        self.description = f"{where}, {self.concurrency} at a time"
        self.cwd = cwd
        self.task = ray.remote(num_cpus=1, num_gpus=gpus_per_job, max_retries=0)(run_job)
        self.refs: dict[object, int] = {}

    def submit(self, key: int, args: list[str], log: Path) -> None:
        self.refs[self.task.remote(args, str(log), self.cwd)] = key

    def poll(self, timeout: float) -> list[tuple[int, int | None, str | None]]:
        if not self.refs:
            time.sleep(timeout)
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=0)
        out = []
        for ref in ready:
            key = self.refs.pop(ref)
            try:
                out.append((key, int(self.ray.get(ref)), None))
            except self.ray.exceptions.TaskCancelledError:
                out.append((key, None, None))  # cancelled before it started
            except self.ray.exceptions.RayError as exc:
                out.append((key, None, " ".join(str(exc).split())[:300]))
        return out

    def stop(self) -> None:
        for ref in list(self.refs):
            self.ray.cancel(ref, force=False)

    def close(self) -> None:
        if self.refs:
            self.stop()
            with contextlib.suppress(Exception):
                self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=60)
        self.refs.clear()
        self.ray.shutdown()
