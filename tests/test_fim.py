import pytest

from routemate.config import FimTemplate
from routemate.fim import TEMPLATES, merge_stop, render


@pytest.mark.parametrize("name,expected", [
    ("starcoder", "<fim_prefix>def f():\n    <fim_suffix>\nf()<fim_middle>"),
    ("codellama", "<PRE> def f():\n     <SUF>\nf() <MID>"),
    ("deepseek", "<｜fim▁begin｜>def f():\n    <｜fim▁hole｜>\nf()<｜fim▁end｜>"),
    ("qwen", "<|fim_prefix|>def f():\n    <|fim_suffix|>\nf()<|fim_middle|>"),
    ("codegemma", "<|fim_prefix|>def f():\n    <|fim_suffix|>\nf()<|fim_middle|>"),
])
def test_each_family_renders_prefix_suffix_middle(name, expected):
    prompt, params = render(name, "def f():\n    ", "\nf()", {"max_tokens": 8})
    assert prompt == expected
    assert params["max_tokens"] == 8 and set(TEMPLATES[name].stop) <= set(params["stop"])


def test_every_configurable_template_exists():
    assert set(FimTemplate.__args__) == set(TEMPLATES)  # type: ignore[attr-defined]


def test_braces_in_code_are_not_format_fields():
    prompt, _ = render("qwen", "s = '{suffix}'\n", "{prefix}", {})
    assert prompt == "<|fim_prefix|>s = '{suffix}'\n<|fim_suffix|>{prefix}<|fim_middle|>"


def test_client_stop_sequences_come_first_without_duplicates():
    assert merge_stop("\n\n", ("<EOT>",)) == ["\n\n", "<EOT>"]
    assert merge_stop(["<EOT>", "x"], ("<EOT>", "<MID>")) == ["<EOT>", "x", "<MID>"]
    assert merge_stop(None, ("<EOT>",)) == ["<EOT>"]
