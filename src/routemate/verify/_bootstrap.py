"""Runs inside the sandbox's fresh interpreter (passed with ``-c``), before the untrusted code.

It must import nothing from routemate (the child interpreter is isolated) and nothing heavy. Its
job, in order: leave the network and PID namespaces (kernel permitting), drop root, set resource
limits, fence file writes with Landlock, install the audit-hook tripwires, then run ``main.py``.
The supervising process (the one the caller started) reports which layers took effect on an
extra file descriptor, so the caller can say honestly how the code was contained.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x10000000, 0x40000000, 0x20000000
PR_SET_PDEATHSIG, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS = 1, 8, 38
CAP_DAC_READ_SEARCH = 2
NOBODY = 65534
MiB = 1024 * 1024

cfg = json.loads(sys.argv[1])
work = cfg["dir"]
layers = {"namespaces": None, "uid": None, "landlock": None, "audit": cfg["audit"]}
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
os.chdir(work)


def _write(path, data):
    with open(path, "w") as fh:
        fh.write(data)


def enter_namespaces():
    """A net namespace has only a loopback that is down: no connection can leave it. A PID
    namespace makes the code PID 1, so every process it starts dies with it."""
    flags = CLONE_NEWPID | (0 if cfg["network"] else CLONE_NEWNET)
    if os.geteuid() == 0:
        if libc.unshare(flags) == 0:
            return "pid" + ("" if cfg["network"] else "+net")
        return None
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(flags | CLONE_NEWUSER) != 0:
        return None
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        return None
    return "user+pid" + ("" if cfg["network"] else "+net")


def count_processes(uid):
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_root():
    """Root runs the code as ``nobody``, keeping only CAP_DAC_READ_SEARCH: the interpreter and the
    stdlib may live in a directory only root can read (e.g. under /root), but nothing may be
    written outside the work dir and RLIMIT_NPROC applies (it never does to root)."""
    if os.geteuid() != 0:
        return
    libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    header = _CapHeader(0x20080522, 0)   # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)(_CapData(1 << CAP_DAC_READ_SEARCH, 1 << CAP_DAC_READ_SEARCH, 0), _CapData(0, 0, 0))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def set_limits(nproc):
    mem = cfg["memory_mb"] * MiB
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = max(1, int(cfg["cpu_s"] + 0.999))
    # soft == hard: the kernel then sends SIGKILL, which PID 1 of a namespace cannot ignore
    # (SIGXCPU, sent at a lower soft limit, would be dropped for PID 1 without a handler)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_mb"] * MiB, cfg["file_mb"] * MiB))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


# Landlock (Linux >= 5.13): unprivileged, kernel-enforced. Writes, removals, node creation and
# program execution are "handled"; the only rules grant them beneath the work dir (and writes to
# /dev/null). Reading stays allowed everywhere: the stdlib must load.
LL_EXECUTE, LL_WRITE_FILE = 1 << 0, 1 << 1
LL_WRITES = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))   # write, remove, make-*
LL_REFER, LL_TRUNCATE = 1 << 13, 1 << 14
LL_NET_BIND_TCP, LL_NET_CONNECT_TCP = 1 << 0, 1 << 1
LL_SCOPE_SIGNAL = 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


def landlock(netns):
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return None
    fs = LL_WRITES | LL_EXECUTE | (LL_REFER if abi >= 2 else 0) | (LL_TRUNCATE if abi >= 3 else 0)
    net = (LL_NET_BIND_TCP | LL_NET_CONNECT_TCP) if abi >= 4 and not cfg["network"] and not netns else 0
    scoped = LL_SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return None
    try:
        rules = [(work, fs & ~LL_EXECUTE), ("/dev/null", LL_WRITE_FILE | (LL_TRUNCATE if abi >= 3 else 0))]
        # the interpreter may re-exec itself (multiprocessing's spawn); nothing else may run
        rules.append((os.path.realpath(sys.executable), LL_EXECUTE))
        for path, allowed in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(allowed, fd)
                if libc.syscall(445, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule),
                                ctypes.c_uint32(0)) != 0:
                    return None
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return None
        if libc.syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return None
    finally:
        os.close(ruleset)
    return abi


# Audit hooks: a tripwire that turns the common accidents (and naive attacks) into a clear
# PermissionError. They are not a security boundary: C code (ctypes, extensions) can step around
# them, which is why the kernel layers above come first.
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
WORK = os.path.realpath(work)
PATH_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.chmod": (0,),
               "os.chown": (0,), "os.symlink": (1,), "os.link": (1,), "os.truncate": (0,), "os.utime": (0,),
               "os.mkfifo": (0,), "os.mknod": (0,), "os.removexattr": (0,), "os.setxattr": (0,),
               "shutil.rmtree": (0,), "os.chflags": (0,), "os.lchflags": (0,)}
SPAWN_EVENTS = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "os.forkpty",
                "pty.spawn"}
CTYPES_EVENTS = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function"}


def _inside(path):
    if isinstance(path, int) or path is None:
        return True
    path = os.fsdecode(path)
    real = os.path.realpath(path)
    return real == WORK or real.startswith(WORK + os.sep) or real == "/dev/null"


def make_hook(block_network):
    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (mode and any(c in mode for c in "wax+")) or (flags and flags & WRITE_FLAGS)
            if writes and not _inside(path):
                raise PermissionError(f"sandbox: writing outside the working directory is not allowed: {path}")
        elif event in PATH_EVENTS:
            for i in PATH_EVENTS[event]:
                if i < len(args) and not _inside(args[i]):
                    raise PermissionError(f"sandbox: changing files outside the working directory is not "
                                          f"allowed: {args[i]}")
        elif event in SPAWN_EVENTS:
            raise PermissionError("sandbox: starting programs is not allowed")
        elif event in CTYPES_EVENTS:
            raise PermissionError("sandbox: ctypes is not allowed")
        elif block_network and event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
                                         "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
            raise PermissionError("sandbox: network access is disabled")
    return hook


def supervise(child, status_fd):
    """PID 1 of the namespace is our child; we stay outside it to relay how it ended."""
    os.write(status_fd, (json.dumps(layers) + "\n").encode())
    os.close(status_fd)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status))


def main():
    status_fd = cfg["status_fd"]
    layers["namespaces"] = enter_namespaces()
    target = NOBODY if os.geteuid() == 0 else os.geteuid()
    layers["uid"] = target
    # RLIMIT_NPROC counts every process of the user. Inside a fresh user namespace that is only
    # this sandbox; otherwise it is everything the user already runs, so allow for those.
    shared = not (layers["namespaces"] or "").startswith("user")
    nproc = cfg["max_processes"] + (count_processes(target) if shared else 0)
    child = os.fork()
    if child:
        supervise(child, status_fd)
    drop_root()
    if layers["namespaces"]:
        # the supervisor dying (timeout kill) takes PID 1, and with it the whole namespace
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    set_limits(nproc)
    netns = "net" in (layers["namespaces"] or "")
    child_layers = {"landlock": landlock(netns) if cfg["landlock"] else None}
    os.write(status_fd, (json.dumps(child_layers) + "\n").encode())
    os.close(status_fd)
    if cfg["audit"]:
        sys.addaudithook(make_hook(not cfg["network"]))
    run_main()


def run_main():
    import traceback
    import types

    del sys.argv[1:]
    sys.argv[0] = "main.py"
    sys.path.insert(0, work)
    sys.dont_write_bytecode = True
    module = types.ModuleType("__main__")
    module.__file__ = os.path.join(work, "main.py")
    sys.modules["__main__"] = module
    with open("main.py", encoding="utf-8") as fh:
        source = fh.read()
    try:
        exec(compile(source, "main.py", "exec"), module.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        # start the traceback at the code under test, not at this bootstrap
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        sys.exit(1)


main()
