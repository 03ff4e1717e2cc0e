"""Several samples: grouped by behaviour, one picked, a confidence, the decision and its evidence."""

from __future__ import annotations

import pytest

from routemate.verify.agreement import (
    HAND_SET,
    Confidence,
    agree,
    could_settle,
    fewest_to_settle,
    judge,
    settled,
)

REQUEST = ("Write a Python function second_largest(xs: list[int]) -> int returning the second largest distinct "
           "value.\nsecond_largest([1, 3, 2]) -> 2")
RIGHT = "```python\ndef second_largest(xs):\n    return sorted(set(xs))[-2]\n```"
RIGHT2 = "```python\ndef second_largest(xs):\n    u = sorted(set(xs), reverse=True)\n    return u[1]\n```"
DUPES = "```python\ndef second_largest(xs):\n    return sorted(xs)[-2]\n```"       # passes the example, wrong on [2, 2, 2]
MAX = "```python\ndef second_largest(xs):\n    return max(xs)\n```"                # fails the example
PROSE = "Use sorting."


def test_samples_that_behave_alike_form_a_group_and_the_pick_comes_from_the_largest_passing_one() -> None:
    a = agree(REQUEST, [DUPES, RIGHT, MAX, RIGHT2, PROSE])
    assert [list(g.members) for g in a.groups] == [[1, 3], [0], [2]]      # PROSE runs nothing: no group
    assert a.pick == 1 and a.agreeing == 2 and a.k == 5
    assert a.groups[0].examples_passed == 1 and a.groups[2].examples_passed == 0
    assert a.summary().startswith("2 of 5 samples agree on ") and a.summary().endswith("; 1 example passes")


def test_a_group_that_fails_the_examples_is_never_picked_over_one_that_passes() -> None:
    a = agree(REQUEST, [MAX, MAX, MAX, RIGHT])
    assert a.pick == 3 and a.agreeing == 1 and not a.hard_fail


def test_confidence_grows_with_agreement() -> None:
    unanimous = agree(REQUEST, [RIGHT, RIGHT2, RIGHT, RIGHT2])
    split = agree(REQUEST, [RIGHT, DUPES, RIGHT2, DUPES])
    assert unanimous.confidence > split.confidence
    assert unanimous.features["agree"] == 1.0 and split.features["agree"] == 0.5


def test_failing_every_example_is_a_hard_failure_whatever_the_agreement() -> None:
    a = agree(REQUEST, [MAX, MAX, MAX, MAX])
    assert a.hard_fail and a.confidence == 0.0
    assert judge(a, 0.5) == (True, "failed (1/1 examples from the prompt fail)")


def test_the_decision_follows_the_threshold_and_the_evidence_names_the_disagreement() -> None:
    a = agree(REQUEST, [RIGHT, DUPES, RIGHT2, DUPES])
    escalate, why = judge(a, a.confidence + 0.01)
    assert escalate and why.startswith("has low confidence ")
    assert judge(a, a.confidence - 0.01) == (False, "")
    evidence = a.evidence()
    assert "disagree on these inputs" in evidence and "second_largest([2, 2, 2]): 2 gave raises IndexError; 2 gave 2" \
        in evidence


def test_a_frontier_answer_is_only_failed_never_doubted() -> None:
    a = agree(REQUEST, [DUPES])
    assert judge(a, None) == (False, "")


def test_calibration_turns_a_budget_into_a_threshold() -> None:
    conf = Confidence(HAND_SET.weights, HAND_SET.bias,
                      curve=((0.0, 0.0, 0.80), (0.3, 0.2, 0.90), (0.6, 0.45, 0.97), (0.9, 0.8, 1.0)))
    assert conf.threshold_for_quality(0.95) == 0.6 and conf.threshold_for_quality(0.85) == 0.3
    assert conf.threshold_for_share(0.5) == 0.6 and conf.threshold_for_share(0.1) == 0.0


def test_samples_that_only_print_agree_but_are_not_checked() -> None:
    ask = "Write a Python function that reverses a string"
    printing = "```python\ndef reverse_string(s):\n    return s[::-1]\n\nprint(reverse_string('hello'))\n```"
    stated = printing.replace("print(reverse_string('hello'))", "print(reverse_string('hello'))  # Output: olleh")
    unchecked, checked = agree(ask, [printing] * 2), agree(ask, [stated] * 2)
    assert unchecked.ran and not unchecked.verdict.ran and checked.verdict.ran     # compared, but nothing stated
    assert unchecked.features["checked"] == 0.0 and checked.features["checked"] == 1.0
    assert unchecked.confidence < checked.confidence
    assert checked.summary().startswith("2 of 2 samples agree on ") and checked.summary().endswith(
        "; its own 1 check passes")


def test_code_the_sandbox_refused_to_run_escalates_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A remote client's code on a kernel without seccomp (strict): nothing runs, and the reason for
    escalating names the missing layer rather than a bare low confidence."""
    from functools import partial

    import routemate.verify.checks as checks
    from routemate.verify.sandbox import _run

    monkeypatch.setattr(checks, "run_python", partial(_run, seccomp=False))
    a = agree(REQUEST, [RIGHT, RIGHT2], strict=True)
    assert not a.ran
    escalate, why = judge(a, 0.99)
    assert escalate and why.startswith("has low confidence ")
    assert "not run: the sandbox lacks seccomp" in why and "allow_weak_sandbox" in why


def test_one_answer_settles_only_when_two_examples_or_the_users_tests_held_and_it_is_confident() -> None:
    two = REQUEST + "\nsecond_largest([5, 9, 7]) -> 7"
    assert settled(agree(two, [RIGHT]), 0.5)
    assert settled(agree(two, [DUPES]), 0.5)                # two examples are all a single answer can show
    assert not settled(agree(REQUEST, [RIGHT]), 0.5)        # one example is too little evidence
    assert settled(agree(REQUEST, [RIGHT], tests="assert second_largest([1, 2]) == 1"), 0.5)   # your tests
    assert not settled(agree(two, [MAX]), 0.5)              # fails its examples
    assert not settled(agree(two, [PROSE]), 0.5)            # nothing ran
    no_example = "Write a Python function second_largest(xs: list[int]) -> int returning the second largest value."
    assert not settled(agree(no_example, [RIGHT]), 0.5)     # it ran on inputs, but nothing said what it should give
    assert not settled(agree(two, [RIGHT]), 1.01)           # below the threshold


def test_samples_drawn_one_at_a_time_settle_when_a_majority_of_two_or_more_agree_and_hold_it() -> None:
    assert settled(agree(REQUEST, [RIGHT, RIGHT2]), 0.5)            # one example; two alike on every input
    assert settled(agree(REQUEST, [DUPES, RIGHT, RIGHT2]), 0.5)     # two of three
    assert not settled(agree(REQUEST, [RIGHT, DUPES]), 0.5)         # they differ on [2, 2, 2]
    assert not settled(agree(REQUEST, [RIGHT, DUPES, RIGHT2, DUPES]), 0.5)   # two of four is no majority
    assert not settled(agree(REQUEST, [MAX, MAX]), 0.5)             # alike, but wrong on the example
    assert not settled(agree(REQUEST, [RIGHT, RIGHT2]), 1.01)       # below the threshold
    no_example = "Write a Python function second_largest(xs: list[int]) -> int returning the second largest."
    assert not settled(agree(no_example, [RIGHT, RIGHT2]), 0.5)     # alike; no example says what to give


def test_the_fewest_samples_that_could_settle_a_request() -> None:
    assert fewest_to_settle(REQUEST + "\nsecond_largest([5, 9, 7]) -> 7") == 1     # two examples: one answer
    assert fewest_to_settle(REQUEST, tests="assert second_largest([1, 2]) == 1") == 1
    assert fewest_to_settle(REQUEST) == 2                                # one example: two samples that agree
    assert fewest_to_settle("Write a Python function that reverses a string") == 0


def test_a_first_answer_could_settle_only_a_request_with_two_examples_tests_or_code_to_test() -> None:
    assert could_settle(REQUEST + "\nsecond_largest([5, 9, 7]) -> 7")
    assert not could_settle(REQUEST)                                   # one example
    assert could_settle(REQUEST, tests="assert second_largest([1, 2]) == 1")
    assert not could_settle("Write a Python function that reverses a string")
    assert could_settle("Write pytest tests for this file.\n\n```python\n# slugify.py\ndef slugify(t):\n"
                        "    return t.lower()\n```")


def test_an_answer_already_run_on_the_same_inputs_is_not_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples drawn one at a time are compared after each: the earlier ones keep their verdicts, so a
    sample that hangs costs the timeout once, not at every comparison."""
    import routemate.verify.agreement as agreement

    hang = "```python\ndef second_largest(xs):\n    while True:\n        pass\n```"
    ran: list[str] = []
    real = agreement.verify

    def counted(request: str, answer: str, **kw: object) -> object:
        ran.append(answer)
        return real(request, answer, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(agreement, "verify", counted)
    seen: dict = {}
    first = agree(REQUEST, [hang], timeout=1, seen=seen)
    both = agree(REQUEST, [hang, RIGHT], timeout=1, seen=seen)
    assert ran == [hang, RIGHT]
    assert both.verdicts[0] is first.verdicts[0] and both.pick == 1
    fresh = agree(REQUEST, [hang, RIGHT], timeout=1)            # without the memory, both run again
    assert sorted(ran[2:]) == sorted([hang, RIGHT])
    assert [v.outputs for v in fresh.verdicts] == [v.outputs for v in both.verdicts]
    other = REQUEST.replace("[1, 3, 2]) -> 2", "[5, 4]) -> 4")     # another request: its own runs
    agree(other, [RIGHT], timeout=1, seen=seen)
    assert ran[-1] == RIGHT and len(ran) == 5
