"""`routemate sandbox`, as a user runs it: the layers this machine provides, and what becomes of
code from gateway clients."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import routemate_without


def run(argv: list[str], *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*argv, "sandbox", *args], env=env, capture_output=True, text=True, timeout=120)


ROUTEMATE = [sys.executable, "-m", "routemate"]


def test_every_layer_is_listed_and_clients_code_runs(env: dict[str, str]) -> None:
    r = run(ROUTEMATE, "--json", env=env)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert found["ok"] and found["missing"] == {} and found["remote_code"] == "runs in the full sandbox"
    assert found["landlock"] and found["seccomp"] is True and found["capabilities"] == "none"
    table = run(ROUTEMATE, env=env).stdout
    for name in ("namespaces", "work dir", "user", "capabilities", "Landlock", "seccomp", "audit hooks"):
        assert f"✓ {name}" in table
    assert "✗" not in table
    assert table.rstrip().endswith("code from gateway clients: runs in the full sandbox")


def test_a_missing_layer_is_named_with_what_to_do(env: dict[str, str], write_config) -> None:
    r = run(routemate_without("landlock"), env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "✗ Landlock         missing: turned off" in lines
    assert ("code from gateway clients: not run (set [verify] allow_weak_sandbox = true "
            "to accept the weaker sandbox)") in lines
    assert "code from routemate ask and the Python API: runs with the layers above (docs/verify.md)" in lines
    write_config("[verify]\nallow_weak_sandbox = true\n")
    found = json.loads(run(routemate_without("landlock"), "--json", env=env).stdout)
    assert found["missing"] == {"landlock": "turned off"} and found["landlock"] is None
    assert found["remote_code"] == "runs in the weaker sandbox ([verify] allow_weak_sandbox = true)"
