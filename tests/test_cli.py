"""The real `routemate` command, run as a subprocess, against the embedded model and the fake frontier."""

import json
import re
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

HARD = "Design a distributed, lock-free job scheduler with consensus across regions; explain the trade-offs."


def cli(*args, env, input="", timeout=120):
    return subprocess.run([sys.executable, "-m", "routemate", *args], env=env, input=input, capture_output=True,
                          text=True, timeout=timeout)


def log_rows(env):
    db = Path(env["ROUTEMATE_HOME"]) / "log.db"
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    return [dict(r) for r in con.execute("SELECT * FROM requests ORDER BY id")]


def test_ask_json_is_exactly_one_object_from_the_embedded_model(env):
    r = cli("ask", "Say hello.", "--json", "--max-tokens", "8", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"answer", "model", "tier", "reason", "usage", "cost_usd", "saved_usd", "latency_ms", "id"}
    assert out["model"] == "local" and out["tier"] == "local" and out["answer"]
    assert 0 < out["usage"]["completion_tokens"] <= 8 and out["usage"]["prompt_tokens"] > 0
    assert out["cost_usd"] == 0 and out["saved_usd"] > 0
    assert log_rows(env)[-1]["entry"] == "cli" and log_rows(env)[-1]["id"] == out["id"]


def test_ask_streams_answer_to_stdout_and_header_to_stderr(env):
    r = cli("ask", "Write a Python function that adds two numbers.", "--max-tokens", "24", env=env)
    assert r.returncode == 0, r.stderr
    header = r.stderr.strip().splitlines()[0]
    assert header.startswith("local (local) · learned: P(local falls short)")
    assert r.stdout.strip() and "tokens" in r.stderr and "saved $" in r.stderr


def test_piped_stdin_and_files_are_part_of_the_prompt(env, tmp_path):
    src = tmp_path / "calc.py"
    src.write_text("def add(a, b):\n    return a - b\n")
    r = cli("ask", "why?", "-f", str(src), "--json", "--max-tokens", "4", env=env,
            input="AssertionError: add(2, 2) == 0\n")
    assert r.returncode == 0, r.stderr
    prompt = log_rows(env)[-1]["prompt"]
    assert "why?" in prompt and "return a - b" in prompt and "```python" in prompt and "AssertionError" in prompt


def test_hard_prompt_goes_to_frontier_when_configured(env, hybrid):
    env = {**os.environ}
    r = cli("ask", HARD, "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "gpt4o" and out["tier"] == "frontier" and out["answer"] == hybrid.reply
    assert out["cost_usd"] > 0


def test_route_json_makes_no_model_call(env, hybrid):
    r = cli("route", HARD, "--json", env={**os.environ})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"model", "tier", "reason", "score"} <= set(out)
    assert out["tier"] == "frontier" and out["score"] >= 0.5
    assert hybrid.requests == [] and not (Path(env["ROUTEMATE_HOME"]) / "log.db").exists()


def test_persona_reaches_the_model(env, hybrid):
    r = cli("ask", "What is a closure?", "--persona", "tutor", "--model", "gpt4o", "--json", env={**os.environ})
    assert r.returncode == 0, r.stderr
    assert "step by step" in hybrid.requests[-1]["body"]["messages"][0]["content"]


def test_models_lists_reachability(env, hybrid):
    r = cli("models", "--json", env={**os.environ})
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    assert rows["local"]["reachable"] and rows["gpt4o"]["reachable"] and rows["gpt4o"]["tier"] == "frontier"
    assert rows["local"]["capabilities"] == ["chat", "completions"]
    assert rows["gpt4o"]["capabilities"] == ["chat", "completions", "json", "tools"]
    down = cli("models", "--json", env={k: v for k, v in os.environ.items() if k != "FAKE_OPENAI_KEY"})
    gpt = {m["name"]: m for m in json.loads(down.stdout)}["gpt4o"]
    assert not gpt["reachable"] and gpt["status"] == "FAKE_OPENAI_KEY is not set"


def test_logs_and_stats_read_back_the_log(env):
    assert cli("ask", "Say hi.", "--json", "--max-tokens", "4", env=env).returncode == 0
    logs = json.loads(cli("logs", "-n", "5", "--json", env=env).stdout)
    assert len(logs) == 1 and logs[0]["model"] == "local" and logs[0]["status"] == "ok"
    stats = json.loads(cli("stats", "--json", env=env).stdout)
    assert stats["requests"] == 1 and stats["models"][0]["share"] == 1.0 and stats["saved_usd"] > 0
    assert "local" in cli("logs", env=env).stdout and "1 requests" in cli("stats", env=env).stdout
    # a terminal of 80 columns still gets one line per request, the reason cut with "…"
    narrow = cli("logs", env={**env, "COLUMNS": "80"}).stdout.splitlines()
    rows = [line for line in narrow if line.strip().startswith("1 ")]
    assert len(rows) == 1 and "local" in rows[0] and rows[0].rstrip().endswith("…") and len(rows[0]) <= 80


def test_init_writes_a_config_that_loads(env):
    r = cli("init", env=env)
    assert r.returncode == 0 and Path(r.stdout.strip()).exists()
    again = cli("init", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    assert "gpt4o" in cli("models", "--json", env=env).stdout


@pytest.mark.parametrize("config, words", [
    ("[models.local]\nbackend = \"embeded\"\n", "models.local.backend"),
    ("[models.local\n", "not valid TOML"),
])
def test_broken_config_is_one_line_without_traceback(env, tmp_path, config, words):
    path = tmp_path / "bad.toml"
    path.write_text(config)
    r = cli("ask", "hi", env={**env, "ROUTEMATE_CONFIG": str(path)})
    assert r.returncode == 2 and words in r.stderr and str(path) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, words", [
    (["ask", "hi", "--model", "gpt5"], "unknown model 'gpt5'"),
    (["ask", "hi", "--persona", "pirate"], "unknown persona 'pirate'"),
    (["ask", "hi", "-f", "/nonexistent/file.py"], "cannot read /nonexistent/file.py"),
    (["ask"], "nothing to ask"),
    (["ask", "  "], "nothing to ask"),
    (["route", ""], "nothing to route"),
])
def test_bad_input_is_one_actionable_line(env, args, words):
    r = cli(*args, env=env)
    assert r.returncode == 1 and words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_no_model_reachable_says_what_to_configure(env, write_config):
    write_config('[models.gpt4o]\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                 'api_key_env = "NOPE_KEY"\ntier = "frontier"\n')
    r = cli("ask", "hi", env={**os.environ})
    assert r.returncode == 1 and "NOPE_KEY is not set" in r.stderr and "routemate models" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_ctrl_c_while_streaming_exits_cleanly_and_logs_cancelled(env):
    # a shell that started the suite in the background (CI runners, nohup) ignores SIGINT and every child
    # inherits that; a user's Ctrl-C reaches a foreground routemate with SIGINT at its default
    proc = subprocess.Popen([sys.executable, "-m", "routemate", "ask", "Write a very long story about a ship.",
                             "--max-tokens", "2000"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = proc.stdout.read(1)        # wait for the first streamed character
    assert first
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "cancelled" in err and "Traceback" not in err, (proc.returncode, err)
    row = log_rows(env)[-1]
    assert row["status"] == "cancelled" and row["completion_tokens"] > 0


def test_chat_repl_keeps_history_and_switches_models(env, hybrid):
    r = cli("chat", "--max-tokens", "6", env={**os.environ},
            input="Say hi.\n/model gpt4o\nAnd again?\n/model nope\n/exit\n")
    assert r.returncode == 0, r.stderr
    assert hybrid.reply in r.stdout and "unknown model 'nope'" in r.stderr
    sent = hybrid.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"] and sent[0]["content"] == "Say hi."
    assert [row["entry"] for row in log_rows(env)] == ["chat", "chat"]


def test_the_default_coder_model_writes_a_simple_function_that_passes_its_checks(env):
    """The one test of the product's default weights (qwen2.5-coder-0.5b, fetched once into the test cache);
    every other test runs the small test weights."""
    default = {k: v for k, v in env.items() if k != "ROUTEMATE_WEIGHTS"}
    ask = ("Write a Python function is_palindrome(s) that returns True when the string s reads the same forwards "
           'and backwards.\n>>> is_palindrome("racecar")\nTrue\n>>> is_palindrome("ab")\nFalse')
    r = cli("ask", ask, "--json", env=default, timeout=900)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "local" and "def is_palindrome" in out["answer"]
    # settled by its first answer (2/2 examples), or picked among the samples when that one fails
    assert out["verified"]["ok"] and re.search(r"2(/2)? examples (from the prompt )?pass", out["verification"]), \
        out["verification"]
    assert log_rows(default)[-1]["model"] == "local"


def test_help_text_keeps_bracketed_config_sections(env):
    from routemate.cli import _register, app

    _register([])
    groups = [app] + [g.typer_instance for g in app.registered_groups]
    assert all(g.rich_markup_mode is None for g in groups), "rich markup would eat [section] names in help"
    r = cli("ask", "--help", env=env)
    assert "([verify] enabled = true)" in " ".join(r.stdout.split())


def test_a_command_of_the_cli_module_starts_without_the_other_command_modules():
    probe = ("import sys; from routemate import cli; cli._register(sys.argv[1:]); "
             "print(sorted(m for m in sys.modules if m.startswith('routemate.commands.')))")
    ask = subprocess.run([sys.executable, "-c", probe, "ask", "hi"], capture_output=True, text=True, check=True)
    assert ask.stdout.strip() == "[]"
    serve = subprocess.run([sys.executable, "-c", probe, "serve"], capture_output=True, text=True, check=True)
    assert "routemate.commands.serve" in serve.stdout and "routemate.commands.bench" in serve.stdout
