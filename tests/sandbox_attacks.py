"""Hostile code against the sandbox, as whichever user runs this script (root, or an unprivileged
user through ``setpriv``). Standard library only: it loads ``sandbox.py`` from the directory given.

    python sandbox_attacks.py DIR        # DIR holds sandbox.py, _bootstrap.py and _harness.py
    python sandbox_attacks.py DIR fallback   # only the fallback without namespaces

Sets up what an attacker would go for, owned by the user running it (a 0600 secret file, a 0600
listening Unix socket, a process with a secret on its command line, a file beside a symlink
target), runs each attack in the sandbox and prints one JSON object: attack -> what happened.
The test module asserts on it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

SECRET = "hunter2-" + os.urandom(8).hex()
PROC_SECRET = "argv-secret-" + os.urandom(8).hex()
CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine, 56)


def load(directory: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sandbox", os.path.join(directory, "sandbox.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["sandbox"] = module
    spec.loader.exec_module(module)
    return module


def outcome(r, **extra):  # type: ignore[no-untyped-def]
    return {"ok": r.ok, "limit": r.limit, "stdout": r.stdout[-4000:], "stderr": r.stderr[-4000:],
            "layers": r.layers, **extra}


def harness_verdict(sb, harness: str, secret_path: str) -> dict:  # type: ignore[no-untyped-def]
    """256 client tests reading one byte each through "N/256 of your tests fail", and a test that
    raises the file's text: what comes back must not depend on the file."""
    tests = f"DATA = open({secret_path!r}, 'rb').read()\n"
    tests += "".join(f"def test_{k}_{i}():\n    assert DATA[{k}] <= {i}\n" for k in range(2) for i in range(0, 256, 2))
    tests += f"def test_leak():\n    raise Exception(open({secret_path!r}).read())\n"
    spec = json.dumps({"tests": tests, "per_check_s": 2})
    r = sb.run_python(harness, files={"solution.py": "def f():\n    return 1\n", "spec.json": spec}, timeout=20)
    events = [json.loads(line[1:]) for line in r.stdout.split("\n") if line.startswith("\x1e")]
    passed = sum(1 for e in events if e.get("stage") == "test" and e["ok"])
    return {"events": events, "passed": passed, "stdout": r.stdout, "stderr": r.stderr}


def main() -> None:
    sb = load(sys.argv[1])
    if sys.argv[2:] == ["fallback"]:      # only the fallback without namespaces (see the test's fixture)
        print(json.dumps(fallback(sb)))
        return
    harness = open(os.path.join(sys.argv[1], "_harness.py"), encoding="utf-8").read()
    home = tempfile.mkdtemp(prefix="routemate-attack-")      # the user's own private files
    secret = os.path.join(home, "secret.txt")
    with open(secret, "w") as fh:
        fh.write(SECRET)
    os.chmod(secret, 0o600)
    victim = os.path.join(home, "victim.txt")
    with open(victim, "w") as fh:
        fh.write("keep")
    os.chmod(victim, 0o640)

    sock_path = os.path.join(home, "agent.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(sock_path)
    os.chmod(sock_path, 0o600)
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.sendall(b"agent: " + SECRET.encode())
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", PROC_SECRET])
    out: dict[str, object] = {"uid": os.getuid(), "layers": sb.layers()}
    try:
        out.update(attacks(sb, harness, home, secret, victim, sock_path, sleeper.pid, accepted))
    finally:
        stop.set()
        sleeper.kill()
        sleeper.wait()
        server.close()
    out["victim_mode"] = oct(os.stat(victim).st_mode & 0o777)
    out["victim_text"] = open(victim).read()
    shutil.rmtree(home)
    out["secret"] = SECRET
    out["proc_secret"] = PROC_SECRET
    print(json.dumps(out))


def attacks(sb, harness, home, secret, victim, sock_path, pid, accepted):  # type: ignore[no-untyped-def]
    out: dict[str, object] = {}
    run, raw = sb.run_python, sb._run
    out["read_own_0600_file"] = outcome(run(f"print(open({secret!r}).read())"))
    out["read_own_0600_file_kernel_only"] = outcome(raw(f"print(open({secret!r}).read())", audit=False))
    out["read_shadow"] = outcome(run("print(open('/etc/shadow').read())"))
    out.update(fallback(sb))
    out["list_home"] = outcome(run(f"import os\nprint(os.listdir({home!r}))"))
    out["list_root_dir"] = outcome(run("import os\nprint(os.listdir('/'))"))
    out["read_proc_cmdline"] = outcome(run(
        f"import os\nfor p in ('/proc/{pid}/cmdline', '/proc/1/cmdline', '/proc/self/environ'):\n"
        f"    try:\n        print(open(p).read())\n    except OSError as e:\n        print(p, e)"))
    # the kernel layers alone (no audit hooks, so ctypes and raw sockets are open to the code)
    for audit in (True, False):
        suffix = "" if audit else "_kernel_only"
        before = len(accepted)
        r = raw(f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.settimeout(2)\ns.connect({sock_path!r})\n"
                f"print(s.recv(100))", audit=audit)
        out["unix_connect" + suffix] = outcome(r, accepted=len(accepted) - before)
        before = len(accepted)
        r = raw(f"import socket\na, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                f"a.sendto(b'x', {sock_path!r})\nprint('sent')", audit=audit)
        out["unix_dgram_pair" + suffix] = outcome(r, accepted=len(accepted) - before)
    out["user_namespace"] = outcome(raw(
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())\n"
        f"pid = libc.syscall({CLONE}, 0x10000000 | 17, 0, 0, 0, 0)\n"      # clone(CLONE_NEWUSER | SIGCHLD)
        "if pid == 0:\n    os._exit(0)\nprint('clone', pid, ctypes.get_errno())", audit=False))
    out["capabilities"] = outcome(raw(
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "class H(ctypes.Structure):\n    _fields_ = [('v', ctypes.c_uint32), ('pid', ctypes.c_int)]\n"
        "data = (ctypes.c_uint32 * 6)()\nlibc.capget(ctypes.byref(H(0x20080522, 0)), data)\n"
        "print('caps', list(data))\n"
        "print('handle', libc.syscall(304, -100, 0, 0))", audit=False))     # open_by_handle_at
    shared = tempfile.mkdtemp(prefix="routemate-shared-")
    os.chmod(shared, 0o777)         # only the sandbox, not file permissions, may stop a write here
    out["write_world_writable"] = outcome(raw(f"open({shared + '/escape'!r}, 'w').write('x')", audit=False),
                                          exists=os.path.exists(shared + "/escape"))
    shutil.rmtree(shared)
    out["network"] = outcome(run("import socket; socket.create_connection(('1.1.1.1', 80), timeout=2)"))
    out["fork_bomb"] = outcome(run("import os\nwhile True:\n    os.fork()", timeout=5))
    out["memory"] = outcome(run("x = bytearray(2 * 1024 ** 3)", memory_mb=256))
    out["loop"] = outcome(run("while True: pass", timeout=2))
    out["ordinary"] = outcome(run("import json, threading, asyncio, decimal, hashlib\n"
                                  "asyncio.run(asyncio.sleep(0))\nprint(6 * 7)"))
    out["disk_fill"] = outcome(run(
        "import os\nwritten = 0\ntry:\n    for i in range(64):\n        with open(f'fill{i}', 'wb') as fh:\n"
        "            for _ in range(16):\n                fh.write(b'x' * 2 ** 20)\n                written += 1\n"
        "except OSError as e:\n    print('stopped', e.errno)\nprint('written_mb', written)", timeout=20))
    out["many_files"] = outcome(run(
        "n = 0\ntry:\n    for i in range(100_000):\n        open(f'f{i}', 'w').close()\n        n += 1\n"
        "except OSError as e:\n    print('stopped', e.errno)\nprint('files', n)", timeout=20))
    # the symlink trick: a link to a file outside, in a dir the code made unremovable
    out["symlink_cleanup"] = outcome(run(
        f"import os\nos.mkdir('d')\nos.symlink({victim!r}, 'd/link')\nos.symlink({victim!r}, 'link')\n"
        f"os.chmod('d', 0)\nprint(os.getcwd())"))
    out["cleanup_outside_namespace"] = remove_planted_tree(sb, victim)
    out["other_run"] = other_run(sb)
    out["count_channel"] = harness_verdict(sb, harness, secret)
    with open(secret, "w") as fh:       # a different secret: the verdict must be the same
        fh.write("".join(chr(0x21 + (ord(c) * 7) % 90) for c in SECRET))
    out["count_channel_changed"] = harness_verdict(sb, harness, secret)
    with open(secret, "w") as fh:
        fh.write(SECRET)
    return out


def fallback(sb):  # type: ignore[no-untyped-def]
    """The fallback without namespaces, on a secret that file permissions let every user read (root's
    code runs as nobody), so only Landlock stands between the code and it; the same read with
    Landlock off shows that it would otherwise succeed."""
    public = tempfile.mkdtemp(prefix="routemate-public-")
    os.chmod(public, 0o755)
    secret = os.path.join(public, "readable.txt")
    with open(secret, "w") as fh:
        fh.write(SECRET)
    os.chmod(secret, 0o644)
    read = f"print(open({secret!r}).read())"
    try:
        return {"fallback_read": outcome(sb._run(read, namespaces=False, audit=False)),
                "fallback_read_unfenced": outcome(sb._run(read, namespaces=False, audit=False, landlock=False)),
                "fallback_scratch": outcome(sb._run("open('s', 'w').write('x')\nprint(open('s').read())",
                                                    namespaces=False)),
                "fallback_python": sys.executable, "fallback_secret": SECRET}
    finally:
        shutil.rmtree(public)


def remove_planted_tree(sb, victim):  # type: ignore[no-untyped-def]
    """Clean-up on a host directory (the fallback without a mount namespace): links to a file
    outside and directories with no permissions left by the code."""
    top = tempfile.mkdtemp(prefix="routemate-sandbox-")
    os.makedirs(os.path.join(top, "a", "b"))
    os.symlink(victim, os.path.join(top, "a", "b", "link"))
    os.symlink(os.path.dirname(victim), os.path.join(top, "a", "dirlink"))
    os.symlink(victim, os.path.join(top, "link"))
    os.chmod(os.path.join(top, "a", "b"), 0)
    os.chmod(os.path.join(top, "a"), 0o500)
    sb._remove(__import__("pathlib").Path(top))
    return {"gone": not os.path.exists(top), "victim_exists": os.path.exists(victim)}


def other_run(sb):  # type: ignore[no-untyped-def]
    """Two runs at once: the second looks for the first one's files."""
    first: dict[str, object] = {}

    def run_first() -> None:
        r = sb.run_python("import os, time\nopen('mine.txt', 'w').write('OTHER-RUN-SECRET')\nprint(os.getcwd(), "
                          "flush=True)\ntime.sleep(4)", timeout=15)
        first["result"] = outcome(r)

    t = threading.Thread(target=run_first)
    t.start()
    time.sleep(1.5)
    r = sb.run_python(
        "import glob, os\nfound = []\nfor root in ('/tmp', '/var/tmp', os.path.dirname(os.getcwd())):\n"
        "    for path in glob.glob(root + '/routemate-sandbox-*/**', recursive=True):\n"
        "        try:\n            found.append(open(path).read())\n        except OSError:\n            pass\n"
        "print(found)", timeout=15)
    t.join()
    return {"second": outcome(r), "first": first.get("result")}


if __name__ == "__main__":
    main()
