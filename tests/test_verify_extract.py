"""Code is found in every shape models write it, and split into importable code and usage."""

from __future__ import annotations

import pytest

from routemate.verify.extract import (block_start, check_syntax, copied_head, find_blocks, gives_stub,
                                     guess_language, opening_fence, parsers, python_answer, request_head)

TWO_BLOCKS = """Here is the function:

```python
import math

def area(r):
    return math.pi * r ** 2
```

Use it like this:

```python
print(area(1))  # 3.14159
```
"""


def test_fenced_python_block_with_tag() -> None:
    blocks = find_blocks(TWO_BLOCKS)
    assert [b.language for b in blocks] == ["python", "python"]
    assert blocks[0].code.startswith("import math")


def test_untagged_fence_is_recognised_as_python() -> None:
    blocks = find_blocks("Sure!\n```\ndef f(x):\n    return x + 1\n```\nDone.")
    assert len(blocks) == 1 and blocks[0].language == "python" and blocks[0].tag == ""


def test_tilde_fences_and_indented_fences() -> None:
    text = "1. First:\n\n   ```py\n   def f():\n       return 1\n   ```\n\n~~~python\nx = f()\n~~~\n"
    blocks = find_blocks(text)
    assert [b.code.strip() for b in blocks] == ["def f():\n    return 1", "x = f()"]


def test_crlf_answers_are_read() -> None:
    text = "```python\r\ndef f():\r\n    return 1\r\n```\r\n\r\n```python\r\nprint(f())\r\n```\r\n"
    answer = python_answer(text)
    assert answer is not None and answer.names == ("f",) and not answer.errors


def test_unclosed_last_fence_still_counts() -> None:
    blocks = find_blocks("```python\ndef f():\n    return 1\n")   # cut at max_tokens
    assert blocks and "return 1" in blocks[0].code


def test_code_llama_python_tags() -> None:
    text = "[PYTHON]\ndef add(a, b):\n    return a + b\n[/PYTHON]\n[TESTS]\nassert add(1, 2) == 3\n[/TESTS]\n"
    answer = python_answer(text)
    assert answer is not None and answer.names == ("add",) and answer.asserts == 1
    assert "assert add(1, 2) == 3" in answer.usage


def test_unfenced_code_answer() -> None:
    text = "def double(x):\n    return 2 * x\n"
    answer = python_answer(text)
    assert answer is not None and answer.names == ("double",)


def test_unfenced_code_inside_prose() -> None:
    text = "You can write it as:\n\ndef double(x):\n    return 2 * x\n\nThis returns twice the input."
    answer = python_answer(text)
    assert answer is not None and answer.names == ("double",)
    assert "twice" not in answer.source


def test_prose_only_answer_has_no_code() -> None:
    assert python_answer("Use a list comprehension and return the filtered list.") is None
    assert find_blocks("No code here, just words.") == []


def test_definitions_and_usage_are_split() -> None:
    answer = python_answer(TWO_BLOCKS)
    assert answer is not None
    assert "def area" in answer.definitions and "import math" in answer.definitions
    assert "print(area(1))" in answer.usage and "print" not in answer.definitions
    assert answer.blocks == 2


def test_main_guard_and_test_functions_are_usage() -> None:
    text = ("```python\ndef inc(x):\n    return x + 1\n\ndef test_inc():\n    assert inc(1) == 2\n\n"
            "if __name__ == '__main__':\n    assert inc(2) == 3\n    print(inc(5))\n```")
    answer = python_answer(text)
    assert answer is not None
    assert "__main__" not in answer.definitions and "test_inc" not in answer.definitions
    assert "assert inc(2) == 3" in answer.usage and "test_inc()" in answer.usage
    assert answer.asserts == 2


def test_constants_are_definitions_but_calls_are_usage() -> None:
    text = "```python\nLIMIT = 10\nPATTERN = re.compile('a+')\nresult = compute(LIMIT)\n```"
    answer = python_answer(text)
    assert answer is not None
    assert "LIMIT = 10" in answer.definitions and "re.compile" in answer.definitions
    assert "compute(LIMIT)" in answer.usage


def test_later_block_redefines_earlier_one() -> None:
    text = "```python\ndef f():\n    return 1\n```\nBetter:\n```python\ndef f():\n    return 2\n```"
    answer = python_answer(text)
    assert answer is not None and answer.definitions.rfind("return 2") > answer.definitions.rfind("return 1")


def test_other_languages_are_not_taken_for_python() -> None:
    text = "```javascript\nconst f = (a) => a * 2;\n```\n```bash\npip install foo\n```"
    assert python_answer(text) is None
    assert [b.language for b in find_blocks(text)] == ["javascript", "bash"]


def test_output_blocks_are_ignored() -> None:
    text = "```python\ndef f():\n    return [1]\n```\nOutput:\n```\n[1]\n```"
    answer = python_answer(text)
    assert answer is not None and answer.blocks == 1


def test_broken_python_block_is_reported() -> None:
    answer = python_answer("```python\ndef f(:\n    return 1\n```")
    assert answer is not None and answer.source == "" and answer.errors
    assert "line 1" in answer.errors[0]


def test_repl_transcripts_are_kept_as_examples() -> None:
    text = "```python\ndef sq(x):\n    return x * x\n```\n```python\n>>> sq(3)\n9\n```"
    answer = python_answer(text)
    assert answer is not None and answer.transcripts and ">>> sq(3)" in answer.transcripts[0]


@pytest.mark.parametrize("code, language", [
    ("def f(x):\n    return x\n", "python"),
    ("fn main() {\n    let mut x = 1;\n}\n", "rust"),
    ("package main\nfunc main() {}\n", "go"),
    ("const f = (a) => a + 1;\n", "javascript"),
])
def test_language_is_guessed_for_untagged_code(code: str, language: str) -> None:
    assert guess_language(code) == language


@pytest.mark.parametrize("language, good, bad", [
    ("python", "x = [1, 2]\n", "x = [1, 2\n"),
    ("javascript", "function f(a) { return a + 1; }", "function f(a) { return a + ; }"),
    ("typescript", "let x: number = 1;", "let x: number = ;"),
    ("go", "package main\nfunc f() int { return 1 }\n", "package main\nfunc f() int { return 1 \n"),
    ("rust", "fn f() -> i32 { 1 }", "fn f() -> i32 { 1 "),
    ("java", "class A { int f() { return 1; } }", "class A { int f() { return 1; }"),
    ("c", "int f(void) { return 1; }", "int f(void) { return 1 }"),
    ("cpp", "#include <vector>\nint f() { std::vector<int> v; return 0; }", "int f() { return 0 "),
    ("bash", "if [ -f x ]; then echo y; fi\n", "if [ -f x ]; then echo y\n"),
])
def test_syntax_check_per_language(language: str, good: str, bad: str) -> None:
    assert check_syntax(good, language).ok is True
    broken = check_syntax(bad, language)
    assert broken.ok is False and "line" in broken.message


def test_unknown_language_is_not_judged() -> None:
    result = check_syntax("whatever", "cobol")
    assert result.ok is None and "no parser" in result.message


def test_installed_parsers_cover_the_common_languages() -> None:
    assert {"python", "javascript", "typescript", "go", "rust", "java", "c", "cpp", "bash"} <= set(parsers())


def test_output_blocks_after_example_code_are_kept_as_claims() -> None:
    text = ("```python\ndef f():\n    return 1\n\nprint(f())\n```\nThis prints:\n```\n1\n```\n"
            "Error case:\n```\nTraceback (most recent call last):\n```")
    answer = python_answer(text)
    assert answer is not None and answer.outputs == ("1\n",)


# -- copied_head: what further samples start from --------------------------------------------------------

STUB = '''Complete the following Python function in one ```python code block.

```python
from typing import List


def below_zero(operations: List[int]) -> bool:
    """ Whether the balance, starting at zero, ever falls below zero.
    >>> below_zero([1, 2, -4, 5])
    True
    """
```'''

HEAD = '''```python
from typing import List
from collections import *


def below_zero(operations: List[int]) -> bool:
    """ Whether the balance, starting at zero, ever falls below zero.
    >>> below_zero([1, 2, -4, 5])
    True
    """
'''


def test_copied_head_is_the_fence_imports_signature_and_docstring_the_request_wrote() -> None:
    answer = HEAD + "    balance = 0\n    for op in operations:\n        balance += op\n```\nIt adds them up.\n"
    assert copied_head(STUB, answer) == HEAD


def test_copied_head_stops_at_a_signature_the_model_changed() -> None:
    answer = HEAD.replace("operations: List[int]", "ops: list") + "    return False\n```\n"
    assert copied_head(STUB, answer) == ""


def test_copied_head_never_ends_inside_a_docstring() -> None:
    # the answer rewrote the docstring's last example: the head ends after the def line
    answer = HEAD.replace("    True\n", "    False\n") + "    return False\n```\n"
    assert copied_head(STUB, answer) == HEAD[: HEAD.index('    """')]


def test_copied_head_leaves_a_body_the_request_showed_to_the_samples() -> None:
    request = "Fix this:\n```python\ndef mean(xs):\n    total = sum(xs)\n    return total / len(xs) + 1\n```"
    answer = "```python\ndef mean(xs):\n    total = sum(xs)\n    return total / len(xs)\n```"
    assert copied_head(request, answer) == "```python\ndef mean(xs):\n"


def test_copied_head_is_empty_without_a_signature_from_the_request() -> None:
    request = "Write a function that adds two numbers."
    assert copied_head(request, "```python\ndef add(a, b):\n    return a + b\n```") == ""
    assert copied_head(STUB, HEAD.rstrip("\n")) == HEAD[: HEAD.index('    """')]   # only whole lines count


def test_copied_head_leaves_out_the_prose_an_answer_opens_with() -> None:
    # the prose names the first answer's approach: samples that went on from it would follow it
    intro = "To complete `below_zero`, add up the operations:\n\n"
    answer = intro + HEAD + "    balance = 0\n```\n### Explanation\n- It adds them up.\n"
    assert copied_head(STUB, answer) == HEAD


def test_copied_head_takes_no_code_from_before_the_block() -> None:
    answer = "def below_zero(operations):\n    return False\n\nBetter:\n" + HEAD + "    balance = 0\n```\n"
    assert copied_head(STUB, answer) == ""
    assert copied_head(STUB, "Sure! Here it is, with an example:\n```python\nprint(1)\n```\n") == ""


def test_request_head_is_the_stub_a_first_answer_would_copy_written_from_the_request_alone() -> None:
    assert request_head(STUB) == "```python\nfrom typing import List\n\n\n" + HEAD.split("\n\n\n", 1)[1]
    assert request_head(STUB.replace('    """\n```', '    """\n    pass\n```')) == request_head(STUB)


def test_request_head_is_empty_for_code_to_rework_or_no_stub() -> None:
    # a body to fix
    assert request_head(STUB.replace('    """\n```', '    """\n    return False\n```')) == ""
    assert request_head("Write below_zero(operations) returning whether the balance drops below 0.") == ""
    assert request_head("```bash\ndef x():\n```") == ""                                     # not Python


def test_opening_fence_is_the_fence_a_head_leaves_open() -> None:
    assert opening_fence(HEAD) == "```"
    assert opening_fence("Here:\n~~~~python\ndef f():\n") == "~~~~"
    assert opening_fence(HEAD + "    return False\n```\n") == ""
    assert opening_fence("def f():\n") == ""


def test_block_start_is_the_line_that_opens_the_first_block_of_code() -> None:
    assert block_start("Sure:\n```python\ndef f():\n    pass\n```\nDone.") == "```python\n"
    assert block_start("  ~~~~js\nlet x = 1\n~~~~") == "~~~~js\n"
    assert block_start("Run:\n```bash\npip install x\n```\n```python\nimport x\n```") == ""   # a shell first
    assert block_start("```\nuntagged\n```") == "" and block_start("def f():\n    pass\n") == ""


def test_gives_stub_when_the_request_writes_a_def_or_class_line() -> None:
    assert gives_stub(STUB)
    assert gives_stub("Finish this:\n    class Stack:\n        ...")
    assert not gives_stub("Write a function that adds two numbers; define it as add.")
    assert not gives_stub("def is a keyword in Python; what does it do?")
