"""Each hostile snippet is contained and bounded; ordinary code runs and reports how it ended."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import routemate.verify.sandbox as sandbox
from routemate.verify.sandbox import (SandboxResult, _run, describe, for_remote_code, layers, refusal,
                                      run_python)


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


def _needs(layer: str) -> None:
    missing = _kernel_layers().get("missing") or {}
    if layer in missing:   # type: ignore[operator]
        pytest.skip(f"this machine lacks the {layer} layer: {missing[layer]}")   # type: ignore[index]


def test_network_namespace_alone_blocks_network() -> None:
    _needs("namespaces")
    r = _run("import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))", audit=False,
             landlock=False)
    assert not r.ok and "Network is unreachable" in r.stderr


def test_kernel_alone_blocks_writes_outside(tmp_path: Path) -> None:
    found = _kernel_layers()
    if not found.get("landlock") and found.get("uid") != 65534:
        pytest.skip("neither Landlock nor a dropped uid is available here")
    os.chmod(tmp_path, 0o777)
    target = tmp_path / "escape.txt"
    r = _run(f"open({str(target)!r}, 'w').write('x')", audit=False)
    assert not r.ok and "Permission denied" in r.stderr and not target.exists()


def test_landlock_alone_blocks_running_programs(tmp_path: Path) -> None:
    _needs("landlock")
    os.chmod(tmp_path, 0o777)
    target = tmp_path / "made-by-shell"
    r = _run(f"import os\nprint(os.system('touch {target}'))", audit=False)
    assert not target.exists()
    assert r.stdout.strip() != "0"


def test_without_namespaces_reads_stay_fenced_or_the_run_says_why_not(tmp_path: Path) -> None:
    """The fallback where the kernel refuses namespaces. Root's code runs as nobody: if nobody
    cannot reach the interpreter (installed under /root), nothing runs and the reason says so;
    otherwise Landlock still fences reads. The unprivileged side is in the attacks below."""
    _needs("landlock")
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-value")
    secret.chmod(0o644)
    os.chmod(tmp_path, 0o755)
    r = _run(f"print(open({str(secret)!r}).read())", namespaces=False, audit=False)
    assert "s3cr3t-value" not in r.stdout
    assert r.layers["namespaces"] is None and {"namespaces", "workdir"} <= set(r.layers["missing"])  # type: ignore
    if r.layers.get("fatal"):
        assert r.limit == "unavailable" and "nobody cannot enter" in r.stderr and r.returncode is None
        return
    assert not r.ok and "Permission denied" in r.stderr


@pytest.mark.parametrize("layer", ["landlock", "seccomp", "namespaces"])
def test_strict_runs_nothing_when_a_layer_is_missing(layer: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    os.chmod(tmp_path, 0o777)
    r = _run(f"open({str(marker)!r}, 'w').write('x')\nprint('ran')", strict=True, **{layer: False})
    assert not r.ok and r.limit == "unavailable" and r.returncode is None
    assert "ran" not in r.stdout and not marker.exists()
    assert f"{layer}: turned off" in r.stderr and "allow_weak_sandbox" in r.stderr
    full = run_python("print('ran')", strict=True)
    assert full.ok and full.stdout.strip() == "ran", full.stderr


def test_a_missing_layer_is_described_first_with_what_the_kernel_said() -> None:
    found = _run("pass", seccomp=False).layers
    assert describe(found).startswith("lacks seccomp (seccomp: turned off); in place: ")
    assert "Landlock ABI" in describe(found) and "no capabilities" in describe(found)
    assert for_remote_code(found, allow_weak=False) == ("not run (set [verify] allow_weak_sandbox = true "
                                                        "to accept the weaker sandbox)")
    assert for_remote_code(found, allow_weak=True) == ("runs in the weaker sandbox "
                                                       "([verify] allow_weak_sandbox = true)")
    full = _kernel_layers()
    if full["missing"]:
        pytest.skip(f"this machine lacks {', '.join(full['missing'])}")   # type: ignore[arg-type]
    assert describe(full).startswith("every layer in place (namespaces ")
    assert for_remote_code(full, allow_weak=False) == "runs in the full sandbox"


def test_a_refusal_says_what_to_do_before_the_kernels_words() -> None:
    """A header may cut a long line; the remedy comes before what the kernel said."""
    text = refusal({"namespaces": "unshare of a user namespace: Operation not permitted (unprivileged user "
                                  "namespaces are off)", "workdir": "no mount namespace"})
    assert text.startswith("the sandbox lacks namespaces, workdir, so code from a remote client is not run; ")
    assert text.index("allow_weak_sandbox = true") < text.index("Operation not permitted")


def test_every_run_reports_its_layers_even_under_load() -> None:
    """Layers come from the run itself, not from a probe that a loaded machine can time out."""
    from concurrent.futures import ThreadPoolExecutor

    expected = {k: v for k, v in _kernel_layers().items() if k != "ok"}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: run_python("sum(range(10 ** 6))", strict=True), range(24)))
    assert all(r.ok for r in results), [r.stderr for r in results if not r.ok][:1]
    assert all(r.layers == expected for r in results)


def test_a_failed_probe_is_not_remembered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sandbox, "_probed", None)
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    assert layers()["ok"] is False
    monkeypatch.undo()
    monkeypatch.setattr(sandbox, "_probed", None)
    assert layers()["ok"] is True


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


# -- attacks, as root and as an unprivileged user ----------------------------------------------------------
# tests/sandbox_attacks.py sets up a 0600 secret, a 0600 listening Unix socket, a process with a
# secret in its argv and a symlink target, all owned by the user it runs as, and tries each attack.

USERS = ["root", "unprivileged"]
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _interpreter_for(prefix: list[str], env: dict[str, str], probe_dir: Path) -> str | None:
    """A Python 3.11+ this user can run, that can start itself again (the sandbox does)."""
    import shutil
    import subprocess
    import sys

    probe = ("import subprocess, sys; assert sys.version_info >= (3, 11); "
             f"open({str(probe_dir / 'sandbox.py')!r}).read(); subprocess.run([sys.executable, '-c', 'pass'], check=True)")
    for exe in (sys.executable, getattr(sys, "_base_executable", ""), shutil.which("python3.11", path=SYSTEM_PATH) or "",
                shutil.which("python3", path=SYSTEM_PATH) or ""):
        if exe and subprocess.run([*prefix, exe, "-c", probe], capture_output=True, timeout=60, env=env).returncode == 0:
            return exe
    return None


@pytest.fixture(scope="module")
def attacks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    import json
    import shutil
    import subprocess
    import tempfile

    found: dict[str, dict] = {}
    # a directory any user can read, so the module and its bootstrap load whatever the clone's location
    code = Path(tempfile.mkdtemp(prefix="routemate-attacks-"))
    try:
        code.chmod(0o755)
        src = Path(sandbox.__file__).parent
        for name in ("sandbox.py", "_bootstrap.py", "_harness.py"):
            shutil.copy(src / name, code / name)
        shutil.copy(Path(__file__).with_name("sandbox_attacks.py"), code / "sandbox_attacks.py")
        for f in code.iterdir():
            f.chmod(0o644)
        env = {"HOME": "/tmp", "PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        for user in USERS:
            if user == "root":
                if os.geteuid() != 0:
                    found[user] = {"skip": "the suite does not run as root"}
                    continue
                prefix: list[str] = []
            else:
                prefix = [] if os.geteuid() != 0 else ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
                if prefix and not shutil.which("setpriv"):
                    found[user] = {"skip": "setpriv is not installed, so root cannot become an unprivileged user"}
                    continue
            exe = _interpreter_for(prefix, env, code)
            if exe is None:
                found[user] = {"skip": f"no Python 3.11+ that the {user} user can run"}
                continue
            r = subprocess.run([*prefix, exe, str(code / "sandbox_attacks.py"), str(code)], capture_output=True,
                               text=True, timeout=300, env=env, cwd="/")
            assert r.returncode == 0, r.stderr
            found[user] = json.loads(r.stdout)
            if user == "root" and found[user]["fallback_read"]["layers"].get("fatal"):
                found[user].update(_root_fallback(code, env, found[user]["fallback_read"]["layers"]["fatal"]))
    finally:
        shutil.rmtree(code, ignore_errors=True)
    return found


def _root_fallback(code: Path, env: dict[str, str], fatal: str) -> dict:
    """Without namespaces root's code runs as nobody, who cannot reach an interpreter installed under
    a private directory (the run refuses, ``fatal``). The fallback is then tried as root with a
    Python that nobody can reach, as that refusal advises; this is what such an install runs."""
    import json
    import subprocess

    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    exe = _interpreter_for(nobody, env, code)
    if exe is None:
        return {"fallback_skip": f"{fatal}; and no Python 3.11+ here is reachable by nobody"}
    r = subprocess.run([exe, str(code / "sandbox_attacks.py"), str(code), "fallback"], capture_output=True,
                       text=True, timeout=120, env=env, cwd="/")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(params=USERS)
def attack(request: pytest.FixtureRequest, attacks: dict[str, dict]) -> dict:
    out = attacks[request.param]
    if "skip" in out:
        pytest.skip(out["skip"])
    return out


def _leaks(result: dict, *secrets: str) -> bool:
    return any(s in result["stdout"] or s in result["stderr"] for s in secrets)


def test_without_namespaces_landlock_alone_keeps_reads_in(attack: dict) -> None:
    """A file every user may read: without namespaces and audit hooks only Landlock stops the read
    (the same read with Landlock off succeeds)."""
    if "fallback_skip" in attack:
        pytest.skip(attack["fallback_skip"])
    r, unfenced, secret = attack["fallback_read"], attack["fallback_read_unfenced"], attack["fallback_secret"]
    assert not r["layers"].get("fatal"), r["layers"]["fatal"]
    assert not r["ok"] and "Permission denied" in r["stderr"] and not _leaks(r, secret)
    assert {"namespaces", "workdir"} <= set(r["layers"]["missing"]) and r["layers"]["landlock"]
    assert unfenced["ok"] and unfenced["stdout"].strip() == secret, unfenced
    assert attack["fallback_scratch"]["ok"] and attack["fallback_scratch"]["stdout"].strip() == "x"


def test_every_layer_is_in_place_for_each_user(attack: dict) -> None:
    found = attack["layers"]
    assert found["ok"] and found["missing"] == {}, found["missing"]
    assert found["uid"] == 65534 and found["capabilities"] == "none" and found["seccomp"] is True
    assert found["landlock"] and found["workdir"].startswith("tmpfs")
    assert "pid" in found["namespaces"] and "net" in found["namespaces"] and "mount" in found["namespaces"]


@pytest.mark.parametrize("name", ["read_own_0600_file", "read_own_0600_file_kernel_only", "read_shadow"])
def test_files_outside_the_work_dir_cannot_be_read(attack: dict, name: str) -> None:
    r = attack[name]
    assert not r["ok"] and "Permission denied" in r["stderr"]
    assert not _leaks(r, attack["secret"])


def test_home_and_the_root_dir_cannot_be_listed(attack: dict) -> None:
    for name in ("list_home", "list_root_dir"):
        assert not attack[name]["ok"] and "Permission denied" in attack[name]["stderr"]
        assert "secret.txt" not in attack[name]["stdout"]


def test_other_processes_cannot_be_seen(attack: dict) -> None:
    r = attack["read_proc_cmdline"]
    assert not _leaks(r, attack["proc_secret"])
    assert "routemate" not in r["stdout"] and "PATH=" not in r["stdout"]


@pytest.mark.parametrize("name", ["unix_connect", "unix_dgram_pair", "unix_connect_kernel_only",
                                  "unix_dgram_pair_kernel_only"])
def test_host_unix_sockets_cannot_be_reached(attack: dict, name: str) -> None:
    r = attack[name]
    assert not r["ok"] and r["accepted"] == 0 and "sent" not in r["stdout"]
    assert not _leaks(r, attack["secret"])


def test_no_new_user_namespace_can_be_made(attack: dict) -> None:
    out = attack["user_namespace"]["stdout"].split()
    assert out[:2] == ["unshare", "-1"] and out[3:5] == ["clone", "-1"], attack["user_namespace"]


def test_no_capability_is_left(attack: dict) -> None:
    lines = attack["capabilities"]["stdout"].splitlines()
    assert lines[0] == "caps [0, 0, 0, 0, 0, 0]" and lines[1] == "handle -1"


def test_the_work_dir_cannot_fill_the_disk(attack: dict) -> None:
    fill = attack["disk_fill"]["stdout"].split()
    assert "stopped" in fill and int(fill[-1]) <= sandbox.WORK_MB      # ENOSPC at the tmpfs size, not 1 GB
    files = attack["many_files"]["stdout"].split()
    assert "stopped" in files and int(files[-1]) <= sandbox.WORK_FILES


def test_clean_up_never_follows_a_planted_symlink(attack: dict) -> None:
    assert attack["symlink_cleanup"]["ok"], attack["symlink_cleanup"]["stderr"]
    assert attack["victim_mode"] == "0o640" and attack["victim_text"] == "keep"
    assert attack["cleanup_outside_namespace"] == {"gone": True, "victim_exists": True}


def test_another_runs_files_are_out_of_reach(attack: dict) -> None:
    other = attack["other_run"]
    assert other["first"]["ok"] and other["second"]["ok"], other
    assert "OTHER-RUN-SECRET" not in other["second"]["stdout"]


def test_client_tests_learn_nothing_through_the_count_channel(attack: dict) -> None:
    """256 tests of ``DATA[k] <= i`` and one raising the file's text: the verdict is the same
    whatever the file holds, and carries none of it."""
    first, second = attack["count_channel"], attack["count_channel_changed"]
    assert first["events"] == second["events"] and first["passed"] == second["passed"] == 0
    assert attack["secret"] not in first["stdout"] + first["stderr"]


def test_writes_network_and_resources_stay_bounded(attack: dict) -> None:
    assert not attack["write_world_writable"]["ok"] and not attack["write_world_writable"]["exists"]
    assert not attack["network"]["ok"]
    assert attack["fork_bomb"]["limit"] in ("processes", "time")
    assert attack["memory"]["limit"] == "memory" and attack["loop"]["limit"] == "time"
    assert attack["ordinary"]["ok"] and attack["ordinary"]["stdout"].strip() == "42", attack["ordinary"]["stderr"]
