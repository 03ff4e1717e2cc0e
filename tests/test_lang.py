"""Natural-language detection and the language rule in routing."""

from __future__ import annotations

from typing import Any

import pytest

from fake_upstream import FakeUpstream
from routemate.chat import ChatRequest
from routemate.config import load_settings
from routemate.lang import detect, detect_messages, prose
from routemate.routing import Candidate, Policy, Score, decide
from routemate.service import Routemate


@pytest.mark.parametrize("text, language", [
    ("Write a function to reverse a list", "en"),
    ("Écris une fonction qui inverse une liste de nombres", "fr"),
    ("Schreibe eine Funktion, die eine Liste umkehrt", "de"),
    ("Escribe una función que invierta una lista", "es"),
    ("Scrivi una funzione che ordina una lista di stringhe per lunghezza", "it"),
    ("Напиши функцию, которая переворачивает список", "ru"),
    ("リストを反転する関数を書いてください", "ja"),
    ("写一个反转列表的函数", "zh"),
    ("Napisz funkcję, która odwraca listę", "pl"),
])
def test_language_of_the_request(text: str, language: str) -> None:
    assert detect(text) == language


def test_code_does_not_confuse_it() -> None:
    german = ("Warum gibt diese Funktion immer None zurück?\n```python\ndef get_user(user_id):\n"
              "    user = db.find_one({'id': user_id})\n    print(user)\n```")
    assert detect(german) == "de"
    english = "Why does this fail?\n```python\n# Kommentar auf Deutsch: gibt die Liste zurück\nx = liste()\n```"
    assert detect(english) == "en"
    assert prose("call `os.path.join()` on /usr/lib/x.py via https://example.com/a?b=c") == "call on via"


@pytest.mark.parametrize("text", ["fix this", "def f(x): return x[::-1]", "```python\nprint(1)\n```", ""])
def test_too_little_prose_is_unknown(text: str) -> None:
    assert detect(text) is None


def test_conversation_uses_the_last_user_turn() -> None:
    messages = [{"role": "user", "content": "Écris une fonction qui inverse une liste de nombres"},
                {"role": "assistant", "content": "Voici..."},
                {"role": "user", "content": "Now explain how the slicing works in this function"}]
    assert detect_messages(messages) == "en"
    short = messages[:2] + [{"role": "user", "content": "merci"}]
    assert detect_messages(short) == "fr"      # too short alone: the whole conversation decides


# -- the language rule ------------------------------------------------------------------------------------

LOCAL_EN = Candidate("local", "local", 0.0, private=True, languages=("en",))
LOCAL_ANY = Candidate("llama", "local", 0.1, private=True, languages=None)
FRONTIER = Candidate("gpt4o", "frontier", 12.5, languages=None)


@pytest.mark.parametrize("language, candidates, model, note", [
    ("en", (LOCAL_EN, FRONTIER), "local", None),
    ("fr", (LOCAL_EN, FRONTIER), "gpt4o", "local does not serve language 'fr'; answered by gpt4o"),
    ("fr", (LOCAL_EN, LOCAL_ANY, FRONTIER), "llama", None),
    (None, (LOCAL_EN, FRONTIER), "local", None),
])
def test_language_rule_table(language: str | None, candidates: tuple[Candidate, ...], model: str,
                             note: str | None) -> None:
    decision = decide(Score(0.1), Policy(candidates=candidates, language=language))
    assert decision.model == model
    if note:
        assert note in decision.reason


def test_privacy_outranks_language() -> None:
    decision = decide(Score(0.1), Policy(candidates=(LOCAL_EN, FRONTIER), language="fr",
                                         private_reason="privacy: secret in the request (aws-key)"))
    assert decision.model == "local"
    assert "no model declares language 'fr'" in decision.reason


def test_service_fills_the_language_and_the_reason_says_so(write_config: Any, upstream: FakeUpstream,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import hybrid_config

    monkeypatch.setenv("FAKE_OPENAI_KEY", "x")
    # the embedded default declares languages = ["en"], as `routemate init` writes it
    write_config(hybrid_config(upstream).replace('tier = "local"', 'tier = "local"\nlanguages = ["en"]', 1))
    rm = Routemate(load_settings())
    request = ChatRequest([{"role": "user", "content": "Écris une fonction Python qui inverse une liste de nombres"}],
                          {}, "auto")
    decision, policy = rm.route(request)
    assert policy.language == "fr"
    assert decision.model == "gpt4o"
    assert "local does not serve language 'fr'" in decision.reason
    english, policy = rm.route(ChatRequest([{"role": "user", "content": "Write a Python function to reverse a list"}],
                                           {}, "auto"))
    assert policy.language == "en" and english.model == "local"


def test_models_without_languages_serve_every_language(write_config: Any, env: dict[str, str]) -> None:
    write_config('[models.local]\nbackend = "embedded"\ntier = "local"\n')
    decision, policy = Routemate(load_settings()).route(
        ChatRequest([{"role": "user", "content": "Escribe una función que invierta una lista"}], {}, "auto"))
    assert policy.language == "es" and decision.model == "local" and "language" not in decision.reason
