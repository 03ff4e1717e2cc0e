"""A secret keeps the request local (even over a pin), says why, and never reaches the log."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fake_upstream import FakeUpstream
from routemate.chat import ChatRequest
from routemate.config import load_settings
from routemate.errors import PrivacyRefusal
from routemate.service import Routemate

AWS = "AKIAZ3MSJV6HQ7PLRX2D"
HARD_WITH_KEY = ("Design a distributed, lock-free job scheduler with consensus across regions; explain the "
                 f"trade-offs. It runs on AWS with aws_access_key_id = {AWS}.")


def req(text: str, model: str = "auto") -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], {"max_tokens": 8, "temperature": 0}, model)


def test_secret_in_prompt_stays_local_even_when_hard(hybrid: FakeUpstream) -> None:
    rm = Routemate(load_settings())
    decision, policy = rm.route(req(HARD_WITH_KEY))
    assert decision.tier == "local" and decision.model == "local"
    assert "kept local: privacy: secret in the request (aws-key)" in decision.reason
    assert AWS not in decision.reason


def test_secret_beats_an_explicit_frontier_pin(hybrid: FakeUpstream) -> None:
    rm = Routemate(load_settings())
    for pin in ("gpt4o", "frontier"):
        decision, _ = rm.route(req(f"Say hi. token ghp_8yQ3mF0aZc1LkP2sT7vWx9bN4dR6eH5jU0oI", pin))
        assert decision.tier == "local", pin
        assert "privacy" in decision.reason


def test_real_client_requests_pinned_to_the_frontier_go_there(hybrid: FakeUpstream, shared_data: Path) -> None:
    """Captured requests of Continue (whose system prompt asks for a ``Co-Authored-By: Continue
    <noreply@continue.dev>`` line), Aider, llm and the openai SDK carry no secret: pinned to the
    frontier model, they are not kept local."""
    rm = Routemate(load_settings())
    seen = 0
    for client in ("cn", "aider", "llm", "openai-sdk"):
        for line in (shared_data / "clients" / f"{client}.jsonl").read_text(encoding="utf-8").splitlines():
            body = json.loads(line)["body"] or {}
            if not body.get("messages"):
                continue
            decision, policy = rm.route(ChatRequest(body["messages"], {}, "gpt4o"))
            assert policy.private_reason is None and decision.model == "gpt4o", (client, policy.private_reason)
            seen += 1
    assert seen >= 10
    cn = (shared_data / "clients" / "cn.jsonl").read_text(encoding="utf-8")
    assert "Co-Authored-By: Continue <noreply@continue.dev>" in cn.replace("\\n", "\n")


def test_secret_in_an_earlier_turn_counts(hybrid: FakeUpstream) -> None:
    rm = Routemate(load_settings())
    messages = [{"role": "user", "content": f"my key is {AWS}"}, {"role": "assistant", "content": "noted"},
                {"role": "user", "content": "Design a distributed consensus system with trade-offs."}]
    decision, _ = rm.route(ChatRequest(messages, {}, "auto"))
    assert decision.tier == "local"


def test_no_private_model_means_a_clear_refusal(write_config: Any, upstream: FakeUpstream,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K", "x")
    write_config(f'[models.gpt4o]\nbackend = "openai"\nbase_url = "{upstream.url}"\napi_key_env = "K"\n'
                 'tier = "frontier"\n')
    rm = Routemate(load_settings())
    with pytest.raises(PrivacyRefusal, match="secret in the request"):
        rm.route(req(f"fix this: {AWS}"))


async def test_log_never_holds_the_secret(hybrid: FakeUpstream) -> None:
    rm = Routemate(load_settings())
    try:
        answer = await rm.ask(req(f"Say hi. My key is {AWS} and DB_PASSWORD=Tr0ub4dor&3x"))
    finally:
        await rm.aclose()
    assert answer.decision.tier == "local"
    db = sqlite3.connect(rm.settings.log_path)
    dump = "\n".join(db.iterdump())
    assert AWS not in dump and "Tr0ub4dor" not in dump
    assert "[REDACTED:aws-key]" in dump and "[REDACTED:password]" in dump
    assert hybrid.requests == []       # and nothing was sent to the frontier


async def test_configured_marker_keeps_it_local_but_is_logged(write_config: Any, upstream: FakeUpstream,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import hybrid_config

    monkeypatch.setenv("FAKE_OPENAI_KEY", "x")
    write_config(hybrid_config(upstream) + '\n[privacy]\nmarkers = ["CONFIDENTIAL"]\n'
                 'hostnames = ["*.corp.acme.io"]\n')
    rm = Routemate(load_settings())
    decision, _ = rm.route(req("CONFIDENTIAL: design a distributed, scalable architecture with trade-offs"))
    assert decision.tier == "local" and "private marker (marker)" in decision.reason
    decision, _ = rm.route(req("Design a scalable, distributed deploy to api.corp.acme.io with trade-offs"))
    assert decision.tier == "local" and "hostname" in decision.reason


def test_privacy_can_be_turned_off(write_config: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import hybrid_config

    monkeypatch.setenv("FAKE_OPENAI_KEY", "x")
    write_config(hybrid_config(upstream) + "\n[privacy]\nenabled = false\n")
    decision, _ = Routemate(load_settings()).route(req(HARD_WITH_KEY))
    assert decision.tier == "frontier"


def test_cli_route_hard_prompt_with_aws_key_is_local_with_privacy_reason(hybrid: FakeUpstream) -> None:
    r = subprocess.run([sys.executable, "-m", "routemate", "route", HARD_WITH_KEY, "--json"],
                       env={**os.environ}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tier"] == "local" and out["model"] == "local"
    assert "privacy: secret in the request (aws-key)" in out["reason"]
    assert AWS not in r.stdout
    # the same prompt without the key goes to the configured frontier model
    clean = HARD_WITH_KEY.replace(f" with aws_access_key_id = {AWS}", "")
    r = subprocess.run([sys.executable, "-m", "routemate", "route", clean, "--json"],
                       env={**os.environ}, capture_output=True, text=True, timeout=60)
    assert json.loads(r.stdout)["tier"] == "frontier"


def test_unknown_privacy_field_is_a_config_error(write_config: Any) -> None:
    from routemate.errors import ConfigError

    write_config('[models.local]\nbackend = "embedded"\n\n[privacy]\nmarker = ["x"]\n')
    with pytest.raises(ConfigError, match="privacy.marker: unknown field"):
        load_settings()


def test_example_config_has_privacy_and_verify_sections(tmp_path: Path) -> None:
    from routemate.config import EXAMPLE_CONFIG, build_settings

    import tomllib

    settings = build_settings(tomllib.loads(EXAMPLE_CONFIG), {"ROUTEMATE_HOME": str(tmp_path)})
    assert settings.privacy.redact_log and settings.verify.max_escalations == 1
