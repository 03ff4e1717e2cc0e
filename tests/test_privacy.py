"""Secret detection: the corpus (precision/recall), each kind, placeholders, redaction, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routemate.config import PrivacyConfig
from routemate.privacy import describe
from routemate.privacy.detect import Detector, entropy, is_placeholder

CORPUS = Path(__file__).parent / "data" / "privacy_corpus.jsonl"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(PrivacyConfig())


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def test_corpus_is_big_enough(corpus: list[dict]) -> None:
    assert sum(r["secret"] for r in corpus) >= 100
    assert sum(not r["secret"] for r in corpus) >= 100


def test_corpus_precision_and_recall(detector: Detector, corpus: list[dict]) -> None:
    tp = sum(1 for r in corpus if r["secret"] and detector.scan(r["text"]))
    fn = [r["text"][:80] for r in corpus if r["secret"] and not detector.scan(r["text"])]
    fp = [r["text"][:80] for r in corpus if not r["secret"] and detector.scan(r["text"])]
    precision = tp / (tp + len(fp))
    recall = tp / (tp + len(fn))
    assert recall >= 0.98, f"missed: {fn}"
    assert precision >= 0.98, f"false alarms: {fp}"


def test_redaction_removes_every_secret_in_the_corpus(detector: Detector, corpus: list[dict]) -> None:
    for row in corpus:
        if row["secret"]:
            redacted = detector.redact(row["text"])
            assert row["value"] not in redacted, row["kind"]
            assert "[REDACTED:" in redacted


@pytest.mark.parametrize("text, kind", [
    ("key AKIAZ3MSJV6HQ7PLRX2D here", "aws-key"),
    ("token ghp_8yQ3mF0aZc1LkP2sT7vWx9bN4dR6eH5jU0oI", "github-token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----",
     "private-key"),
    ("postgres://app:Zq8#kLm2@db:5432/x", "url-credentials"),
    ("DB_PASSWORD=Tr0ub4dor&3x", "env-secret"),
    ("password = 'Tr0ub4dor&3x'", "password"),
    ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3i", "openai-key"),
    ("signing key: 9fQ2xL7vT4mZ8kP1wR6nY3bH5cJ0dG2s", "high-entropy"),
    ("docker login -u deploy -p 9hTq3LmZx2Vb registry.acme.io", "password"),
    ("curl -u admin:Zx81!qweRT https://jenkins.acme.io/api/json", "password"),
    ("sentry_sdk.init(dsn='https://4f9c2b7e1d8a4c6f9e3b5a7d2c1e8f40@o1234.ingest.sentry.io/567')", "sentry-dsn"),
])
def test_each_kind_is_found_with_its_label(detector: Detector, text: str, kind: str) -> None:
    assert kind in {f.kind for f in detector.scan(text)}


@pytest.mark.parametrize("text", [
    "export OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxx",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "token = os.environ['TOKEN']",
    "password = getpass.getpass()",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b broke it",
    "id 123e4567-e89b-12d3-a456-426614174000",
    "auth header aGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0IG9mIHRoZSBlbmNvZGVy",
    "How should I hash a password?",
    "SECRET_KEY=<your-secret-key>",
    "docker login -u deploy -p $REGISTRY_PASSWORD registry.acme.io",
    "curl -u \"$USER:$TOKEN\" https://api.example.com",
])
def test_look_alikes_are_not_secrets(detector: Detector, text: str) -> None:
    assert detector.scan(text) == []


def test_redaction_keeps_the_rest_of_the_text(detector: Detector) -> None:
    text = "Why does this fail?\naws_access_key_id = AKIAZ3MSJV6HQ7PLRX2D\nregion = eu-west-1"
    assert detector.redact(text) == ("Why does this fail?\naws_access_key_id = [REDACTED:aws-key]\n"
                                     "region = eu-west-1")


def test_configured_hostnames_paths_markers_and_patterns() -> None:
    d = Detector(PrivacyConfig(hostnames=["*.corp.acme.io"], paths=["/srv/payroll/*"], markers=["CONFIDENTIAL"],
                               patterns={"ticket": r"PAY-\d{4,}"}))
    assert [f.kind for f in d.scan("ssh into build-7.corp.acme.io")] == ["hostname"]
    assert d.scan("ssh into corp.acme.io.evil.com") == []
    assert [f.kind for f in d.scan("read /srv/payroll/2026.csv")] == ["path"]
    assert [f.kind for f in d.scan("CONFIDENTIAL: roadmap")] == ["marker"]
    assert d.scan("confidential computing is neat") == []       # markers match as written
    assert [f.kind for f in d.scan("see PAY-12345")] == ["pattern:ticket"]
    # markers keep a request local but are not secrets: the log keeps them
    assert d.redact("CONFIDENTIAL: roadmap") == "CONFIDENTIAL: roadmap"


def test_library_patterns_can_be_switched_off() -> None:
    text = "xoxb-12345678901-123456789012-abcdefghijklmnopqrstuvwx"
    assert Detector(PrivacyConfig()).scan(text)
    assert not Detector(PrivacyConfig(detect_secrets=False, entropy=False)).scan(text)


def test_reason_names_kinds_never_values(detector: Detector) -> None:
    findings = detector.scan("AKIAZ3MSJV6HQ7PLRX2D and password = 'Tr0ub4dor&3x'")
    reason = describe(findings)
    assert reason == "privacy: secret in the request (aws-key, password)"
    assert "AKIA" not in reason


def test_helpers() -> None:
    assert entropy("aaaa") == 0 and entropy("abcd") == 2
    assert is_placeholder("XXXXXXXXXXXX") and is_placeholder("${API_KEY}") and not is_placeholder("Zq8#kLm2")


def test_a_text_seen_before_is_not_scanned_again_and_gets_the_same_findings(detector: Detector) -> None:
    text = "Here is my config:\n" + "x = 1\n" * 100 + "GITHUB_TOKEN=ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5\n"
    first = detector.scan(text)
    calls = []
    original = detector._scan
    detector._scan = lambda t: (calls.append(t), original(t))[1]       # type: ignore[method-assign]
    try:
        again = detector.scan(text)
        other = detector.scan(text.replace("x = 1", "y = 2"))
    finally:
        del detector._scan
    assert again == first and first and calls == [text.replace("x = 1", "y = 2")]
    assert [f.kind for f in other] == [f.kind for f in first]
    assert text not in repr(detector._memo), "only digests are kept, never the text"


def test_literal_gates_name_what_every_match_contains() -> None:
    import re

    from routemate.privacy.detect import gate_of

    assert gate_of(re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{20,}")) == \
        (("rk_live_", "rk_test_", "sk_live_", "sk_test_"), False)
    assert gate_of(re.compile(r"(?i)\bauthorization\s*:\s*bearer")) == (("authorization",), True)
    assert gate_of(re.compile(r"\b(?:mysql|mysqldump|mariadb)\b -p")) == (("mariadb", "mysql"), False)
    assert gate_of(re.compile(r"\d{8,10}:[0-9A-Za-z_-]{35}")) is None      # nothing literal: always run


def test_gated_scan_finds_exactly_what_an_ungated_scan_finds(detector: Detector, corpus: list[dict],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from routemate.privacy import detect

    monkeypatch.setattr(detect, "_gates", lambda patterns: [None] * len(patterns))
    ungated = Detector(PrivacyConfig())          # every pattern runs on every text
    assert all(g is None for *_, g in ungated.known) and not ungated._finders
    assert sum(g is not None for *_, g in detector.known) > len(detector.known) // 2
    source = (Path(__file__).parents[1] / "src" / "routemate" / "service.py").read_text()
    texts = [r["text"] for r in corpus]
    # a big paste with secrets of several kinds inside, in upper and lower case
    texts.append(source + "\n".join(r["text"] for r in corpus if r["secret"]) + source.upper())
    for text in texts:
        assert detector.scan(text) == ungated.scan(text), text[:80]
    # and no gated pattern that matches a text was skipped on it
    for label, pattern, gate in detector.known:
        if gate is None:
            continue
        literals, ignore_case = gate
        for text in texts:
            if pattern.search(text):
                haystack = text.casefold() if ignore_case else text
                assert any(lit in haystack for lit in literals), (label, pattern.pattern)
