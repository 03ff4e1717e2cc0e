"""Each check: reading the request, static checks, and the checks that run the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routemate.verify.checks import read_request, verify

HUMANEVAL = '''from typing import List


def below_zero(operations: List[int]) -> bool:
    """ Return True if the balance ever falls below zero, else False.
    >>> below_zero([1, 2, 3])
    False
    >>> below_zero([1, 2, -4, 5])
    True
    """
'''

GOOD = '''```python
from typing import List

def below_zero(operations: List[int]) -> bool:
    balance = 0
    for op in operations:
        balance += op
        if balance < 0:
            return True
    return False
```'''

WRONG = GOOD.replace("if balance < 0", "if balance <= 0")


# -- reading the request --------------------------------------------------------------------------------

def test_request_doctests_names_and_signature_are_read() -> None:
    spec = read_request(HUMANEVAL)
    assert spec.names == ("below_zero",)
    assert spec.params == {"below_zero": 1}
    assert [(e.kind, e.source, e.want) for e in spec.examples] == [
        ("doctest", "below_zero([1, 2, 3])", "False"), ("doctest", "below_zero([1, 2, -4, 5])", "True")]
    assert spec.language == "python"


def test_request_assert_lines_are_examples() -> None:
    spec = read_request("Write a function to add two numbers.\nassert add(1, 2) == 3\nassert add(0, 0) == 0")
    assert [e.kind for e in spec.examples] == ["assert", "assert"]
    assert spec.names == ("add",)


def test_request_arrow_and_returns_examples() -> None:
    spec = read_request("Write `count_vowels(s)`.\n"
                        "count_vowels('hello') -> 2\n"
                        "count_vowels('sky') returns 0\n"
                        "- count_vowels('AEIOU') should return 5.\n"
                        "def f(x) -> int: is not an example")
    assert [(e.source, e.want) for e in spec.examples] == [
        ("count_vowels('hello')", "2"), ("count_vowels('sky')", "0"), ("count_vowels('AEIOU')", "5")]
    assert "count_vowels" in spec.names


def test_function_named_in_prose_is_required() -> None:
    assert read_request("Write a function called merge_intervals that merges overlapping ranges.").names == \
        ("merge_intervals",)


def test_request_language_is_read() -> None:
    assert read_request("Write a Rust function that reverses a vector").language == "rust"
    assert read_request("Write a function that reverses a list").language is None


# -- static checks ---------------------------------------------------------------------------------------

def test_correct_answer_passes_every_example_from_the_prompt() -> None:
    verdict = verify(HUMANEVAL, GOOD)
    assert verdict.ok, verdict.report()
    assert verdict.summary() == "parses, defines below_zero(operations), 2/2 examples from the prompt pass"
    assert verdict.ran


def test_wrong_answer_fails_with_what_it_returned() -> None:
    verdict = verify(HUMANEVAL, WRONG.replace("balance = 0", "balance = 0\n    if not operations[0]:\n"
                                                                 "        return True"))
    # still passes: both examples hold; a wrong but example-passing answer is not caught
    assert verdict.ok
    bad = verify(HUMANEVAL, GOOD.replace("return True", "return False", 1))
    assert not bad.ok
    assert bad.summary() == "1/2 examples from the prompt fail"
    assert "below_zero([1, 2, -4, 5]) -> True: got False, expected True" in bad.report()


def test_syntax_error_fails_before_anything_runs() -> None:
    verdict = verify(HUMANEVAL, "```python\ndef below_zero(operations):\n    return (\n```")
    assert not verdict.ok and verdict.failed[0].name == "parses"
    assert "does not parse" in verdict.summary()


def test_answer_without_code_fails() -> None:
    verdict = verify("Write a function that doubles a number.", "Just multiply the number by two.")
    assert not verdict.ok and verdict.summary() == "no code in the answer"


def test_missing_function_fails() -> None:
    verdict = verify(HUMANEVAL, "```python\ndef balance_check(ops):\n    return False\n```")
    assert not verdict.ok and verdict.summary() == "does not define below_zero"
    assert "defines balance_check" in verdict.report()


def test_wrong_signature_fails() -> None:
    verdict = verify(HUMANEVAL, "```python\ndef below_zero(operations, start, limit):\n    return False\n```")
    assert not verdict.ok and "wrong signature" in verdict.summary()


def test_optional_extra_parameters_are_fine() -> None:
    answer = GOOD.replace("def below_zero(operations: List[int])", "def below_zero(operations: List[int], floor=0)")
    assert verify(HUMANEVAL, answer).ok


def test_answer_in_another_language_fails_when_python_is_expected() -> None:
    verdict = verify("Write a function to reverse a list.", "```javascript\nconst rev = (a) => a.reverse();\n```")
    assert not verdict.ok and verdict.summary() == "answered in javascript, not python"


def test_other_language_is_syntax_checked_when_asked_for() -> None:
    prompt = "Write a JavaScript function that doubles a number."
    assert verify(prompt, "```javascript\nfunction double(x) { return 2 * x; }\n```").ok
    broken = verify(prompt, "```javascript\nfunction double(x) { return 2 * ; }\n```")
    assert not broken.ok and "does not parse" in broken.summary()


def test_function_requested_but_none_defined_fails() -> None:
    verdict = verify("Write a function that doubles a number.", "```python\nprint(2 * 21)\n```")
    assert not verdict.ok and verdict.summary() == "defines no function"


# -- checks that run the code ----------------------------------------------------------------------------

def test_assert_examples_in_the_request_report_the_value() -> None:
    prompt = "Write a function add(a, b).\nassert add(2, 3) == 5"
    assert verify(prompt, "```python\ndef add(a, b):\n    return a + b\n```").ok
    bad = verify(prompt, "```python\ndef add(a, b):\n    return a - b\n```")
    assert not bad.ok and "got -1, expected 5" in bad.report()


def test_arrow_examples_run() -> None:
    prompt = "Write count_vowels(s).\ncount_vowels('hello') -> 2"
    good = verify(prompt, "```python\ndef count_vowels(s):\n    return sum(c in 'aeiou' for c in s)\n```")
    assert good.ok and "1/1 examples from the prompt pass" in good.summary()


def test_float_results_are_compared_with_tolerance() -> None:
    prompt = "Write mean(xs).\nassert mean([0.1, 0.2]) == 0.15"
    assert verify(prompt, "```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```").ok


def test_users_tests_run_against_the_code() -> None:
    tests = "from solution import add\n\ndef test_small():\n    assert add(1, 1) == 2\n\ndef test_neg():\n" \
            "    assert add(-1, -1) == -2\n"
    good = verify("Write add(a, b).", "```python\ndef add(a, b):\n    return a + b\n```", tests=tests)
    assert good.ok and "2/2 of your tests pass" in good.summary()
    bad = verify("Write add(a, b).", "```python\ndef add(a, b):\n    return abs(a + b)\n```", tests=tests)
    assert not bad.ok and "1/2 of your tests fail" in bad.summary()
    assert "test_neg" in bad.report() and "AssertionError" in bad.report()


def test_own_asserts_are_run() -> None:
    answer = "```python\ndef sq(x):\n    return x * 2\n\nassert sq(3) == 9\n```"
    verdict = verify("Write a function sq that squares a number.", answer)
    assert not verdict.ok and verdict.summary() == "its own examples fail"
    assert "AssertionError" in verdict.report()


def test_claimed_output_in_a_comment_is_checked() -> None:
    answer = "```python\ndef rev(s):\n    return s[::-1]\n```\n```python\nprint(rev('abc'))  # Output: 'cba'\n```"
    assert verify("Write a function to reverse a string.", answer).ok
    wrong = answer.replace("# Output: 'cba'", "# Output: 'abc'")
    verdict = verify("Write a function to reverse a string.", wrong)
    assert not verdict.ok and "`print(rev('abc'))` claims 'abc' but the code gives 'cba'" in verdict.report()


def test_example_that_raises_is_a_failure() -> None:
    answer = ("```python\ndef remove_all(a, b):\n    a = a.copy()\n    for x in b:\n        a.remove(x)\n    return a\n```\n"
              "```python\nprint(remove_all([1, 2, 3], [3, 7]))\n```")
    verdict = verify("Write a function to remove all elements of one list from another.", answer)
    assert not verdict.ok and "ValueError" in verdict.report() and "solution.py" in verdict.report()


def test_missing_third_party_module_is_inconclusive_not_a_failure() -> None:
    answer = "```python\nimport surely_not_installed_pkg\n\ndef f():\n    return 1\n```"
    verdict = verify("Write a function f that returns 1.", answer)
    assert verdict.ok and any(c.status == "skip" for c in verdict.checks)


def test_example_using_undefined_variables_is_inconclusive() -> None:
    answer = "```python\ndef f(x):\n    return x\n```\n```python\nprint(f(my_list))\n```"
    assert verify("Write a function f.", answer).ok


def test_hanging_answer_fails_within_the_timeout() -> None:
    prompt = "Write loop(n).\nassert loop(1) == 1"
    verdict = verify(prompt, "```python\ndef loop(n):\n    while True:\n        pass\n```", timeout=4)
    assert not verdict.ok and "longer than" in verdict.report()


def test_import_time_crash_is_reported() -> None:
    verdict = verify("Write f.", "```python\nimport math\nX = int('x')\n\ndef f():\n    return 1\n```")
    assert not verdict.ok and "importing it fails" in verdict.summary() and "ValueError" in verdict.report()


def test_verdict_serialises_for_the_log() -> None:
    data = verify(HUMANEVAL, GOOD).to_dict()
    assert data["ok"] is True and data["language"] == "python"
    assert {c["name"] for c in data["checks"]} >= {"parses", "defines", "examples"}


def test_output_block_the_answer_shows_is_checked() -> None:
    answer = ("```python\ndef evens(xs):\n    return [x for x in xs if x % 2 == 0]\n\nprint(evens([1, 2, 3, 4]))\n```\n"
              "Output:\n```\n[2, 4]\n```")
    good = verify("Write a function that keeps the even numbers of a list.", answer)
    assert good.ok and "its own 1 check passes" in good.summary()
    wrong = answer.replace("[2, 4]\n```", "[2, 4, 6]\n```")
    bad = verify("Write a function that keeps the even numbers of a list.", wrong)
    assert not bad.ok and "says its example prints [2, 4, 6] but it prints [2, 4]" in bad.report()


def test_leetcode_style_input_output_pairs_are_examples() -> None:
    prompt = ('def maximum(arr, k):\n    """Return the k largest numbers, sorted.\n\n    Example 1:\n\n'
              '        Input: arr = [-3, -4, 5], k = 3\n        Output: [-4, -3, 5]\n\n    Example 2:\n\n'
              '        Input: arr = [4, -4, 4], k = 2\n        Output: [4, 4]\n    """\n')
    spec = read_request(prompt)
    assert [(e.source, e.want) for e in spec.examples] == [
        ("maximum(arr = [-3, -4, 5], k = 3)", "[-4, -3, 5]"), ("maximum(arr = [4, -4, 4], k = 2)", "[4, 4]")]
    good = verify(prompt, "```python\ndef maximum(arr, k):\n    return sorted(sorted(arr)[-k:]) if k else []\n```")
    assert good.ok and "2/2 examples from the prompt pass" in good.summary()


def test_double_arrow_examples() -> None:
    spec = read_request('def add(lst):\n    """Examples:\n        add([4, 2, 6, 7]) ==> 2\n    """\n')
    assert [(e.source, e.want) for e in spec.examples] == [("add([4, 2, 6, 7])", "2")]


def test_example_calling_a_name_the_request_does_not_define_is_not_required() -> None:
    # HumanEval/149's docstring calls list_sort although the function is sorted_list_sum
    spec = read_request('def sorted_list_sum(lst):\n    """For example:\n    assert list_sort(["aa", "a"]) => ["aa"]\n'
                        '    """\n')
    assert spec.names == ("sorted_list_sum",) and spec.examples == ()


# -- real HumanEval prompts (shared data), answered by hand ---------------------------------------------

REAL = {   # task: (a correct answer, the number of examples in its prompt, (a bug to plant))
    "HumanEval/0": ("def has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n"
                    "    return any(b - a < threshold for a, b in zip(s, s[1:]))\n", 2, ("return any", "return not any")),
    "HumanEval/120": ("def maximum(arr, k):\n    return sorted(arr)[len(arr) - k:] if k else []\n", 3,
                      ("sorted(arr)", "sorted(arr, reverse=True)")),
    "HumanEval/121": ("def solution(lst):\n    return sum(x for x in lst[::2] if x % 2)\n", 3, ("lst[::2]", "lst[1::2]")),
}


@pytest.mark.parametrize("task", sorted(REAL))
def test_real_humaneval_prompts_pass_a_correct_answer_and_fail_a_wrong_one(routing_sample: Path, task: str) -> None:
    rows = {json.loads(line)["id"]: json.loads(line)
            for line in (routing_sample / "evalperf-sample.jsonl").read_text().splitlines()}
    prompt = rows[task]["prompt"]
    code, n, (old, new) = REAL[task]
    good = verify(prompt, f"```python\n{code}```")
    assert good.ok and f"{n}/{n} examples from the prompt pass" in good.summary(), good.report()
    assert not verify(prompt, f"```python\n{code.replace(old, new)}```").ok


def test_a_signature_written_in_prose_names_the_function_and_its_arity() -> None:
    ask = "Write a python function is_even(n) that returns True when n is even."
    assert read_request(ask).names == ("is_even",) and read_request(ask).params == {"is_even": 1}
    good = verify(ask, "```python\ndef is_even(n):\n    return n % 2 == 0\n```")
    assert good.ok and "defines is_even(n)" in good.summary()
    assert verify(ask, "```python\ndef even(n):\n    return n % 2 == 0\n```").summary() == "does not define is_even"
    assert not verify(ask, "```python\ndef is_even(n, m):\n    return n % 2 == 0\n```").ok
    # prose that only looks like a call names nothing
    assert read_request("Write a function to compute(x) things.").names == ()


# -- the request's own code, test requests, and saying when nothing ran ---------------------------------

STUB = ('Complete the function.\n\n```python\nfrom typing import List\n\n\n'
        'def total(xs: List[int]) -> int:\n    """Sum of xs.\n    >>> total([1, 2])\n    3\n    """\n```')


def test_an_answer_completing_a_stub_runs_with_the_requests_imports() -> None:
    answer = "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"   # no import of List
    verdict = verify(STUB, answer)
    assert verdict.ok and verdict.ran, verdict.report()
    assert "1/1 examples from the prompt pass" in verdict.summary()


def test_an_import_the_request_makes_that_is_not_installed_does_not_sink_the_answer() -> None:
    prompt = STUB.replace("from typing import List", "from typing import List\nimport numpy_that_is_not_here")
    assert verify(prompt, "```python\ndef total(xs):\n    return sum(xs)\n```").ok


def test_nothing_run_says_not_run_and_why_never_checked() -> None:
    verdict = verify("Write a Python function that greets someone.",
                     "```python\ndef greet(name):\n    return 'Hello ' + name\n```")
    assert verdict.ok and not verdict.ran
    assert verdict.line().startswith("○ not run: nothing to run it against")
    assert "checked" not in verdict.line() and "verified" not in verdict.line()
    other = verify("Write a Rust function that adds two numbers.", "```rust\nfn add(a: i32, b: i32) -> i32 { a + b }\n```")
    assert other.line().startswith("○ not run: only Python is run; this is rust")


SLUGIFY = "import re\n\n\ndef slugify(text):\n    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')\n"
TEST_REQUEST = f"Write pytest tests for this file.\n\nslugify.py:\n```python\n{SLUGIFY}```"


def test_tests_written_for_the_users_code_run_against_it() -> None:
    answer = ("```python\nimport pytest\nfrom slugify import slugify\n\n\ndef test_spaces():\n"
              "    assert slugify('Hello World') == 'hello-world'\n\n\n"
              "@pytest.mark.parametrize('text, want', [('A  B', 'a-b'), ('--x--', 'x')])\n"
              "def test_many(text, want):\n    assert slugify(text) == want\n\n\n"
              "class TestEdges:\n    def test_empty(self):\n        assert slugify('') == ''\n```")
    verdict = verify(TEST_REQUEST, answer)
    assert verdict.ok and verdict.ran, verdict.report()
    assert "4/4 of its tests pass on your code" in verdict.summary()
    assert "define" not in verdict.summary()


def test_tests_that_fail_on_the_users_code_fail_and_rewrites_of_it_are_ignored() -> None:
    answer = ("```python\ndef slugify(text):\n    return 'always'\n\n\n"      # a rewrite: the user's code is tested
              "def test_spaces():\n    assert slugify('Hello World') == 'hello_world'\n```")
    verdict = verify(TEST_REQUEST, answer)
    assert not verdict.ok and verdict.summary() == "1/1 of its tests fail on your code"
    assert "'hello-world'" in verdict.report() or "AssertionError" in verdict.report()


def test_tests_may_import_the_users_code_under_any_module_name() -> None:
    prompt = f"Write unit tests for this code:\n```python\n{SLUGIFY}```"
    answer = "```python\nfrom text_utils import slugify\n\ndef test_it():\n    assert slugify('A b') == 'a-b'\n```"
    assert verify(prompt, answer).ok
    assert verify(prompt, "```python\nprint('no tests here')\n```").summary() == "writes no tests"


def test_a_verdict_names_the_sandbox_layers_its_code_ran_without(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seccomp turned off, as a kernel without it would leave it: the code still runs for the local
    user and the verdict says which layer it lacked; for a remote client (strict) nothing runs and
    the reason says how to accept the weaker sandbox."""
    from functools import partial

    import routemate.verify.checks as checks
    from routemate.verify.sandbox import _run

    request = "Write a Python function add(a, b).\nassert add(1, 2) == 3"
    answer = "```python\ndef add(a, b):\n    return a + b\n```"
    full = verify(request, answer)
    assert full.ran and full.weaker == () and "weaker" not in full.line()
    monkeypatch.setattr(checks, "run_python", partial(_run, seccomp=False))
    weak = verify(request, answer)
    assert weak.ok and weak.ran and weak.weaker == (("seccomp", "turned off"),)
    assert weak.line().endswith("· weaker sandbox: lacks seccomp")
    assert weak.to_dict()["sandbox_missing"] == {"seccomp": "turned off"}
    refused = verify(request, answer, strict=True)
    assert not refused.ran and refused.weaker == ()
    assert refused.line().startswith("○ not run: the sandbox lacks seccomp, so code from a remote client is "
                                     "not run; set [verify] allow_weak_sandbox = true to accept the weaker "
                                     "sandbox")


# -- an example that states no expected result checks nothing ---------------------------------------------

REVERSE_WRONG = ("```python\ndef reverse_string(s):\n    out = []\n    for c in s:\n        out.append(c)\n"
                 "    return ''.join(out)\n\nprint(reverse_string('hello'))\n```")
REVERSE_RIGHT = REVERSE_WRONG.replace("for c in s", "for c in reversed(s)")
ASK = "Write a Python function that reverses a string"


def test_an_example_that_only_prints_is_not_a_check() -> None:
    verdict = verify(ASK, REVERSE_WRONG)     # wrong, and its example says nothing about what it should print
    assert verdict.ok and not verdict.ran and verdict.executed and verdict.state == "not-checked"
    line = verdict.line()
    assert line.startswith("○ ran its example without error; not checked: no example states an expected result")
    assert "verified" not in line and "✓" not in line and "check" not in line.replace("not checked", "")


@pytest.mark.parametrize("comment, tail", [
    ("  # Output: olleh", ""),                   # on the print line
    ("  # -> 'olleh'", ""),
    ("  # prints olleh", ""),
    ("", "\nOutput: `olleh`"),                   # on the line after the code
    ("", "\nOutput: olleh"),
    ("", "\nThis will output: 'olleh'"),
    ("", "\nThe result is: olleh."),
    ("", "\nOutput:\n```\nolleh\n```"),
])
def test_an_example_that_states_its_output_is_checked(comment: str, tail: str) -> None:
    right, wrong = (a.replace("print(reverse_string('hello'))", "print(reverse_string('hello'))" + comment) + tail
                    for a in (REVERSE_RIGHT, REVERSE_WRONG))
    good = verify(ASK, right)
    assert good.ok and good.ran and good.state == "pass" and good.line().startswith("✓ verified"), good.line()
    bad = verify(ASK, wrong)
    assert not bad.ok and bad.state == "fail" and bad.line() == "✗ not verified: its own examples fail"


def test_an_output_line_that_describes_rather_than_shows_is_not_a_claim() -> None:
    verdict = verify(ASK, REVERSE_RIGHT + "\nOutput: the reversed string")
    assert verdict.ok and not verdict.ran


@pytest.mark.parametrize("example", [
    "print(reverse_string('abc'))  # Output: cba",
    "print(reverse_string('abc'))  # -> 'cba'",
    "print(reverse_string('abc'))  # prints cba",
    "print(reverse_string('abc'))\nOutput: cba",
    "```python\nprint(reverse_string('abc'))\n```\nExpected output:\n```\ncba\n```",
    "For example, print(reverse_string('abc')) prints cba.",
])
def test_a_printed_example_in_the_request_is_run(example: str) -> None:
    prompt = f"Write a Python function reverse_string(s).\n{example}"
    right = "```python\ndef reverse_string(s):\n    return s[::-1]\n```"
    good = verify(prompt, right)
    assert good.ok and good.ran and "1/1 examples from the prompt pass" in good.summary(), good.report()
    bad = verify(prompt, right.replace("s[::-1]", "s"))
    assert not bad.ok and "1/1 examples from the prompt fail" in bad.summary()
    assert "print(reverse_string('abc')) shows " in bad.report() and "got abc, expected " in bad.report()


def test_code_that_raises_when_run_is_never_shown_as_checked() -> None:
    # an answer whose code raises the moment it runs, with nothing in the request to run it against
    from routemate.verify.agreement import agree, judge

    answer = "```python\ndef reverse_string(text):\n    return text.reverse()\n```"
    a = agree(ASK, [answer])
    v = a.verdict
    assert v.ok and not v.ran and v.state == "not-checked"
    assert v.line().startswith("○ ran on ") and "generated inputs (all " in v.line() and "raise)" in v.line()
    assert "verified" not in v.line() and "✓" not in v.line()
    assert judge(a, 0.5, unverified="escalate")[0]       # nothing checked it: stricter settings escalate it
