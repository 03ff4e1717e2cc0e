"""`routemate ask` with verification, through the real command and fake upstreams."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import routemate_without
from test_verified import BAD, GOOD, PRINTS_ONLY, PROMPT, REVERSE, local_fake, two_fakes  # noqa: F401  (fixtures)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "routemate", *args], env={**os.environ}, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_verified_answer_shows_how_it_was_checked(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = GOOD
    r = cli("ask", PROMPT)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("llama (local) · rules: task=generate")
    assert lines[1] == "✓ verified: parses, defines zork(n), 2/2 examples from the prompt pass · settled by the first sample"
    assert "def zork(n)" in r.stdout and "verified" not in r.stdout
    assert "weaker sandbox" not in r.stderr, "every sandbox layer is in place here"
    # a first answer that fails: three more samples, and the one picked says how
    local.requests.clear()
    local.replies = [BAD, GOOD, GOOD, GOOD]
    r = cli("ask", PROMPT)
    lines = r.stderr.strip().splitlines()
    assert lines[1].startswith("✓ verified: 3 of 4 samples agree on ") and "; 2 examples pass · confidence" in lines[1]
    assert [q["body"].get("n", 1) for q in local.requests] == [1, 3] and "return 'qx' + str(n + 4)" in r.stdout


def test_an_answer_checked_in_a_weaker_sandbox_says_which_layer_it_lacked(two_fakes: Any) -> None:
    """On a kernel without Landlock the user's own request still runs (they asked, on their machine),
    and the verdict line names the layer the code ran without."""
    local, _ = two_fakes
    local.reply = GOOD
    r = subprocess.run([*routemate_without("landlock"), "ask", PROMPT], env={**os.environ},
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    verdict = r.stderr.strip().splitlines()[1]
    assert verdict.startswith("✓ verified: parses, defines zork(n)") and verdict.endswith(
        "· weaker sandbox: lacks landlock"), r.stderr
    r = subprocess.run([*routemate_without("landlock"), "ask", PROMPT, "--json"], env={**os.environ},
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert json.loads(r.stdout)["verified"]["sandbox_missing"] == {"landlock": "turned off"}


def test_escalation_is_visible_and_costs_both_attempts(two_fakes: Any) -> None:
    r = cli("ask", PROMPT, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "gpt4o" and out["verified"]["ok"] is True
    assert [a["model"] for a in out["attempts"]] == ["llama", "gpt4o"]
    assert out["verification"].startswith("llama failed (2/2 examples from the prompt fail) → escalated")
    assert out["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in out["attempts"]))


def test_after_an_escalation_the_time_shown_is_the_whole_wait(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.script.append("timeout")          # the cheap model takes 1.5 s, then answers wrongly
    local.hang = 1.5
    r = cli("ask", PROMPT, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [a["model"] for a in out["attempts"]] == ["llama", "gpt4o"]
    assert out["latency_ms"] >= 1500, "the user waited for both attempts and the checks"
    local.script.append("timeout")
    r = cli("ask", PROMPT)
    footer = next(line for line in r.stderr.splitlines() if " tokens · $" in line)
    assert float(re.search(r"· ([0-9.]+)s", footer).group(1)) >= 1.5, r.stderr


def test_user_test_file_is_run(two_fakes: Any, tmp_path: Path) -> None:
    local, _ = two_fakes
    local.reply = "```python\ndef double(x):\n    return x * 2\n```"
    tests = tmp_path / "test_double.py"
    tests.write_text("from solution import double\n\ndef test_it():\n    assert double(4) == 8\n")
    r = cli("ask", "Write a Python function double(x).", "--test", str(tests))
    assert r.returncode == 0, r.stderr
    assert "1/1 of your tests pass" in r.stderr


def test_no_verify_streams_unchecked(two_fakes: Any) -> None:
    r = cli("ask", PROMPT, "--no-verify")
    assert r.returncode == 0, r.stderr
    assert "verified" not in r.stderr and BAD.splitlines()[0] in r.stdout


def test_broken_test_file_is_one_actionable_line(two_fakes: Any, tmp_path: Path) -> None:
    bad = tmp_path / "t.py"
    bad.write_text("def test(:\n")
    r = cli("ask", PROMPT, "--test", str(bad))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "not valid Python" in r.stderr and "Traceback" not in r.stderr
    r = cli("ask", PROMPT, "--test", str(tmp_path / "missing.py"))
    assert r.returncode == 1 and "cannot read test file" in r.stderr
    r = cli("ask", PROMPT, "--test", str(bad), "--no-verify")
    assert r.returncode == 1 and "--test needs verification" in r.stderr


def test_help_says_verification_is_on_by_default_and_how_to_turn_it_off() -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "ask", "--help"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "500"}, timeout=60)
    text = " ".join(r.stdout.replace("│", " ").split())
    assert "--verify" in text and "--no-verify" in text and "On by default for requests that write code" in text


def test_with_nowhere_to_escalate_the_embedded_model_still_picks_among_samples(env: dict[str, str],
                                                                              write_config: Any) -> None:
    # only the embedded model: its samples are run and one is picked; how it was chosen comes first
    write_config("[verify]\nsamples = 2\n")
    r = cli("ask", "Write a Python function add(a, b).\nassert add(1, 2) == 3", "--max-tokens", "48", timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("local (local)")
    assert lines[1].startswith(("✓ ", "✗ ", "○ ")) and ("2 samples" in lines[1] or "of 2 samples" in lines[1])
    if lines[1].startswith("✗"):     # an untrusted answer says why it stays: nothing stronger is configured
        assert "no model stronger than local is available to escalate to" in r.stderr
    assert r.stdout.strip()


def test_a_single_sample_streams_live_and_is_checked_after(env: dict[str, str], write_config: Any) -> None:
    write_config("[verify]\nsamples = 1\n")
    r = cli("ask", "Write a Python function add(a, b).\nassert add(1, 2) == 3", "--max-tokens", "48", timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("local (local)")
    footer = next(i for i, line in enumerate(lines) if "tokens" in line)
    assert lines[footer + 1].startswith(("✓ verified", "✗ not verified", "○ not run"))
    assert r.stdout.strip()


def test_a_failing_answer_that_cannot_escalate_says_what_failed_and_why(two_fakes: Any) -> None:
    r = cli("ask", PROMPT, "--model", "llama")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("✗ not verified: 2/2 examples from the prompt fail"))
    assert "4 of 4 samples agree" in lines[at]
    at = next(i for i, line in enumerate(lines) if "tokens" in line)      # the failures follow the footer
    # each failure as run, then why it stays
    assert lines[at + 1].strip() == "assert zork(3) == 'qx7': got 'qx3', expected 'qx7'"
    assert lines[at + 2].strip() == "assert zork(4) == 'qx8': got 'qx4', expected 'qx8'"
    assert lines[-1].strip() == "the model was pinned (llama), so a failing answer is not escalated"
    assert "def zork(n)" in r.stdout


def test_tests_for_an_attached_file_run_against_it_and_are_not_escalated(two_fakes: Any, tmp_path: Path) -> None:
    local, frontier = two_fakes
    source = tmp_path / "slugify.py"
    source.write_text("import re\n\n\ndef slugify(text):\n    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')\n")
    local.reply = ("```python\nfrom slugify import slugify\n\n\ndef test_spaces():\n"
                   "    assert slugify('Hello World') == 'hello-world'\n\n\ndef test_empty():\n"
                   "    assert slugify('') == ''\n```")
    r = cli("ask", "Write pytest tests for this file.", "-f", str(source))
    assert r.returncode == 0, r.stderr
    assert "✓ verified: parses, 2/2 of its tests pass on your code · settled by the first sample" in r.stderr
    assert frontier.requests == [] and "def test_spaces" in r.stdout


def test_a_french_request_with_an_assert_is_checked_and_escalated(two_fakes: Any) -> None:
    r = cli("ask", "Écris une fonction Python zork(n) qui renvoie le code secret.\nassert zork(3) == 'qx7'", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [a["model"] for a in out["attempts"]] == ["llama", "gpt4o"] and out["verified"]["ok"] is True


def test_nothing_to_run_is_said_plainly(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = "```python\ndef greet(person):\n    return 'Hello ' + person.name\n```"
    # no examples, and nothing says what a person is: no input can be made up for it
    r = cli("ask", "Write a Python function greet(person) that greets someone.", "--model", "llama")
    assert r.returncode == 0, r.stderr
    assert "○ not run: nothing to run it against" in r.stderr and "checked" not in r.stderr


RIGHT_REVERSE = ("```python\ndef reverse_string(s):\n    return s[::-1]\n\nprint(reverse_string('hello'))\n```\n"
                 "Output: `olleh`")


def test_an_example_that_only_prints_is_never_shown_as_verified(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = PRINTS_ONLY            # wrong, and its example prints without saying what it expects
    r = cli("ask", REVERSE)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[1].startswith("○ 4 of 4 samples agree on ")
    assert "; not checked: no example states an expected result · confidence " in lines[1]
    assert "verified" not in r.stderr and "✓" not in r.stderr and frontier.requests == []


def test_a_single_answer_whose_example_only_prints_says_what_ran(two_fakes: Any) -> None:
    local, _ = two_fakes
    local.reply = PRINTS_ONLY
    config = Path(os.environ["ROUTEMATE_CONFIG"])
    config.write_text(config.read_text() + "\n[verify]\nsamples = 1\n")
    r = cli("ask", REVERSE, "--model", "llama")        # pinned: streamed live, its verdict after the footer
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    footer = next(i for i, line in enumerate(lines) if " tokens · $" in line)
    assert lines[footer + 1].startswith("○ ran its example without error and on ")
    assert lines[footer + 1].endswith("; not checked: no example states an expected result · parses")
    out = json.loads(cli("ask", REVERSE, "--model", "llama", "--json").stdout)
    assert out["verified"]["ok"] is True and out["verified"]["ran"] is False
    assert out["verification"].startswith("○ ran its example without error")


def test_an_example_that_states_its_output_is_checked(two_fakes: Any) -> None:
    local, frontier = two_fakes
    local.reply = PRINTS_ONLY + "\nOutput: `olleh`"     # it prints hello
    frontier.reply = RIGHT_REVERSE
    r = cli("ask", REVERSE)       # four samples that agree: kept on their agreement, and shown failing
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[1].startswith("✗ not verified: its own examples fail · 4 of 4 samples agree on ")
    assert " · kept: confidence " in lines[1] and "✓" not in r.stderr
    assert lines[-1].strip() == "it says its example prints olleh but it prints hello"
    config = Path(os.environ["ROUTEMATE_CONFIG"])
    config.write_text(config.read_text() + "\n[verify]\nsamples = 1\n")
    r = cli("ask", REVERSE)       # one answer failing its own example escalates
    assert r.returncode == 0, r.stderr
    assert "llama failed (its own examples fail) → escalated" in r.stderr     # the frontier streams live,
    assert r.stderr.strip().splitlines()[-1] == "✓ verified: parses, its own 1 check passes"   # checked after
    assert "return s[::-1]" in r.stdout


def test_tests_that_fail_on_an_attached_file_are_what_fails(two_fakes: Any, tmp_path: Path) -> None:
    local, frontier = two_fakes
    source = tmp_path / "slugify.py"
    source.write_text("import re\n\n\ndef slugify(text):\n    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')\n")
    # the cheap model's tests expect underscores: they fail on the user's code, which is what fails
    local.reply = ("```python\nfrom slugify import slugify\n\n\ndef test_spaces():\n"
                   "    assert slugify('Hello World') == 'hello_world'\n```")
    frontier.reply = local.reply.replace("hello_world", "hello-world")
    r = cli("ask", "Write pytest tests for this file.", "-f", str(source), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [a["model"] for a in out["attempts"]] == ["llama", "gpt4o"]
    first = out["attempts"][0]["verified"]
    assert first["summary"] == "1/1 of its tests fail on your code" and "does not define" not in json.dumps(out)
    assert out["verified"]["ok"] is True and out["verified"]["summary"] == "parses, 1/1 of its tests pass on your code"
    assert source.read_text().startswith("import re"), "the user's file is run, never changed"
