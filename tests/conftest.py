"""Shared fixtures. Tests run against real parts: the embedded model, SQLite, real HTTP.

The embedded engine runs SmolLM2-135M in tests (``TEST_WEIGHTS``), whatever the product's default
model is, so the suite stays fast; the few tests of the default model say so. The weights are
fetched once per machine into a cache dir (``ROUTEMATE_TEST_MODELS_DIR`` overrides it) and reused by
every test session; the first session pays ~3 s for the download.
Each test gets its own ``<home>`` in a temp dir, so config, log and environment never leak.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_upstream import FakeUpstream  # noqa: E402
from postgres_server import log_store, pg_url, postgres_server  # noqa: E402,F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
# The full outcome sets and client captures live beside the repository, never inside it; a user's clone
# has none, so tests that need them skip. tests/data/routing holds small real samples for the rest.
SHARED = Path(os.environ.get("ROUTEMATE_SHARED_DATA", REPO.parent / "shared" / "data"))
ROUTING_SAMPLE = Path(__file__).parent / "data" / "routing"
TEST_WEIGHTS = "smollm2-135m"


def models_cache() -> Path:
    """The machine's cache of test weights, shared by every checkout and session."""
    if os.environ.get("ROUTEMATE_TEST_MODELS_DIR"):
        return Path(os.environ["ROUTEMATE_TEST_MODELS_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("routemate", appauthor=False)) / "models"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """A directory holding the verified test weights (fetched on first use)."""
    from routemate.catalog import CATALOG
    from routemate.weights import ensure

    cache = models_cache()
    ensure(CATALOG[TEST_WEIGHTS], cache, progress=False)
    return cache


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full outcome sets and client captures; a test that needs them skips where they are absent."""
    if not SHARED.is_dir():
        pytest.skip(f"needs the shared data sets ({SHARED} absent; set ROUTEMATE_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def routing_sample() -> Path:
    """Small real samples of the outcome sets (tests/data/routing): always present."""
    return ROUTING_SAMPLE


@pytest.fixture
def env(tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment: own home, no config file, no OpenAI key, shared model cache."""
    for var in ("ROUTEMATE_CONFIG", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ROUTEMATE_API_KEYS"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("ROUTEMATE_HOME", str(home))
    monkeypatch.setenv("ROUTEMATE_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("ROUTEMATE_WEIGHTS", TEST_WEIGHTS)
    return dict(os.environ)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def write_config(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Write a config file and point ROUTEMATE_CONFIG at it."""

    def write(text: str) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(text)
        monkeypatch.setenv("ROUTEMATE_CONFIG", str(path))
        env["ROUTEMATE_CONFIG"] = str(path)
        return path

    return write


def hybrid_config(upstream: FakeUpstream, **extra: Any) -> str:
    """The embedded model as local plus the fake upstream as a priced frontier model."""
    lines = [
        "[models.local]", 'backend = "embedded"', 'tier = "local"', "",
        "[models.gpt4o]", 'backend = "openai"', f'base_url = "{upstream.url}"', 'model = "gpt-4o"',
        'api_key_env = "FAKE_OPENAI_KEY"', 'tier = "frontier"', "price_in = 2.5", "price_out = 10.0",
        "max_retries = 2", "timeout = 10",
    ]
    for k, v in extra.items():
        lines.append(f"{k} = {v}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def hybrid(write_config: Callable[[str], Path], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch,
           env: dict[str, str]) -> FakeUpstream:
    """Config with the embedded local model and the fake frontier (key set)."""
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-upstream-secret")
    env["FAKE_OPENAI_KEY"] = "sk-test-upstream-secret"
    write_config(hybrid_config(upstream))
    return upstream


def routemate_without(layer: str) -> list[str]:
    """The command line of ``routemate`` on a machine whose kernel lacks one sandbox layer
    (``landlock``, ``seccomp`` or ``namespaces``): every sandbox run in that process has the layer
    turned off through the sandbox's own switch, and is reported missing the way a kernel's refusal
    is: the same ``missing`` entry, with "turned off" for the kernel's words."""
    code = ("import functools, runpy, sys\n"
            "import routemate.verify.sandbox as sandbox\n"
            f"sandbox._run = functools.partial(sandbox._run, {layer}=False)\n"
            "sys.argv[0] = 'routemate'\n"
            "runpy.run_module('routemate', run_name='__main__', alter_sys=True)\n")
    return [sys.executable, "-c", code]
