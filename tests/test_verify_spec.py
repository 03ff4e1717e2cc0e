"""Reading a request: examples in several natural languages and forms, the code it shows, test requests."""

from __future__ import annotations

import pytest

from routemate.verify.spec import asks_for_code, read_request


def pairs(prompt: str) -> list[tuple[str, str]]:
    return [(e.source, e.want) for e in read_request(prompt).examples]


@pytest.mark.parametrize("prompt", [
    "Write a function add(a, b). For example add(2, 3) should return 5.",
    "Écris une fonction Python add(a, b) ; par exemple add(2, 3) doit renvoyer 5.",
    "Schreibe eine Python-Funktion add(a, b): add(2, 3) sollte 5 zurückgeben.",
    "Schreibe eine Funktion add(a, b), die zwei Zahlen addiert. add(2, 3) gibt 5 zurück.",
    "Schrijf een Python-functie add(a, b); add(2, 3) moet 5 teruggeven.",
    "Escribe una función add(a, b) en Python: add(2, 3) devuelve 5.",
    "Escreva uma função add(a, b); add(2, 3) deve retornar 5.",
    "Scrivi una funzione add(a, b): add(2, 3) restituisce 5.",
    "Напиши функцию add(a, b): add(2, 3) должна вернуть 5.",
    "写一个 Python 函数 add(a, b)，例如 add(2, 3) 应该返回 5。",
    "Write add(a, b) so that, e.g., `add(2, 3)` → `5`.",
    "I need add(a, b) where add(2, 3) == 5 holds.",
    "Example: add(2, 3) -> 5",
])
def test_inline_examples_in_any_language(prompt: str) -> None:
    assert pairs(prompt) == [("add(2, 3)", "5")]
    assert read_request(prompt).entry == "add"


def test_equality_mid_sentence_and_several_examples_on_one_line() -> None:
    prompt = "Write is_palindrome(s): is_palindrome('abc') == False, while is_palindrome('aba') returns True."
    assert pairs(prompt) == [("is_palindrome('abc')", "False"), ("is_palindrome('aba')", "True")]


def test_asserts_anywhere_in_a_sentence_and_in_other_test_styles() -> None:
    prompt = ("Écris double(x). Le test assert double(4) == 8 doit passer.\n"
              "self.assertEqual(double(0), 0)\n"
              "expect(double(-1)).toBe(-2)\n"
              "assert_eq!(double(3), 6);")
    spec = read_request(prompt)
    assert [(e.kind, e.source, e.want) for e in spec.examples] == [
        ("assert", "assert double(4) == 8", ""), ("arrow", "double(0)", "0"), ("arrow", "double(-1)", "-2"),
        ("arrow", "double(3)", "6")]


def test_weak_connectors_need_the_value_to_end_the_clause() -> None:
    # "is 3 times faster" is prose, not an example
    assert pairs("Write speed(x). speed(2) is 3 times faster than before.") == []
    assert pairs("Write speed(x). speed(2) is 3.") == [("speed(2)", "3")]
    assert pairs("Write f(x). f(2) returns 4 because it doubles.") == [("f(2)", "4")]


def test_a_sentence_end_is_not_part_of_the_value_and_a_comma_does_not_make_a_tuple() -> None:
    assert pairs("Write f(x): f(1) returns 2, and f(2) returns [1, 2].") == [("f(1)", "2"), ("f(2)", "[1, 2]")]


def test_calls_with_non_literal_arguments_are_not_examples() -> None:
    assert pairs("Write f(x). f(x) returns x squared, f(y) == 3.") == []
    assert pairs("def f(x) -> int: ...\nif f(2) == 3: print('x')") == []


@pytest.mark.parametrize("text, want", [
    ("Input: nums = [2, 7, 11], target = 9\nOutput: [0, 1]", [("two_sum([2, 7, 11], 9)", "[0, 1]")]),
    ("Entrée : nums = [2, 7, 11], target = 9\nSortie : [0, 1]", [("two_sum([2, 7, 11], 9)", "[0, 1]")]),
    ("Eingabe: [2, 7, 11], 9\nAusgabe: [0, 1]", [("two_sum([2, 7, 11], 9)", "[0, 1]")]),
    ("Invoer: [3, 3], 6 Uitvoer: [0, 1]", [("two_sum([3, 3], 6)", "[0, 1]")]),
])
def test_input_output_pairs_in_several_languages(text: str, want: list[tuple[str, str]]) -> None:
    assert pairs(f"Write a Python function two_sum(nums, target).\n{text}") == want


def test_code_requests_are_recognised_in_other_languages() -> None:
    assert asks_for_code("Écris une fonction Python qui inverse une chaîne.")
    assert asks_for_code("Schreibe eine Python-Funktion, die eine Liste sortiert.")
    assert asks_for_code("Schrijf een functie die twee getallen optelt.\nassert optellen(1, 2) == 3")
    assert asks_for_code("Escribe un programa que cuente palabras.")
    assert not asks_for_code("Écris un poème sur la mer.")
    assert not asks_for_code("Explique-moi ce qu'est une fermeture.")


HUMANEVAL_STUB = '''Complete this function.

```python
from typing import List


def is_sorted_pos(xs: List[int], strict: bool = False) -> bool:
    """True when every number is positive and the list is sorted.
    >>> is_sorted_pos([1, 2, 3])
    True
    """
```'''


def test_the_code_a_request_shows_gives_a_preamble_an_entry_and_hints() -> None:
    spec = read_request(HUMANEVAL_STUB)
    assert "from typing import List" in spec.preamble and spec.entry == "is_sorted_pos"
    assert spec.hints == ("List[int]", "bool")


def test_helpers_next_to_a_stub_make_the_stub_the_entry() -> None:
    prompt = ('def is_palindrome(s: str) -> bool:\n    return s == s[::-1]\n\n\n'
              'def make_palindrome(s: str) -> str:\n    """Shortest palindrome that begins with s."""\n')
    spec = read_request(prompt)
    assert spec.entry == "make_palindrome" and "def is_palindrome" in spec.preamble


SLUGIFY = "import re\n\n\ndef slugify(text):\n    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')\n"


def test_a_request_for_tests_of_attached_code_is_a_test_request() -> None:
    spec = read_request(f"Write pytest tests for this file.\n\nslugify.py:\n```python\n{SLUGIFY}```")
    assert spec.wants_tests and spec.files == {"slugify.py": SLUGIFY} and spec.names == ()
    assert not read_request("Write a function slugify(text) with unit tests.").wants_tests


# -- printed examples: what `print(f(x))` shows, stated in a comment, in prose or on an Output line -----

def printed(prompt: str) -> list[tuple[str, str, str]]:
    return [(e.kind, e.source, e.want) for e in read_request(prompt).examples]


@pytest.mark.parametrize("prompt, want", [
    ("Write reverse(s).\nprint(reverse('abc'))  # Output: cba", "cba"),
    ("Write reverse(s).\nprint(reverse('abc'))  # -> 'cba'", "'cba'"),
    ("Write reverse(s).\nprint(reverse('abc'))  # prints cba", "cba"),
    ("Write reverse(s).\nprint(reverse('abc'))  # expected output: cba", "cba"),
    ("Write reverse(s).\nprint(reverse('abc'))\nOutput: cba", "cba"),
    ("Write reverse(s).\nprint(reverse('abc'))\n# Output: cba", "cba"),
    ("Write reverse(s).\n```python\nprint(reverse('abc'))\n```\n\nExpected output: `cba`", "cba"),
    ("Write reverse(s).\n```python\nprint(reverse('abc'))\n```\nOutput:\n```\ncba\n```", "cba"),
    ("Write reverse(s). For example, print(reverse('abc')) prints cba.", "cba"),
    ("Write reverse(s): `print(reverse('abc'))` should print `cba`.", "cba"),
    ("Écris une fonction Python reverse(s). Par exemple print(reverse('abc')) affiche cba.", "cba"),
    ("Schreibe eine Python-Funktion reverse(s). print(reverse('abc')) gibt cba aus.", "cba"),
    ("Schrijf een Python-functie reverse(s). print(reverse('abc')) drukt cba af.", "cba"),
    ("Escribe una función reverse(s): print(reverse('abc')) imprime cba.", "cba"),
    ("Write reverse(s).\nprint(reverse('abc'))\nSortie : cba", "cba"),
])
def test_a_print_that_states_what_it_shows_is_an_example(prompt: str, want: str) -> None:
    assert printed(prompt) == [("print", "reverse('abc')", want)]
    assert read_request(prompt).entry == "reverse"


def test_several_prints_pair_with_the_output_lines_under_them() -> None:
    prompt = ("Write reverse(s).\n```python\nprint(reverse('abc'))\nprint(reverse('xy'))\n```\nOutput:\n"
              "```\ncba\nyx\n```")
    assert printed(prompt) == [("print", "reverse('abc')", "cba"), ("print", "reverse('xy')", "yx")]


def test_a_call_with_its_value_in_a_comment_is_an_example() -> None:
    assert printed("Write reverse(s).\nreverse('abc')  # 'cba'") == [("arrow", "reverse('abc')", "'cba'")]
    assert printed("Write count(s).\ncount('abc')  # -> 3") == [("arrow", "count('abc')", "3")]


@pytest.mark.parametrize("prompt", [
    "Write reverse(s).\nprint(reverse('abc'))",                              # states nothing
    "Write reverse(s).\nprint(reverse('abc'))  # try it with your own text",   # a remark
    "Write reverse(s).\nprint(reverse('abc'))\n\nThen explain how it works.",
    "Write reverse(s). Calling print(reverse('abc')) is how to try it.",
    "Write reverse(s).\nreverse('abc')  # call it like this",
])
def test_a_print_that_states_nothing_is_not_an_example(prompt: str) -> None:
    assert read_request(prompt).examples == ()
