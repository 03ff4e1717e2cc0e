"""Generated inputs: from the request's examples, its type hints or parameter names, and the samples' own calls."""

from __future__ import annotations

import ast

from routemate.verify.extract import python_answer
from routemate.verify.inputs import generate
from routemate.verify.spec import read_request


def values(inputs: tuple[str, ...]) -> list[tuple]:
    return [ast.literal_eval(f"({s},)") for s in inputs]


def test_example_arguments_come_first_then_boundary_and_type_aware_mutations() -> None:
    spec = read_request("Write count_words(text, n).\ncount_words('a b a', 2) -> 1")
    got = values(generate(spec, []))
    assert got[0] == ("a b a", 2)
    strings = {a for a, _ in got[1:]}
    numbers = {b for _, b in got[1:]}
    assert "" in strings and "a b aa b a" in strings and "a b aé" in strings     # empty, duplicated, unicode
    assert {0, -2, 3} <= numbers                                                 # zero, negative, one more
    assert len(got) == len(set(got)) <= 12


def test_list_arguments_get_empty_single_reversed_duplicated_longer_and_negated_variants() -> None:
    spec = read_request("def f(xs):\n    \"\"\"\n    >>> f([3, 1, 2])\n    6\n    \"\"\"\n")
    got = [args[0] for args in values(generate(spec, [], limit=20))]
    for want in ([3, 1, 2], [], [3], [2, 1, 3], [3, 1, 2, 3], [3, 1, 2] * 3, [-3, -1, -2], [1, 2, 3], [0, 0, 0]):
        assert want in got


def test_type_hints_of_the_stub_give_inputs_when_the_request_has_no_examples() -> None:
    spec = read_request("```python\nfrom typing import List\n\ndef top(xs: List[int], k: int) -> List[int]:\n"
                        "    \"\"\"The k largest.\"\"\"\n```")
    got = values(generate(spec, []))
    assert got and all(isinstance(xs, list) and isinstance(k, int) for xs, k in got)
    assert ([], 0) in got or any(xs == [] for xs, _ in got)


def test_parameter_names_stand_in_for_missing_hints() -> None:
    spec = read_request("Write a Python function repeat(text, n) that repeats text n times.")
    got = values(generate(spec, []))
    assert got and all(isinstance(t, str) and isinstance(n, int) for t, n in got)


def test_without_any_of_that_the_samples_own_example_calls_are_used() -> None:
    spec = read_request("Write a function that checks whether a number is prime.")
    samples = [python_answer("```python\ndef is_prime(n):\n    return n > 1\n\nprint(is_prime(7))  # True\n```"),
               python_answer("```python\ndef prime(k):\n    return k > 1\n\nprint(prime(10))\n```")]
    got = values(generate(spec, samples))
    assert (7,) in got and (10,) in got and (0,) in got and (-7,) in got


def test_nothing_to_go_on_means_no_inputs() -> None:
    assert generate(read_request("Write a Python function greet(person)."), []) == ()
