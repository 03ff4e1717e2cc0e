"""Usable cores: the affinity mask, lowered to a cgroup CPU quota read from (a copy of) /proc and /sys."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from routemate.backends.cpus import cgroup_quota, physical_cores, usable_cores


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cgroup_v2_quota_is_the_tightest_along_the_path(tmp_path):
    root = tree(tmp_path, {"proc/self/cgroup": "0::/user.slice/app.scope\n",
                           "sys/fs/cgroup/cpu.max": "max 100000\n",
                           "sys/fs/cgroup/user.slice/cpu.max": "150000 100000\n",
                           "sys/fs/cgroup/user.slice/app.scope/cpu.max": "max 100000\n"})
    assert cgroup_quota(root) == 1.5
    assert usable_cores(root) == 1          # half a core is not a core for a busy thread


def test_cgroup_v1_quota_and_no_quota(tmp_path):
    root = tree(tmp_path / "a", {"proc/self/cgroup": "5:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n",
                                 "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
                                 "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"})
    assert cgroup_quota(root) == 3.0
    unlimited = tree(tmp_path / "b", {"proc/self/cgroup": "1:cpu:/\n", "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
                                      "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"})
    assert cgroup_quota(unlimited) is None
    assert cgroup_quota(tmp_path / "nothing") is None


def test_quota_never_raises_the_affinity_count(tmp_path):
    root = tree(tmp_path, {"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "6400000 100000\n"})
    assert usable_cores(root) == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_process_pinned_to_one_core_uses_one():
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " \
           "from routemate.backends.cpus import usable_cores; print(usable_cores())"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "1"


def test_smt_siblings_count_as_one_core(tmp_path):
    topology = {f"sys/devices/system/cpu/cpu{cpu}/topology/{name}": value
                for cpu, core in ((0, 0), (1, 0), (2, 1), (3, 1))
                for name, value in (("core_id", f"{core}\n"), ("physical_package_id", "0\n"))}
    root = tree(tmp_path, topology)
    assert physical_cores([0, 1, 2, 3], root) == 2
    assert physical_cores([0, 2], root) == 2 and physical_cores([0, 1], root) == 1
    assert physical_cores([7, 8], tmp_path / "unknown") == 2      # no topology: every CPU counts


def test_the_engine_leaves_one_core_for_the_rest_of_the_machine():
    from routemate.backends.embedded import default_threads

    assert default_threads() == max(1, usable_cores() - 1)
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " \
           "from routemate.backends.embedded import default_threads; print(default_threads())"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "1"
