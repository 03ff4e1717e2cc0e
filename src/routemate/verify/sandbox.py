"""Run untrusted Python (a model's answer, a client's tests) in a contained, bounded subprocess.

The code reads nothing of the host but the interpreter, its standard library and installed
packages, and shared libraries; it writes only its own work dir. Layers (docs/verify.md says what
each one guarantees):

1. **Namespaces**: PID (what the code starts dies with it), network (a loopback that is down),
   mount (a private tmpfs work dir with a size limit), IPC. Root enters them directly and runs the
   code as ``nobody``; other users through an unprivileged user namespace.
2. **No capabilities**: none kept, none in the bounding set; ``no_new_privs``.
3. **Resource limits**: memory, CPU, processes, file size, open files; wall time and output size
   are watched from here, and on either limit the whole process group is killed.
4. **Landlock** (Linux 5.13+): reads only beneath the interpreter's own directories, the shared
   libraries and the work dir; writes only beneath the work dir; runs only the interpreter; no
   TCP without ``network``; no abstract Unix sockets or signals out of the sandbox (ABI 6).
5. **seccomp**: no Unix sockets, no new namespaces, no ptrace, keyrings, mounts, BPF, io_uring.
6. **Audit hooks** (PEP 578): a tripwire for clear error messages, not a boundary.

A layer the kernel refuses is skipped and named in ``SandboxResult.layers["missing"]``; with
``strict=True`` (code from remote clients) a missing layer stops the run before any code runs
(``limit="unavailable"``). ``describe()``, ``for_remote_code()`` and ``refusal()`` put that into
words for the faces (``routemate sandbox``, the ``serve`` start-up warning, verdicts).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAIN = "main.py"
MAX_PROCESSES = 32
FILE_MB = 64          # one file
WORK_MB = 64          # the whole work dir (a tmpfs: it counts against memory, not disk)
WORK_FILES = 4096     # files and directories in the work dir
REFUSED = 125         # the bootstrap's exit status when strict and a layer is missing
NOBODY = 65534        # root's code runs as this uid
_BOOTSTRAP = (Path(__file__).with_name("_bootstrap.py")).read_text(encoding="utf-8")


@dataclass(frozen=True)
class SandboxResult:
    ok: bool                 # exit code 0, no limit hit
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    limit: str | None        # what stopped it: "time", "cpu", "memory", "processes", "output", or None;
                             # "unavailable" when the sandbox itself could not start or, with strict,
                             # lacks a layer (stderr says why; no code ran)
    duration_s: float
    layers: dict[str, object] = field(default_factory=dict)   # what took effect in this run (see layers())


def run_python(code: str, *, timeout: float = 10.0, memory_mb: int = 512, cpu_s: float | None = None,
               files: dict[str, str] | None = None, network: bool = False,
               max_output: int = 64_000, strict: bool = False) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a fresh temp dir (beside ``files``) and return how it ended.

    ``timeout`` is wall time, ``cpu_s`` CPU time (default: the wall timeout), ``max_output``
    the characters kept per stream: going past it stops the code (``limit="output"``).
    ``strict``: run nothing unless every layer took effect (for code a remote client supplied).
    """
    return _run(code, timeout=timeout, memory_mb=memory_mb, cpu_s=cpu_s, files=files, network=network,
                max_output=max_output, strict=strict)


_probed: dict[str, object] | None = None


def layers() -> dict[str, object]:
    """Which containment layers this machine provides, from a trivial run: ``namespaces``,
    ``workdir``, ``uid``, ``capabilities``, ``landlock`` (ABI), ``seccomp``, ``audit``,
    ``missing`` (layer -> why) and ``ok``. A probe that did not finish (a loaded machine) is not
    remembered; each run also reports its own layers in ``SandboxResult.layers``."""
    global _probed
    if _probed is not None:
        return dict(_probed)
    result = _run("pass", timeout=30.0)
    found = {**result.layers, "ok": result.ok}
    if result.ok and "landlock" in result.layers:
        _probed = found
    return dict(found)


def _run(code: str, *, timeout: float = 10.0, memory_mb: int = 512, cpu_s: float | None = None,
         files: dict[str, str] | None = None, network: bool = False, max_output: int = 64_000,
         strict: bool = False, audit: bool = True, landlock: bool = True, seccomp: bool = True,
         namespaces: bool = True) -> SandboxResult:
    """``run_python``; a layer turned off here (``audit``, ``landlock``, ``seccomp``,
    ``namespaces``) lets tests prove that the others hold on their own, and that a missing one is
    reported as the kernel's absence of it would be."""
    if timeout <= 0 or memory_mb <= 0 or max_output <= 0 or (cpu_s is not None and cpu_s <= 0):
        raise ValueError("timeout, memory_mb, cpu_s and max_output must be positive")
    work = Path(tempfile.mkdtemp(prefix="routemate-sandbox-"))
    started = time.monotonic()
    try:
        _populate(work, code, files or {})
        status_r, status_w = os.pipe()
        cfg = {"dir": str(work), "network": network, "memory_mb": memory_mb,
               "cpu_s": cpu_s if cpu_s is not None else timeout, "max_processes": MAX_PROCESSES,
               "file_mb": min(FILE_MB, WORK_MB), "work_mb": WORK_MB, "work_files": WORK_FILES,
               "status_fd": status_w, "strict": strict, "audit": audit, "landlock": landlock, "seccomp": seccomp,
               "namespaces": namespaces}
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
                                 limit="unavailable", duration_s=round(time.monotonic() - started, 4))
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
    duration = round(time.monotonic() - started, 4)
    stdout, stderr = _text(out, max_output), _text(err, max_output)
    rc = proc.returncode
    missing = found.get("missing")
    if rc == REFUSED and not stopped and (found.get("fatal") or (strict and isinstance(missing, dict) and missing)):
        refused = strict and isinstance(missing, dict) and missing
        why = (f"sandbox: {refusal(missing)}" if refused  # type: ignore[arg-type]
               else f"sandbox: cannot run code safely here: {found['fatal']}")
        return SandboxResult(ok=False, returncode=None, stdout="", stderr=why, timed_out=False,
                             limit="unavailable", duration_s=duration, layers=found)
    limit = stopped or _limit_from(rc, stderr)
    return SandboxResult(ok=rc == 0 and limit is None, returncode=rc, stdout=stdout, stderr=stderr,
                         timed_out=stopped == "time", limit=limit, duration_s=duration, layers=found)


ACCEPT_WEAK = "set [verify] allow_weak_sandbox = true to accept the weaker sandbox"


def refusal(missing: Mapping[str, object]) -> str:
    """Why strict mode ran nothing: the missing layers and what to do first (an HTTP header may
    cut what follows), then what the kernel said of each."""
    reasons = "; ".join(f"{layer}: {why}" for layer, why in missing.items())
    return (f"the sandbox lacks {', '.join(missing)}, so code from a remote client is not run; {ACCEPT_WEAK} "
            f"(docs/verify.md) ({reasons})")


def describe(found: Mapping[str, object]) -> str:
    """One line for people: the layers in place or, first, which are missing and why. ``found`` is
    ``layers()`` or a run's ``SandboxResult.layers``."""
    missing = found.get("missing") or {}
    assert isinstance(missing, Mapping)
    if found.get("fatal"):
        lacks = f" (it lacks {', '.join(missing)})" if missing else ""
        return f"cannot run code here{lacks}: {found['fatal']}"
    if "missing" not in found:     # the run ended before the sandbox reported its layers
        return "could not start (no probe run finished)"
    uid = found.get("uid")
    parts = [f"namespaces {found['namespaces']}" if found.get("namespaces") else "",
             f"work dir {found['workdir']}" if found.get("workdir") else "",
             "uid nobody" if uid == NOBODY else f"uid {uid}" if uid is not None else "",
             "no capabilities" if found.get("capabilities") == "none" else "",
             f"Landlock ABI {found['landlock']}" if found.get("landlock") else "",
             "seccomp" if found.get("seccomp") else ""]
    in_place = ", ".join(p for p in parts if p)
    if not missing:
        return f"every layer in place ({in_place})"
    reasons = "; ".join(f"{layer}: {why}" for layer, why in missing.items())
    return f"lacks {', '.join(missing)} ({reasons}); in place: {in_place or 'none'}"


def usable(found: Mapping[str, object]) -> bool:
    """Whether code can run at all in a sandbox whose run reported ``found`` (with whatever layers)."""
    return "missing" in found and not found.get("fatal")


def for_remote_code(found: Mapping[str, object], allow_weak: bool) -> str:
    """What becomes of code a remote client supplied, on a machine whose sandbox is ``found``
    (``layers()``), with ``[verify] allow_weak_sandbox = allow_weak``."""
    missing = found.get("missing") or {}
    if not usable(found):
        return "not run (the sandbox cannot start)"
    if not missing:
        return "runs in the full sandbox"
    if allow_weak:
        return "runs in the weaker sandbox ([verify] allow_weak_sandbox = true)"
    return f"not run ({ACCEPT_WEAK})"


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
    """Delete the work dir without following any link in it. Only directories are descended into,
    each opened relative to its parent with ``O_NOFOLLOW``; a directory the code made unreadable
    is made usable again through its own descriptor, never by path (a path could be swapped for a
    symlink to a file outside)."""
    try:
        top = os.open(work, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        _empty(top)
    finally:
        os.close(top)
    try:
        os.rmdir(work)
    except OSError:
        pass


def _empty(dir_path_fd: int) -> None:
    os.chmod(f"/proc/self/fd/{dir_path_fd}", stat.S_IRWXU)     # the directory itself, through its descriptor
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_path_fd)
    try:
        for entry in list(os.scandir(fd)):
            try:
                if entry.is_dir(follow_symlinks=False):
                    sub = os.open(entry.name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    try:
                        _empty(sub)
                    finally:
                        os.close(sub)
                    os.rmdir(entry.name, dir_fd=fd)
                else:
                    os.unlink(entry.name, dir_fd=fd)
            except OSError:
                pass
    finally:
        os.close(fd)
