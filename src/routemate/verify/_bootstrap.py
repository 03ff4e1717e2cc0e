"""Runs inside the sandbox's fresh interpreter (passed with ``-c``), before the untrusted code.

It must import nothing from routemate (the child interpreter is isolated) and nothing heavy. In
order: enter new namespaces (PID, network, mount, IPC; through a user namespace when not root),
give the code a private size-limited tmpfs as its work dir and, as root, a view of the interpreter
that ``nobody`` can read; drop every capability (root becomes ``nobody``); set resource limits;
fence reads, writes and execution with Landlock; filter system calls with seccomp; then run
``main.py``. Each layer reports whether it took effect on an extra file descriptor, and with
``strict`` the code does not run at all when one is missing.
"""

import ctypes
import json
import os
import resource
import signal
import struct
import sys

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x20000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
NAMESPACE_FLAGS = 0x7E020080    # every CLONE_NEW* flag (NS, CGROUP, UTS, IPC, USER, PID, NET, TIME)
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 24, 38, 22
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 32, 4096, 16384, 1 << 18
MS_RDONLY = 1
NOBODY = 65534
REFUSED = 125        # exit status of a run that a missing layer stopped before any code ran
MiB = 1024 * 1024

cfg = json.loads(sys.argv[1])
work = cfg["dir"]
layers = {"audit": bool(cfg["audit"])}
missing = {}
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
os.chdir(work)


def _errno(what):
    return f"{what}: {os.strerror(ctypes.get_errno())}"


def _write(path, data):
    with open(path, "w") as fh:
        fh.write(data)


def enter_namespaces():
    """PID (the code is PID 1: what it starts dies with it), network (only a loopback that is
    down), mount (a private work dir) and IPC (no host shared memory). Root enters them directly;
    other users through a user namespace that maps only their own uid."""
    flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | (0 if cfg["network"] else CLONE_NEWNET)
    names = "pid" + ("" if cfg["network"] else "+net") + "+mount+ipc"
    if not cfg["namespaces"]:
        missing["namespaces"] = "turned off"
        return None
    if os.geteuid() == 0:
        if libc.unshare(flags) == 0:
            return names
        missing["namespaces"] = _errno("unshare")
        return None
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(flags | CLONE_NEWUSER) != 0:
        missing["namespaces"] = _errno("unshare of a user namespace") + " (unprivileged user namespaces are off)"
        return None
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        missing["namespaces"] = f"user namespace id map: {exc.strerror}"
        return None
    return "user+" + names


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


# -- the file system the code sees ---------------------------------------------------------------------

def read_paths():
    """What the code may read: the interpreter's standard library and installed packages (the
    entries of its isolated ``sys.path`` inside its installation), the shared libraries extension
    modules load, time zones, and the interpreter itself (for multiprocessing's spawn)."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    found = []
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and os.path.isdir(real) and any(real == p or real.startswith(p + os.sep) for p in prefixes):
            found.append(real)
    for path in ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/share/zoneinfo"):
        if os.path.isdir(path):
            found.append(os.path.realpath(path))
    files = [os.path.realpath(sys.executable)]
    for path in ("/etc/ld.so.cache", "/etc/localtime", os.path.join(sys.prefix, "pyvenv.cfg")):
        if os.path.isfile(path):
            files.append(os.path.realpath(path))
    return sorted(set(found)), sorted(set(files))


def _nobody_can_traverse(path):
    """The highest ancestor of ``path`` that ``nobody`` cannot enter (None if it can reach it)."""
    parts = path.strip("/").split("/")
    for i in range(len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        try:
            st = os.stat(ancestor)
        except OSError:
            return None
        if not (st.st_mode & 0o001 or st.st_uid == NOBODY):
            return ancestor
    return None


def expose(dirs, files):
    """Root runs the code as ``nobody``, which may not reach an interpreter installed under a
    private directory (``/root/.pyenv``, ``/root/.local/share/uv``). Over each such directory goes
    an empty tmpfs holding read-only bind mounts of exactly the paths the code may read: the rest
    of it disappears from the code's view."""
    blocked = {}
    for path in dirs + [os.path.dirname(f) for f in files]:
        top = _nobody_can_traverse(path)
        if top is not None and top != path:
            blocked.setdefault(top, set()).add(path)
    for top, paths in blocked.items():
        paths = sorted(p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths))
        fds = [os.open(p, os.O_PATH | os.O_CLOEXEC) for p in paths]
        try:
            if libc.mount(b"tmpfs", top.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k") != 0:
                raise OSError(ctypes.get_errno(), _errno(f"tmpfs over {top}"))
            for path, fd in zip(paths, fds):
                os.makedirs(path, mode=0o755, exist_ok=True)
                source = f"/proc/self/fd/{fd}".encode()
                if libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None) != 0 or \
                        libc.mount(None, path.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None) != 0:
                    raise OSError(ctypes.get_errno(), _errno(f"bind mount of {path}"))
        finally:
            for fd in fds:
                os.close(fd)


def caller_files():
    """The files the caller wrote into the work dir, read before a tmpfs covers it."""
    files = {}
    for root, _, names in os.walk(work):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                files[os.path.relpath(path, work)] = fh.read()
    return files


def mount_work(files, uid, gid):
    """The work dir becomes a tmpfs of its own (``work_mb`` MB, ``work_files`` files at most)
    holding the caller's files: other runs cannot see it, the disk cannot fill up, and whatever
    the code leaves there vanishes with the namespace, so clean-up never touches it."""
    os.makedirs(work, mode=0o700, exist_ok=True)
    options = f"size={cfg['work_mb']}m,nr_inodes={cfg['work_files']},mode=0700,uid={uid},gid={gid}"
    if libc.mount(b"tmpfs", work.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.encode()) != 0:
        raise OSError(ctypes.get_errno(), _errno("tmpfs work dir"))
    os.chdir(work)
    for rel, data in files.items():
        os.makedirs(os.path.dirname(rel) or ".", exist_ok=True)
        with open(rel, "wb") as fh:
            fh.write(data)
    for root, dirs, names in os.walk(work):
        for name in [*dirs, *names]:
            os.lchown(os.path.join(root, name), uid, gid)


def set_up_mounts(target):
    """In the new mount namespace: nothing propagates back to the host, a fresh /proc shows only
    this PID namespace, root's code gets its interpreter exposed, and the work dir is private."""
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        missing["workdir"] = _errno("private mounts")
        return None
    files = caller_files()
    if os.geteuid() == 0 and target == NOBODY:
        try:
            expose(*read_paths())
        except OSError as exc:
            missing["view"] = str(exc.strerror or exc)
    libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)   # best effort
    try:
        mount_work(files, target, os.getgid() if target != NOBODY else NOBODY)
    except OSError as exc:
        missing["workdir"] = str(exc.strerror or exc)
        return None
    return f"tmpfs {cfg['work_mb']} MB"


# -- privileges -------------------------------------------------------------------------------------------

class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges(target):
    """No capability survives, in the host's namespace or in the code's own user namespace: not
    CAP_DAC_READ_SEARCH (read any file, open_by_handle_at), not CAP_SYS_ADMIN (mount). Root becomes
    ``nobody``; the bounding set is emptied so nothing can be regained."""
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)      # without keep-caps: every capability goes with uid 0
    header = _CapHeader(0x20080522, 0)            # _LINUX_CAPABILITY_VERSION_3
    libc.capset(ctypes.byref(header), (_CapData * 2)())
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0 or any(d.effective or d.permitted for d in data):
        missing["capabilities"] = "some capabilities could not be dropped"
        return False
    return os.getuid() == target


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


# -- Landlock (Linux >= 5.13, unprivileged, kernel-enforced) ------------------------------------------------
# Every file access it knows is "handled", so denied unless a rule grants it: reading beneath the
# interpreter's own directories and the shared libraries, reading and writing beneath the work dir,
# writing /dev/null, running the interpreter. TCP is denied without ``network``; abstract Unix
# sockets and signals may not reach outside the sandbox (ABI 6).
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
LL_ABI_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
LL_READ = LL_READ_FILE | LL_READ_DIR
LL_NET_BIND_TCP, LL_NET_CONNECT_TCP = 1 << 0, 1 << 1
LL_SCOPE_ABSTRACT_UNIX, LL_SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


def landlock():
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        missing["landlock"] = "the kernel has no Landlock (Linux 5.13+, enabled in the LSM list)"
        return None
    fs = LL_ABI_FS[max(k for k in LL_ABI_FS if k <= abi)]
    net = (LL_NET_BIND_TCP | LL_NET_CONNECT_TCP) if abi >= 4 and not cfg["network"] else 0
    scoped = (LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    ruleset = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(24 if abi >= 6 else 16 if abi >= 4 else 8),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        missing["landlock"] = _errno("landlock_create_ruleset")
        return None
    dirs, files = read_paths()
    rules = [(work, fs & ~LL_EXECUTE), ("/dev/null", LL_READ_FILE | LL_WRITE_FILE | (1 << 14 if abi >= 3 else 0))]
    rules += [(d, LL_READ) for d in dirs] + [(f, LL_READ_FILE) for f in files]
    rules += [(dev, LL_READ_FILE) for dev in ("/dev/zero", "/dev/urandom", "/dev/random")]
    rules.append((os.path.realpath(sys.executable), LL_EXECUTE | LL_READ_FILE))
    try:
        for path, allowed in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue            # a device or library dir this system does not have
            try:
                if not os.path.isdir(path):
                    allowed &= LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | (1 << 14) | (1 << 15)
                rule = _PathBeneath(allowed & fs, fd)
                if libc.syscall(445, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)):
                    missing["landlock"] = _errno(f"landlock rule for {path}")
                    return None
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(446, ctypes.c_int(ruleset),
                                                                            ctypes.c_uint32(0)) != 0:
            missing["landlock"] = _errno("landlock_restrict_self")
            return None
    finally:
        os.close(ruleset)
    return int(abi)


# -- seccomp: system calls no checked code needs, denied by a BPF filter ------------------------------------
# Unix sockets (a host's ssh-agent, docker.sock, D-Bus: Landlock does not cover connecting to
# them), new namespaces (a user namespace would hand the code every capability inside it),
# tracing, keyrings, mounts, BPF, io_uring, perf, kernel modules and clocks.
ARCHES = {  # machine: (AUDIT_ARCH, syscall numbers)
    "x86_64": (0xC000003E, dict(
        socket=41, socketpair=53, clone=56, clone3=435,
        deny=[101, 310, 311, 312, 438, 272, 308, 165, 166, 155, 161, 428, 429, 430, 431, 432, 433, 442, 250, 248,
              249, 321, 298, 323, 425, 426, 427, 303, 304, 103, 163, 167, 168, 169, 170, 171, 175, 176, 313, 246,
              320, 179, 164, 227, 305, 159, 153, 172, 173, 154, 134])),
    "aarch64": (0xC00000B7, dict(
        socket=198, socketpair=199, clone=220, clone3=435,
        deny=[117, 270, 271, 272, 438, 97, 268, 40, 39, 41, 51, 428, 429, 430, 431, 432, 433, 442, 219, 217, 218,
              280, 241, 282, 425, 426, 427, 264, 265, 116, 89, 224, 225, 142, 161, 162, 105, 106, 273, 104, 294,
              60, 170, 112, 266, 171, 58])),
}
AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM = 1, 2, 10, 1
EPERM, ENOSYS = 1, 38
RET_ALLOW, RET_ERRNO, RET_KILL = 0x7FFF0000, 0x00050000, 0x80000000


def _bpf(code, k=0, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)


LD_W_ABS, JEQ, JSET, JGE, RET, AND = 0x20, 0x15, 0x45, 0x35, 0x06, 0x54
ARG0, ARG1 = 16, 24        # offsets in struct seccomp_data (low 32 bits, little-endian)


def seccomp_program(arch, nr):
    def deny(errno=EPERM):
        return [_bpf(RET, RET_ERRNO | errno)]

    clone = [_bpf(LD_W_ABS, ARG0), _bpf(JSET, NAMESPACE_FLAGS, 0, 1), *deny(), _bpf(RET, RET_ALLOW)]
    socket = [_bpf(LD_W_ABS, ARG0), _bpf(JEQ, AF_INET, 2, 0), _bpf(JEQ, AF_INET6, 1, 0), *deny(),
              _bpf(RET, RET_ALLOW)]
    # a connected pair of stream sockets (asyncio's self-pipe) reaches nothing outside
    pair = [_bpf(LD_W_ABS, ARG0), _bpf(JEQ, AF_UNIX, 0, 3), _bpf(LD_W_ABS, ARG1), _bpf(AND, 0xF),
            _bpf(JEQ, SOCK_STREAM, 1, 0), *deny(), _bpf(RET, RET_ALLOW)]
    blocks = [(nr["clone"], clone), (nr["socket"], socket), (nr["socketpair"], pair), (nr["clone3"], deny(ENOSYS))]
    blocks += [(n, deny()) for n in nr["deny"]]
    prog = [_bpf(LD_W_ABS, 4), _bpf(JEQ, arch, 1, 0), _bpf(RET, RET_KILL), _bpf(LD_W_ABS, 0)]
    if arch == ARCHES["x86_64"][0]:
        prog += [_bpf(JGE, 0x40000000, 0, 1), *deny()]      # the x32 ABI
    for number, block in blocks:
        prog += [_bpf(JEQ, number, 0, len(block)), *block]
    prog.append(_bpf(RET, RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp():
    machine = os.uname().machine
    if machine not in ARCHES:
        missing["seccomp"] = f"no system-call filter for {machine}"
        return False
    program = seccomp_program(*ARCHES[machine])
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(fprog), 0, 0) != 0:
        missing["seccomp"] = _errno("seccomp filter")
        return False
    return True


# -- audit hooks: a tripwire for clear errors, not a boundary -------------------------------------------------

def make_hook(block_network, inside_dir):
    """Turns the common accidents (and naive attacks) into a clear PermissionError. C code can step
    around it, which is why the kernel layers above come first. Everything it needs is bound here,
    so rebinding the bootstrap's globals from a frame walk changes nothing."""
    realpath, fsdecode, sep = os.path.realpath, os.fsdecode, os.sep
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    path_events = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.chmod": (0,),
                   "os.chown": (0,), "os.symlink": (1,), "os.link": (1,), "os.truncate": (0,), "os.utime": (0,),
                   "os.mkfifo": (0,), "os.mknod": (0,), "os.removexattr": (0,), "os.setxattr": (0,),
                   "shutil.rmtree": (0,), "os.chflags": (0,), "os.lchflags": (0,)}
    spawn_events = frozenset({"os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "os.forkpty",
                              "pty.spawn"})
    ctypes_events = frozenset({"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function"})
    unix_events = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"})
    net_events = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                            "socket.gethostbyname", "socket.gethostbyaddr"})

    def inside(path):
        if isinstance(path, int) or path is None:
            return True
        real = realpath(fsdecode(path))
        return real == inside_dir or real.startswith(inside_dir + sep) or real == "/dev/null"

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (mode and any(c in mode for c in "wax+")) or (flags and flags & write_flags)
            if writes and not inside(path):
                raise PermissionError(f"sandbox: writing outside the working directory is not allowed: {path}")
        elif event in path_events:
            for i in path_events[event]:
                if i < len(args) and not inside(args[i]):
                    raise PermissionError(f"sandbox: changing files outside the working directory is not "
                                          f"allowed: {args[i]}")
        elif event in spawn_events:
            raise PermissionError("sandbox: starting programs is not allowed")
        elif event in ctypes_events:
            raise PermissionError("sandbox: ctypes is not allowed")
        elif event in unix_events and len(args) > 1 and isinstance(args[1], (str, bytes)):
            raise PermissionError("sandbox: Unix sockets are not allowed")
        elif block_network and event in net_events:
            raise PermissionError("sandbox: network access is disabled")
    return hook


def supervise(child, status_fd):
    """PID 1 of the namespace is our child; we stay outside it to relay how it ended."""
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


def report(status_fd):
    """Say which layers took effect; with ``strict``, stop here if any is missing."""
    layers["missing"] = missing
    os.write(status_fd, (json.dumps(layers) + "\n").encode())
    os.close(status_fd)
    if (cfg["strict"] and missing) or "fatal" in layers:
        os._exit(REFUSED)


def main():
    status_fd = cfg["status_fd"]
    namespaces = layers["namespaces"] = enter_namespaces()
    target = NOBODY if os.geteuid() == 0 else os.geteuid()
    layers["uid"] = target
    # RLIMIT_NPROC counts every process of the user. Inside a fresh user namespace that is only
    # this sandbox; otherwise it is everything the user already runs, so allow for those.
    shared = not (namespaces or "").startswith("user")
    nproc = cfg["max_processes"] + (count_processes(target) if shared else 0)
    child = os.fork()
    if child:
        supervise(child, status_fd)
    if namespaces:
        # the supervisor dying (timeout kill) takes PID 1, and with it the whole namespace
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        layers["workdir"] = set_up_mounts(target)
    else:
        layers["workdir"] = None
        missing.setdefault("workdir", "no mount namespace: the work dir is a host directory without a size limit")
        if target == NOBODY:
            dirs, _ = read_paths()
            hidden = [d for d in dirs if _nobody_can_traverse(d) is not None]
            if hidden:
                # without a mount namespace there is no way to show nobody the interpreter
                layers["fatal"] = (f"the interpreter's files ({hidden[0]}) are in a directory that nobody cannot "
                                   f"enter, and without a mount namespace the sandbox cannot expose them; run "
                                   f"routemate with a Python installed outside it (e.g. /usr/local or /usr)")
            os.chown(work, NOBODY, NOBODY)
            for root, dirs, names in os.walk(work):
                for name in [*dirs, *names]:
                    os.lchown(os.path.join(root, name), NOBODY, NOBODY)
    layers["capabilities"] = "none" if drop_privileges(target) else "kept"
    set_limits(nproc)
    layers["landlock"] = landlock() if cfg["landlock"] else None
    layers["seccomp"] = seccomp() if cfg["seccomp"] else False
    if not cfg["landlock"]:
        missing["landlock"] = "turned off"
    if not cfg["seccomp"]:
        missing["seccomp"] = "turned off"
    report(status_fd)
    if cfg["audit"]:
        sys.addaudithook(make_hook(not cfg["network"], os.path.realpath(work)))
    run_main()


def run_main():
    import traceback
    import types

    del sys.argv[1:]
    sys.argv[0] = "main.py"
    sys.path[:] = [work] + [p for p in sys.path if p]
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
