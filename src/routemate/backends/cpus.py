"""How many CPU cores this process may really use: its affinity mask and its cgroup's CPU quota.

``os.cpu_count()`` counts the machine's cores, not the ones a container, ``taskset`` or a cgroup
quota leaves us; an engine that starts more busy threads than that spends its time waiting for them.
"""

from __future__ import annotations

import os
from pathlib import Path


def usable_cores(root: Path = Path("/")) -> int:
    """Physical cores in the affinity mask (SMT siblings count once: they share one core's arithmetic
    units), lowered to the cgroup CPU quota (cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``, the
    tightest along the hierarchy), at least 1."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):       # not Linux
        cpus = list(range(os.cpu_count() or 1))
    cores = physical_cores(cpus, root)
    quota = cgroup_quota(root)
    if quota is not None:
        cores = min(cores, int(quota))      # a fraction of a core left over is not a core for a busy thread
    return max(1, cores)


def physical_cores(cpus: list[int], root: Path = Path("/")) -> int:
    """How many distinct physical cores the logical ``cpus`` are (all of them when the topology is unknown)."""
    seen = set()
    for cpu in cpus:
        topology = root / f"sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            seen.add(((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()))
        except OSError:
            seen.add(("cpu", str(cpu)))
    return len(seen)


def cgroup_quota(root: Path = Path("/")) -> float | None:
    """The CPU quota of this process's cgroup in cores (quota / period), or None when unlimited."""
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":                                    # cgroup v2: "0::/user.slice/..."
            limits += _walk(root / "sys/fs/cgroup", path, _v2)
        elif "cpu" in controllers.split(","):                    # cgroup v1: "4:cpu,cpuacct:/docker/..."
            for mount in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
                base = root / "sys/fs/cgroup" / mount
                if base.is_dir():
                    limits += _walk(base, path, _v1)
                    break
    return min(limits) if limits else None


def _walk(base: Path, path: str, read) -> list[float]:  # type: ignore[no-untyped-def]
    """Quotas of the cgroup and its ancestors that are visible under ``base`` (a container often
    sees its own cgroup as the root of the mount)."""
    out = []
    parts = [p for p in path.strip("/").split("/") if p]
    for depth in range(len(parts), -1, -1):
        limit = read(base.joinpath(*parts[:depth]))
        if limit is not None:
            out.append(limit)
    return out


def _v2(d: Path) -> float | None:
    try:
        quota, period = (d / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1(d: Path) -> float | None:
    try:
        quota = int((d / "cpu.cfs_quota_us").read_text())
        period = int((d / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period
