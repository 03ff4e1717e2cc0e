"""Run untrusted Python (a model's answer, a user's tests) in a contained, bounded subprocess.

Layers, strongest first; each one that the kernel refuses is skipped and the next still holds:

1. **Namespaces.** The code runs as PID 1 of a new PID namespace (every process it starts dies
   with it) and, unless ``network=True``, in a new network namespace whose only interface is a
   loopback that is down. Root uses them directly and then runs the code as ``nobody``; other
   users get them through an unprivileged user namespace where the kernel allows it.
2. **Resource limits.** ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``, ``RLIMIT_NPROC`` (processes),
   ``RLIMIT_FSIZE`` (file size), no core files, 256 open files. Wall time and output size are
   watched from outside; on either limit the whole process group is killed.
3. **Landlock** (Linux 5.13+, unprivileged): writes, deletions and program execution are denied
   everywhere except beneath the temporary working directory (and ``/dev/null``); on kernels with
   Landlock ABI 4+ and no network namespace, TCP connect/bind are denied too.
4. **Audit hooks** (PEP 578): a tripwire that turns writes outside the working dir, starting
   programs, ctypes and (with ``network=False``) sockets into a clear ``PermissionError``. C code
   can step around them; they exist for clear errors and for kernels without layers 1 and 3.

What it does not stop: reading files the user can read (keep secrets out of reach of the user
routemate runs as); CPU time spent before the limit trips; disk use by many small files in the
working dir (each file is capped, the dir is removed afterwards). ``layers()`` says which layers
this machine provides.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

NOBODY = 65534
MAIN = "main.py"
MAX_PROCESSES = 32
FILE_MB = 64
_BOOTSTRAP = (Path(__file__).with_name("_bootstrap.py")).read_text(encoding="utf-8")


@dataclass(frozen=True)
class SandboxResult:
    ok: bool                 # exit code 0, no limit hit
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    limit: str | None        # what stopped it: "time", "cpu", "memory", "processes", "output", or None;
                             # "unavailable" when the sandbox itself could not start (stderr says why)
    duration_s: float


def run_python(code: str, *, timeout: float = 10.0, memory_mb: int = 512, cpu_s: float | None = None,
               files: dict[str, str] | None = None, network: bool = False,
               max_output: int = 64_000) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a fresh temp dir (beside ``files``) and return how it ended.

    ``timeout`` is wall time, ``cpu_s`` CPU time (default: the wall timeout), ``max_output``
    the characters kept per stream: going past it stops the code (``limit="output"``).
    """
    result, _ = _run(code, timeout=timeout, memory_mb=memory_mb, cpu_s=cpu_s, files=files, network=network,
                     max_output=max_output)
    return result


@lru_cache(maxsize=1)
def layers() -> dict[str, object]:
    """Which containment layers this machine provides (probed once with a trivial run)."""
    result, found = _run("pass", timeout=10.0)
    found = dict(found)
    found["ok"] = result.ok
    return found


def _run(code: str, *, timeout: float = 10.0, memory_mb: int = 512, cpu_s: float | None = None,
         files: dict[str, str] | None = None, network: bool = False, max_output: int = 64_000,
         audit: bool = True, landlock: bool = True) -> tuple[SandboxResult, dict[str, object]]:
    """``run_python`` plus the layers that took effect; ``audit``/``landlock`` off let tests prove
    that the other layers hold on their own."""
    if timeout <= 0 or memory_mb <= 0 or max_output <= 0 or (cpu_s is not None and cpu_s <= 0):
        raise ValueError("timeout, memory_mb, cpu_s and max_output must be positive")
    work = Path(tempfile.mkdtemp(prefix="routemate-sandbox-"))
    started = time.monotonic()
    try:
        _populate(work, code, files or {})
        status_r, status_w = os.pipe()
        cfg = {"dir": str(work), "network": network, "memory_mb": memory_mb,
               "cpu_s": cpu_s if cpu_s is not None else timeout, "max_processes": MAX_PROCESSES,
               "file_mb": FILE_MB, "status_fd": status_w, "audit": audit, "landlock": landlock}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "HOME": str(work), "TMPDIR": str(work)}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-X", "utf8", "-c", _BOOTSTRAP, json.dumps(cfg)],
                cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, pass_fds=(status_w,), close_fds=True)
        except OSError as exc:   # no interpreter to run it with: say so, do not blame the code
            os.close(status_r)
            why = f"sandbox: cannot start {sys.executable}: {exc.strerror or exc}"
            return SandboxResult(ok=False, returncode=None, stdout="", stderr=why, timed_out=False,
                                 limit="unavailable", duration_s=round(time.monotonic() - started, 4)), {}
        finally:
            os.close(status_w)
        out, err, stopped = _watch(proc, started + timeout, max_output)
        with os.fdopen(status_r, "rb") as fh:
            found: dict[str, object] = {}
            for line in fh.read().decode(errors="replace").splitlines():
                try:
                    found.update(json.loads(line))
                except ValueError:
                    pass
    finally:
        _remove(work)
    duration = time.monotonic() - started
    stdout, stderr = _text(out, max_output), _text(err, max_output)
    rc = proc.returncode
    limit = stopped or _limit_from(rc, stderr)
    result = SandboxResult(ok=rc == 0 and limit is None, returncode=rc, stdout=stdout, stderr=stderr,
                           timed_out=stopped == "time", limit=limit, duration_s=round(duration, 4))
    return result, found


def _populate(work: Path, code: str, files: dict[str, str]) -> None:
    for name, body in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or str(rel) == MAIN:
            raise ValueError(f"sandbox file name {name!r} must be a relative path inside the working dir "
                             f"and not {MAIN}")
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    (work / MAIN).write_text(code, encoding="utf-8")
    if os.geteuid() == 0:   # the code runs as nobody: give it its own dir
        for path in [work, *work.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)


def _watch(proc: subprocess.Popen[bytes], deadline: float, max_output: int) -> tuple[bytes, bytes, str | None]:
    """Read both pipes until they close; kill the group on the wall deadline or too much output."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    sel = selectors.DefaultSelector()
    for pipe in (proc.stdout, proc.stderr):
        os.set_blocking(pipe.fileno(), False)
        sel.register(pipe.fileno(), selectors.EVENT_READ)
    stopped: str | None = None
    cap = max_output * 4 + 4   # bytes: a character is at most four
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                stopped = "time"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
                _kill_group(proc)   # stragglers holding the pipes open
            if exited_at is not None and now - exited_at > 1.0:
                break
            for key, _ in sel.select(timeout=min(0.05, deadline - now)):
                fd = key.fd
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(fd)
                    continue
                buf = buffers[fd]
                buf += data[: max(0, cap - len(buf))]
                if len(buf) >= cap or len(buf.decode(errors="replace")) > max_output:
                    stopped = "output"
            if stopped:
                break
    finally:
        sel.close()
        _kill_group(proc)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return bytes(buffers[out_fd]), bytes(buffers[err_fd]), stopped


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _text(data: bytes, max_output: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) > max_output:
        text = text[:max_output] + f"\n[… output truncated at {max_output} characters]"
    return text


_MEMORY = re.compile(r"^(MemoryError\b|.*Cannot allocate memory|.*std::bad_alloc)", re.M)
_PROCESSES = re.compile(r"BlockingIOError: \[Errno 11\]|Resource temporarily unavailable")


def _limit_from(rc: int | None, stderr: str) -> str | None:
    if rc is None or rc == 0:
        return None
    if rc in (-signal.SIGXCPU, -signal.SIGKILL):
        return "cpu"     # SIGXCPU at the soft limit, SIGKILL at the hard one; we never sent it (no stop)
    tail = stderr.strip().splitlines()[-1:] or [""]
    if _MEMORY.search(tail[0]):
        return "memory"
    if _PROCESSES.search(stderr):
        return "processes"
    return None


def _remove(work: Path) -> None:
    def unlock(func, path, _exc):  # type: ignore[no-untyped-def]
        try:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            os.chmod(path, stat.S_IRWXU)
            func(path)
        except OSError:
            pass

    shutil.rmtree(work, onerror=unlock)
