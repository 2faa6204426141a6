"""Where each worker runs: its GPU (through ``CUDA_VISIBLE_DEVICES``) and its CPU threads.

A worker placed on a GPU sees only that GPU, as ``cuda:0``, so the trainer's ``device: auto``
needs no knowledge of the others. Threads come from the CPUs this process may use (its affinity
and its cgroup quota, as SLURM and Kubernetes set them), not from ``os.cpu_count()``, which
counts the whole machine.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ablate.errors import AblateError


@dataclass(frozen=True)
class Placement:
    label: str  # "cpu" or "gpu 3"
    threads: int
    env: dict[str, str] = field(default_factory=dict)


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(n, quota) if quota else n)


def _cgroup_quota() -> int | None:
    """``cpu.max`` (cgroup v2) or ``cfs_quota_us / cfs_period_us`` (v1), rounded up."""
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else math.ceil(int(quota) / int(period))
        q = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        p = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if q.exists() and p.exists():
            quota, period = int(q.read_text()), int(p.read_text())
            return None if quota <= 0 else math.ceil(quota / period)
    except (OSError, ValueError):
        return None
    return None


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ids for ``CUDA_VISIBLE_DEVICES``."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001  (no driver, no torch CUDA build: no GPU)
        return []


def parse_gpus(text: str | None) -> list[str] | None:
    """``--gpus``: ``all`` / unset (every visible GPU), ``none`` (CPU only), or ``0,1,3``."""
    if text is None or text.strip() == "all":
        return None
    if text.strip() in ("none", ""):
        return []
    ids = [g.strip() for g in text.split(",")]
    if not all(g.isdigit() or (g.startswith("GPU-") or g.startswith("MIG-")) for g in ids):
        raise AblateError(f"--gpus expects all, none or a list such as 0,1,3; got {text!r}")
    if len(set(ids)) != len(ids):
        raise AblateError(f"--gpus lists a GPU twice: {text!r}")
    return ids


def chosen_gpus(device: str, gpus: list[str] | None) -> list[str]:
    """The GPUs a sweep trains on: none for ``train.device: cpu``; every visible one by
    default; ``--gpus`` checked against the visible ones."""
    if device == "cpu":
        return []
    visible = visible_gpus()
    if gpus is None:
        return visible
    missing = [g for g in gpus if g not in visible]
    if missing and visible != [] or (gpus and not visible):
        raise AblateError(
            f"--gpus {','.join(gpus)}: not visible here (visible: {','.join(visible) or 'none'})"
        )
    return gpus


def placements(
    workers: int | None,
    gpus: list[str],
    workers_per_gpu: int | None = None,
    cpus: int | None = None,
) -> list[Placement]:
    """One placement per worker.

    With GPUs: ``workers_per_gpu`` workers on each (default 1), or ``workers`` spread over
    them in turn. Without: ``workers`` CPU workers (default 1). Threads: the usable CPUs shared
    out evenly, at least one each.
    """
    cpus = cpus or usable_cpus()
    if workers is not None and workers < 1:
        raise AblateError("--workers must be at least 1")
    if workers_per_gpu is not None and workers_per_gpu < 1:
        raise AblateError("--workers-per-gpu must be at least 1")
    if gpus:
        if workers is not None and workers_per_gpu is not None:
            if workers != workers_per_gpu * len(gpus):
                raise AblateError(
                    f"--workers {workers} does not match --workers-per-gpu {workers_per_gpu} "
                    f"x {len(gpus)} GPUs; give one of them"
                )
        n = workers if workers is not None else (workers_per_gpu or 1) * len(gpus)
        devices = [gpus[i % len(gpus)] for i in range(n)]
        threads = max(1, cpus // n)
        return [
            Placement(f"gpu {g}", threads, {"CUDA_VISIBLE_DEVICES": g, **_threads_env(threads)})
            for g in devices
        ]
    if workers_per_gpu is not None:
        raise AblateError("--workers-per-gpu needs GPUs, and none is visible (or --gpus none)")
    n = workers or 1
    threads = max(1, cpus // n)
    # An empty CUDA_VISIBLE_DEVICES keeps a CPU worker off any GPU the machine may have.
    env = {"CUDA_VISIBLE_DEVICES": ""} if gpus == [] else {}
    return [Placement("cpu", threads, {**env, **_threads_env(threads)}) for _ in range(n)]


def _threads_env(threads: int) -> dict[str, str]:
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
