import pytest

from routemate.routing.features import extract


def user(text):
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("prompt, task", [
    ("Explain what a Python generator is", "explain"),
    ("Write a function that reverses a string", "generate"),
    ("My script crashes with a KeyError, fix it", "fix"),
    ("Refactor this class to be more readable", "refactor"),
    ("Write unit tests for the parser", "test"),
    ("Design a multi-region architecture for our payment service", "design"),
    ("Review this code for security issues", "review"),
    ("hello there", "chat"),
])
def test_task_kind_from_the_last_user_turn(prompt, task):
    assert extract(user(prompt)).task == task


def test_autocomplete_prompts_are_marked_as_such():
    assert extract(user("def fib(n):"), completion=True).task == "autocomplete"


def test_code_blocks_languages_and_size():
    text = "Why does this fail?\n```python\nimport os\nprint(os.environ['X'])\n```\n```rust\nfn main() {}\n```"
    f = extract(user(text))
    assert f.code_blocks == 2 and f.code_lines == 5
    assert f.languages[:2] == ("python", "rust")


def test_whole_conversation_counts_not_just_the_last_message():
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "```python\n" + "x = 1\n" * 300 + "```"},
        {"role": "assistant", "content": "ok", "tool_calls": [{"id": "1", "type": "function",
                                                                 "function": {"name": "Read", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": None},
        {"role": "user", "content": "now make it faster"},
    ]
    f = extract(messages, tools=3)
    assert f.code_lines > 300 and f.turns == 2 and f.messages == 5
    assert f.tool_calls == 1 and f.tools == 3 and f.has_system
    assert "assistant: ok" in f.text


def test_reasoning_markers_constraints_tests_and_tracebacks():
    f = extract(user("Make this lock-free and thread-safe; prove the invariant holds. It must not allocate, "
                     "must run in constant space.\n>>> f(2)\n4\nTraceback (most recent call last):\n  x"))
    assert f.reasoning >= 3 and f.constraints >= 3 and f.has_tests and f.has_traceback


def test_list_content_parts_are_read():
    f = extract([{"role": "user", "content": [{"type": "text", "text": "Explain closures"}]}])
    assert f.task == "explain" and f.chars == len("Explain closures")
