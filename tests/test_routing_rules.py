import pytest

from routemate.routing.features import extract
from routemate.routing.rules import RulesRouter


def score(prompt, **kw):
    return RulesRouter().score(extract([{"role": "user", "content": prompt}], **kw))


@pytest.mark.parametrize("prompt, hard", [
    ("What does `git stash` do?", False),
    ("Write a function that reverses a string", False),
    ("Design a distributed rate limiter with consensus across regions and explain the trade-offs", True),
    ("Fix the race condition and deadlock in this lock-free queue; prove it is thread-safe", True),
])
def test_rules_separate_easy_from_hard(prompt, hard):
    assert (score(prompt).value >= 0.5) is hard


def test_every_term_is_visible_in_the_reason():
    s = score("Design a distributed cache; prove consistency")
    assert "task=design (+0.70)" in s.why and "reasoning marker" in s.why and s.router == "rules"


def test_autocomplete_never_escalates_on_content():
    s = score("def distributed_consensus_proof(): # optimize complexity, thread-safe, deadlock", completion=True)
    assert s.value < 0.1


def test_score_is_clamped_to_one():
    big = "Design and prove a lock-free distributed consensus protocol; optimize complexity.\n```python\n" + \
        "x = 1\n" * 1200 + "```"
    assert score(big).value == 1.0
