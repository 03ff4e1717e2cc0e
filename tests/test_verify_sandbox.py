"""Each hostile snippet is contained and bounded; ordinary code runs and reports how it ended."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from routemate.verify.sandbox import SandboxResult, _run, layers, run_python


def test_ordinary_code_runs_and_reports_its_output() -> None:
    r = run_python("import sys\nprint('hello')\nprint('warn', file=sys.stderr)")
    assert isinstance(r, SandboxResult)
    assert r.ok and r.returncode == 0 and r.limit is None and not r.timed_out
    assert r.stdout == "hello\n" and r.stderr == "warn\n"
    assert 0 < r.duration_s < 5


def test_failing_code_is_not_ok_and_the_traceback_starts_at_the_code() -> None:
    r = run_python("def f():\n    return 1 / 0\nf()\n")
    assert not r.ok and r.returncode == 1 and r.limit is None
    assert 'File "main.py", line 2, in f' in r.stderr
    assert "ZeroDivisionError" in r.stderr
    assert "<string>" not in r.stderr     # the bootstrap stays out of the traceback


def test_exit_code_is_passed_through() -> None:
    r = run_python("import sys\nsys.exit(3)")
    assert not r.ok and r.returncode == 3 and r.limit is None


def test_files_sit_beside_the_code_and_are_importable() -> None:
    r = run_python("from solution import add\nfrom pkg.data import N\nprint(add(2, 3) + N)",
                   files={"solution.py": "def add(a, b):\n    return a + b\n", "pkg/data.py": "N = 10\n"})
    assert r.ok, r.stderr
    assert r.stdout.strip() == "15"


@pytest.mark.parametrize("name", ["/etc/x.py", "../x.py", "a/../../x.py", "main.py"])
def test_file_names_outside_the_dir_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        run_python("pass", files={name: "x = 1"})


def test_working_dir_is_removed_afterwards() -> None:
    r = run_python("import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())")
    assert r.ok, r.stderr
    assert not Path(r.stdout.strip()).exists()


def test_environment_is_minimal_so_secrets_do_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-should-not-leak")
    r = run_python("import os\nprint(sorted(os.environ))")
    assert r.ok, r.stderr
    assert "OPENAI_API_KEY" not in r.stdout and "sk-live" not in r.stdout


# -- hostile snippets -------------------------------------------------------------------------------

FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"
MEMORY_BOMB = "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))\n"


def test_fork_bomb_is_contained_by_the_process_limit() -> None:
    started = time.monotonic()
    r = run_python(FORK_BOMB, timeout=5)
    assert not r.ok
    assert r.limit in ("processes", "time")
    assert time.monotonic() - started < 8


def test_forked_sleepers_die_with_the_code() -> None:
    # children that outlive the code (even in their own session) are killed with it
    code = ("import os, sys, time\nfor i in range(3):\n    if os.fork() == 0:\n        os.setsid()\n"
            "        time.sleep(30)\n        os._exit(0)\nprint('parent', os.getpid())\n")
    started = time.monotonic()
    r = run_python(code, timeout=5)
    assert r.ok, r.stderr
    assert time.monotonic() - started < 4


def test_memory_bomb_hits_the_memory_limit() -> None:
    r = run_python(MEMORY_BOMB, memory_mb=200, timeout=5)
    assert not r.ok and r.limit == "memory"
    assert "MemoryError" in r.stderr


def test_one_huge_allocation_hits_the_memory_limit() -> None:
    r = run_python("x = bytearray(4 * 1024 ** 3)", memory_mb=256)
    assert not r.ok and r.limit == "memory"


def test_infinite_loop_is_stopped_at_the_wall_timeout() -> None:
    r = run_python("while True:\n    pass\n", timeout=1.0, cpu_s=30)
    assert not r.ok and r.timed_out and r.limit == "time"
    assert r.returncode is not None and r.returncode < 0
    assert 0.9 < r.duration_s < 3


def test_sleeping_code_is_stopped_at_the_wall_timeout() -> None:
    r = run_python("import time\ntime.sleep(60)", timeout=0.5)
    assert r.timed_out and r.limit == "time" and r.duration_s < 2.5


def test_busy_loop_hits_the_cpu_limit_first_when_it_is_lower() -> None:
    r = run_python("while True:\n    pass\n", timeout=10, cpu_s=1)
    assert not r.ok and not r.timed_out and r.limit == "cpu"
    assert r.duration_s < 5


def test_network_call_fails() -> None:
    code = "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))\nprint('connected')"
    r = run_python(code, timeout=5)
    assert not r.ok and "connected" not in r.stdout
    assert "network access is disabled" in r.stderr or "unreachable" in r.stderr


def test_loopback_is_unreachable_too() -> None:
    r = run_python("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:1/', timeout=2)\nprint('got')",
                   timeout=5)
    assert not r.ok and "got" not in r.stdout


def test_writing_outside_the_working_dir_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "escape.txt"
    os.chmod(tmp_path, 0o777)   # even a world-writable dir is out of reach
    r = run_python(f"open({str(target)!r}, 'w').write('pwned')")
    assert not r.ok and "PermissionError" in r.stderr
    assert not target.exists()


def test_deleting_outside_the_working_dir_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    os.chmod(tmp_path, 0o777)
    os.chmod(victim, 0o666)
    r = run_python(f"import os\nos.remove({str(victim)!r})")
    assert not r.ok and victim.read_text() == "precious"


def test_starting_programs_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "made-by-shell"
    os.chmod(tmp_path, 0o777)
    r = run_python(f"import subprocess\nsubprocess.run(['touch', {str(target)!r}])")
    assert not r.ok and "starting programs is not allowed" in r.stderr
    assert not target.exists()


def test_huge_output_is_truncated_and_stops_the_code() -> None:
    started = time.monotonic()
    r = run_python("while True:\n    print('x' * 1000)\n", max_output=5000, timeout=10)
    assert not r.ok and r.limit == "output"
    assert len(r.stdout) < 5200 and "truncated at 5000 characters" in r.stdout
    assert time.monotonic() - started < 3


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        run_python("pass", timeout=0)


# -- each kernel layer holds on its own (audit hooks off) --------------------------------------------

def _kernel_layers() -> dict[str, object]:
    found = layers()
    assert found["ok"], "the sandbox cannot run a trivial snippet on this machine"
    return found


def test_network_namespace_alone_blocks_network() -> None:
    if "net" not in str(_kernel_layers().get("namespaces")):
        pytest.skip("this kernel refuses network namespaces; the audit hook is the only network guard")
    r, _ = _run("import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))", audit=False)
    assert not r.ok and "Network is unreachable" in r.stderr


def test_kernel_alone_blocks_writes_outside(tmp_path: Path) -> None:
    found = _kernel_layers()
    if not found.get("landlock") and found.get("uid") != 65534:
        pytest.skip("neither Landlock nor a dropped uid is available here")
    os.chmod(tmp_path, 0o777)
    target = tmp_path / "escape.txt"
    r, _ = _run(f"open({str(target)!r}, 'w').write('x')", audit=False)
    assert not r.ok and "Permission denied" in r.stderr and not target.exists()


def test_landlock_alone_blocks_running_programs(tmp_path: Path) -> None:
    if not _kernel_layers().get("landlock"):
        pytest.skip("Landlock is not available on this kernel")
    os.chmod(tmp_path, 0o777)
    target = tmp_path / "made-by-shell"
    r, _ = _run(f"import os\nprint(os.system('touch {target}'))", audit=False)
    assert not target.exists()
    assert r.stdout.strip() != "0"


def test_a_sandbox_that_cannot_start_says_so_and_blames_no_code(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from routemate.verify.checks import verify

    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    r = run_python("print('hi')")
    assert not r.ok and r.limit == "unavailable" and "cannot start" in r.stderr and r.returncode is None
    assert not any(p.name.startswith("routemate-sandbox-") for p in tmp_path.iterdir())
    # the verdict is "unverified", not "wrong": nothing was run against the code
    v = verify("Write a Python function add(a, b).\nassert add(1, 2) == 3", "```python\ndef add(a, b):\n"
               "    return a + b\n```")
    assert v.ok and not v.ran and any(c.status == "skip" and "cannot start" in c.detail for c in v.checks)


HOSTILE_AS_NOBODY = r'''
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("sandbox", sys.argv[1])
sb = importlib.util.module_from_spec(spec); sys.modules["sandbox"] = sb; spec.loader.exec_module(sb)
out = {"uid": os.getuid(), "layers": sb.layers()}
for name, code, kw in [
    ("network", "import socket; socket.create_connection(('1.1.1.1', 80), timeout=2)", {}),
    ("write", "open(%r, 'w').write('x')" % sys.argv[2], {}),
    ("fork", "import os\nwhile True:\n    os.fork()", {}),
    ("memory", "x = bytearray(2 * 1024 ** 3)", {"memory_mb": 256}),
    ("loop", "while True: pass", {"timeout": 2}),
    ("ok", "print(6 * 7)", {}),
]:
    r = sb.run_python(code, **kw)
    out[name] = {"ok": r.ok, "limit": r.limit, "stdout": r.stdout, "err": (r.stderr.strip().splitlines() or [""])[-1]}
print(json.dumps(out))
'''


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(),
                    reason="needs root and setpriv to become an unprivileged user")
def test_an_unprivileged_user_gets_the_same_containment() -> None:
    """Root runs the code as nobody after entering namespaces itself; any other user goes through an
    unprivileged user namespace (or, where the kernel refuses one, rlimits, Landlock and audit hooks)."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    import routemate.verify.sandbox as sandbox

    # a world-writable dir: only the sandbox, not file permissions, may stop the write into it
    shared = Path(tempfile.mkdtemp(prefix="routemate-unpriv-"))
    try:
        shared.chmod(0o777)
        script = shared / "hostile.py"
        script.write_text(HOSTILE_AS_NOBODY)
        outside = shared / "escape.txt"
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = {"HOME": str(shared), "PATH": "/usr/bin:/bin"}
        # the interpreter (and the one it starts) and the module must be reachable by nobody
        probe = ("import subprocess, sys; assert sys.version_info >= (3, 11); "
                 f"open({sandbox.__file__!r}).read(); subprocess.run([sys.executable, '-c', 'pass'], check=True)")
        system = "/usr/local/bin:/usr/bin:/bin"      # outside any venv, which may live where nobody can reach
        usable = next((exe for exe in (sys.executable, getattr(sys, "_base_executable", ""),
                                       shutil.which("python3.11", path=system) or "",
                                       shutil.which("python3", path=system) or "")
                       if exe and subprocess.run([*as_nobody, exe, "-c", probe], capture_output=True, timeout=60,
                                                 env=env).returncode == 0), None)
        if usable is None:
            pytest.skip("no Python 3.11+ interpreter and sandbox module reachable by an unprivileged user")
        r = subprocess.run([*as_nobody, usable, str(script), sandbox.__file__, str(outside)], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["uid"] == 65534 and out["layers"]["ok"] and out["layers"]["uid"] == 65534
        assert not out["network"]["ok"] and not out["write"]["ok"] and not outside.exists()
        assert out["fork"]["limit"] == "processes" and out["memory"]["limit"] == "memory"
        assert out["loop"]["limit"] == "time"
        assert out["ok"]["ok"] and out["ok"]["stdout"].strip() == "42"
    finally:
        shutil.rmtree(shared, ignore_errors=True)
