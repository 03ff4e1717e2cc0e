"""Keys for teams: constant-time matching, allowed models, budgets and rate limits, on a real log."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import anthropic
import openai
import pytest

from conftest import hybrid_config
from gateway_fixtures import RunningGateway, close_clients, gateway, opened  # noqa: F401  (fixtures)
from routemate.config import build_settings
from routemate.errors import ConfigError, ModelForbidden, QuotaExceeded, RateLimited, StoreUnavailable
from routemate.keys import Allowance, Keyring, period_start
from routemate.store import Record, Store

NOON = datetime(2026, 3, 14, 12, 0, 30, tzinfo=timezone.utc).timestamp()
TEAM, CI, LOCAL_ONLY, PLAIN = "sk-team-0123456789", "sk-ci-0123456789", "sk-local-0123456789", "sk-plain-legacy"


def settings(tmp_path, keys, env=None):
    models = {"local": {"backend": "embedded"},
              "gpt4o": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "tier": "frontier"}}
    return build_settings({"models": models, "keys": keys}, {"ROUTEMATE_HOME": str(tmp_path), **(env or {})})


@pytest.fixture
def ring(tmp_path):
    store = Store(tmp_path / "log.db")
    now = [NOON]
    s = settings(tmp_path, {"team": {"key": TEAM, "budget_usd": 1.0, "period": "day"},
                            "ci": {"key_env": "CI_KEY", "rpm": 2},
                            "local-only": {"key": LOCAL_ONLY, "models": ["local"]}},
                 {"CI_KEY": CI, "ROUTEMATE_API_KEYS": PLAIN})
    keyring = Keyring(s, store=lambda: store, clock=lambda: now[0])
    keyring.now = now
    keyring.log = store
    return keyring


def test_keys_match_by_value_and_plain_keys_keep_working(ring):
    assert [ring.match(t)[0] for t in (TEAM, CI, PLAIN, "sk-nope", TEAM + "x", "")] == [True] * 3 + [False] * 3
    assert ring.match(CI)[1].name == "ci" and ring.match(PLAIN)[1] is None


async def test_a_key_may_only_use_its_models(ring):
    key = ring.named["local-only"]
    for ok in ("auto", "local", "", None):
        await ring.admit(key, ok or "")
    for refused in ("gpt4o", "frontier"):
        with pytest.raises(ModelForbidden, match=f"may not use model '{refused}'.*use auto or one of: local") as err:
            await ring.admit(key, refused)
        assert err.value.status == 403


async def test_a_budget_counts_only_the_current_period_and_refuses_once_spent(ring):
    key = ring.named["team"]
    yesterday = NOON - 86400
    ring.log.log(Record(entry="http", status="ok", key_name="team", cost_usd=5.0, ts=yesterday))
    ring.log.log(Record(entry="http", status="ok", key_name="ci", cost_usd=5.0, ts=NOON))
    ring.log.log(Record(entry="http", status="ok", key_name="team", cost_usd=0.6, ts=NOON - 10))
    await ring.admit(key, "auto")                    # 0.6 of 1.0 today
    ring.spent("team", 0.5)                          # this replica's own answer counts at once
    with pytest.raises(QuotaExceeded, match=r"spent \$1.1000 of its \$1 daily budget.*renews at 00:00 UTC") as err:
        await ring.admit(key, "auto")
    body = err.value.to_openai()["error"]
    assert err.value.status == 429 and body["code"] == "insufficient_quota" and body["type"] == "insufficient_quota"
    ring.now[0] = NOON + 86400                       # a new day: the budget is back
    await ring.admit(key, "auto")


async def test_rate_limit_counts_per_clock_minute_and_says_when_to_retry(ring):
    key = ring.named["ci"]
    await ring.admit(key, "auto")
    await ring.admit(key, "auto")
    with pytest.raises(RateLimited, match="over its limit of 2 requests per minute") as err:
        await ring.admit(key, "auto")
    assert err.value.retry_after == 30 and err.value.code == "rate_limit_exceeded"
    ring.now[0] += 30
    await ring.admit(key, "auto")


async def test_admit_tells_a_key_with_rpm_where_it_stands_in_the_minute(ring):
    ci = ring.named["ci"]                            # rpm 2; NOON is 12:00:30, the minute ends 30 s later
    end = NOON + 30
    assert await ring.admit(ci, "auto") == Allowance(limit=2, remaining=1, resets_at=end)
    assert await ring.admit(ci, "auto") == Allowance(limit=2, remaining=0, resets_at=end)
    with pytest.raises(RateLimited) as err:
        await ring.admit(ci, "auto")
    assert err.value.allowance == Allowance(limit=2, remaining=0, resets_at=end)     # never negative
    assert err.value.allowance.reset_in(NOON) == err.value.retry_after == 30
    ring.now[0] = end                                # a new minute, a new count
    assert await ring.admit(ci, "auto") == Allowance(limit=2, remaining=1, resets_at=end + 60)
    for other in (ring.named["team"], ring.named["local-only"], None):      # no rpm: nothing to tell
        assert await ring.admit(other, "auto") is None


def test_periods_are_utc_calendar_periods():
    assert period_start("day", NOON) == datetime(2026, 3, 14, tzinfo=timezone.utc).timestamp()
    assert period_start("month", NOON) == datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()
    assert period_start("total", NOON) == 0.0


@pytest.mark.parametrize("keys, env, message", [
    ({"a": {"key_env": "NOT_SET_ANYWHERE"}}, {}, "keys.a.key_env: NOT_SET_ANYWHERE is not set"),
])
def test_a_key_whose_variable_is_unset_stops_the_gateway_with_one_line(tmp_path, keys, env, message):
    with pytest.raises(ConfigError, match=message):
        Keyring(settings(tmp_path, keys, env))


@pytest.mark.parametrize("keys, message", [
    ({"a": {"key": "sk-0123456789", "key_env": "X"}}, "exactly one of key or key_env"),
    ({"a": {"budget_usd": 1}}, "exactly one of key or key_env"),
    ({"a": {"key": "short"}}, "at least 8 characters"),
    ({"a": {"key": "sk-0123456789", "models": ["gpt5"]}}, "keys.a.models names 'gpt5'"),
    ({"a": {"key": "sk-0123456789", "period": "week"}}, "keys.a.period"),
])
def test_bad_key_tables_are_config_errors(tmp_path, keys, message):
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, keys)


# -- through the gateway ----------------------------------------------------------------------------------
KEYS = f"""
[keys.team]
key = "{TEAM}"
budget_usd = 0.000001
period = "day"

[keys.ci]
key_env = "CI_KEY"
rpm = 1

[keys.local-only]
key = "{LOCAL_ONLY}"
models = ["local"]
"""
HARD = "Design a distributed, lock-free job scheduler with consensus across regions; explain the trade-offs."


AGENT = "sk-agent-0123456789"
LIMITED = f"""
[keys.agent]
key = "{AGENT}"
rpm = 5

[models.embed]
backend = "openai"
base_url = "{{url}}"
model = "nomic-embed-text"
tier = "local"
capabilities = ["embeddings"]
"""
AT = NOON - 30 + 12.5                # 12:00:12.5 UTC: the clock minute resets 47.5 s later, at 12:01:00


def start_keyed(hybrid, write_config, env, monkeypatch, extra=""):
    monkeypatch.setenv("CI_KEY", CI)
    monkeypatch.setenv("ROUTEMATE_API_KEYS", PLAIN)
    env.update(CI_KEY=CI, ROUTEMATE_API_KEYS=PLAIN)
    write_config(hybrid_config(hybrid) + KEYS + extra)
    return RunningGateway(env).start()


@pytest.fixture
def keyed(hybrid, write_config, env, monkeypatch):
    gw = start_keyed(hybrid, write_config, env, monkeypatch)
    yield gw
    gw.stop()


@pytest.fixture
def limited(hybrid, write_config, env, monkeypatch):
    """The keyed gateway plus ``agent`` (rpm 5) and an embedding model. Its keyring's clock stands at
    ``AT``, so a test's requests share one clock minute whenever it runs."""
    gw = start_keyed(hybrid, write_config, env, monkeypatch, LIMITED.format(url=hybrid.url))
    gw.gateway.keyring.clock = lambda: AT
    yield gw
    gw.stop()


def client(gw, key):
    return openai.OpenAI(base_url=gw.url, api_key=key, max_retries=0, timeout=60)


def test_over_budget_is_a_429_insufficient_quota_the_openai_sdk_understands(keyed):
    team = client(keyed, TEAM)
    first = team.chat.completions.with_raw_response.create(model="gpt4o", messages=[{"role": "user", "content": "hi"}])
    assert first.headers["x-routemate-model"] == "gpt4o" and float(first.headers["x-routemate-cost-usd"]) > 0
    with pytest.raises(openai.RateLimitError) as err:
        team.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 429 and err.value.code == "insufficient_quota"
    assert "key 'team' has spent" in err.value.message
    # and it is told not to retry: with the SDK's default retries, the refused request is sent once
    sent: list[str] = []
    hooks = {"request": [lambda r: sent.append(r.url.path)]}
    with openai.OpenAI(base_url=keyed.url, api_key=TEAM, timeout=60,
                       http_client=openai.DefaultHttpxClient(event_hooks=hooks)) as retrying, \
            pytest.raises(openai.RateLimitError) as err:
        retrying.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert err.value.response.headers["x-should-retry"] == "false" and sent == ["/v1/chat/completions"]
    # another key is not affected
    assert client(keyed, PLAIN).chat.completions.create(model="gpt4o", messages=[{"role": "user", "content": "hi"}])


def test_over_rate_is_a_429_with_retry_after(keyed):
    body = {"model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]}
    assert keyed.post("/v1/chat/completions", body, headers={"authorization": f"Bearer {CI}"}).status == 200
    r = keyed.post("/v1/chat/completions", body, headers={"authorization": f"Bearer {CI}"})
    assert r.status == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(r.headers["retry-after"]) <= 60


def test_a_key_limited_to_local_models_gets_403_for_others_and_auto_stays_local(keyed, hybrid):
    local = client(keyed, LOCAL_ONLY)
    with pytest.raises(openai.PermissionDeniedError) as err:
        local.chat.completions.create(model="gpt4o", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "model_not_allowed" and err.value.status_code == 403
    answer = local.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": HARD}], max_tokens=4)
    assert answer.headers["x-routemate-model"] == "local"
    assert hybrid.requests == []


def test_the_log_names_the_key_and_never_stores_it(keyed, env):
    for key in (TEAM, PLAIN):
        keyed.post("/v1/chat/completions", {"model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]},
                   headers={"authorization": f"Bearer {key}"})
    rows = keyed.log_rows()
    assert [r["key_name"] for r in rows[-2:]] == ["team", None]
    keyed.stop()
    raw = b"".join(p.read_bytes() for p in keyed.rm.settings.log_path.parent.glob("log.db*"))
    assert TEAM.encode() not in raw and PLAIN.encode() not in raw and b"team" in raw


def test_routemate_keys_shows_spend_per_key(keyed, env):
    keyed.post("/v1/chat/completions", {"model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]},
               headers={"authorization": f"Bearer {TEAM}"})
    keyed.rm.store.flush()
    out = subprocess.run([sys.executable, "-m", "routemate", "keys", "--json"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {"team", "ci", "local-only"}
    assert rows["team"]["spent_usd"] > 0 and rows["team"]["remaining_usd"] == 0 and rows["team"]["requests"] == 1
    assert rows["ci"]["rpm"] == 1 and rows["local-only"]["models"] == ["local"]
    table = subprocess.run([sys.executable, "-m", "routemate", "keys"], env={**env, "COLUMNS": "120"},
                           capture_output=True, text=True, timeout=60)
    assert "team" in table.stdout and "(day)" in table.stdout and TEAM not in table.stdout


async def test_a_store_that_is_down_is_a_503_naming_the_log(tmp_path):
    class Down:
        def count_request(self, *a):
            raise OSError("connection refused")

        def spend(self, *a):
            raise OSError("connection refused")

    s = settings(tmp_path, {"ci": {"key": CI, "rpm": 5, "budget_usd": 1}})
    ring = Keyring(s, store=lambda: Down())
    with pytest.raises(StoreUnavailable, match="request log is unreachable \\(OSError\\)") as err:
        await ring.admit(ring.named["ci"], "auto")
    assert err.value.status == 503 and "connection refused" not in str(err.value)


# -- rate-limit headers -------------------------------------------------------------------------------------
HI = [{"role": "user", "content": "hi"}]


def openai_limit(headers):
    return tuple(headers.get(f"x-ratelimit-{part}-requests") for part in ("limit", "remaining", "reset"))


def anthropic_limit(headers):
    return tuple(headers.get(f"anthropic-ratelimit-requests-{part}") for part in ("limit", "remaining", "reset"))


def rate_headers(headers):
    return sorted(k for k in headers if "ratelimit" in k.lower())


def test_every_answer_to_a_key_with_rpm_says_where_it_stands(limited, close_clients):
    agent = opened(client(limited, AGENT))
    chat = agent.chat.completions.with_raw_response.create(model="gpt4o", messages=HI)
    assert chat.parse().choices[0].message.content and openai_limit(chat.headers) == ("5", "4", "48s")
    streamed = agent.chat.completions.with_raw_response.create(model="gpt4o", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    assert openai_limit(streamed.headers) == ("5", "3", "48s")
    completion = agent.completions.with_raw_response.create(model="local", prompt="def add(a, b):", max_tokens=4)
    assert completion.parse().object == "text_completion" and openai_limit(completion.headers) == ("5", "2", "48s")
    response = agent.responses.with_raw_response.create(model="gpt4o", input="hi")
    assert response.parse().output_text and openai_limit(response.headers) == ("5", "1", "48s")
    embedded = agent.embeddings.with_raw_response.create(model="embed", input="hi")
    assert embedded.parse().data and openai_limit(embedded.headers) == ("5", "0", "48s")
    assert not any(k.startswith("anthropic-") for k in chat.headers)

    with pytest.raises(openai.RateLimitError) as err:
        agent.chat.completions.create(model="gpt4o", messages=HI, stream=True)
    refused = err.value.response.headers
    assert err.value.code == "rate_limit_exceeded" and refused["retry-after"] == "48"
    assert openai_limit(refused) == ("5", "0", "48s")              # over the limit, still never negative


def test_the_messages_endpoint_says_it_with_anthropics_headers(limited, close_clients):
    claude = opened(anthropic.Anthropic(base_url=limited.url.removesuffix("/v1"), api_key=AGENT, max_retries=0,
                                        timeout=60))
    reset = "2026-03-14T12:01:00Z"
    message = claude.messages.with_raw_response.create(model="gpt4o", max_tokens=20, messages=HI)
    assert message.parse().content[0].text and anthropic_limit(message.headers) == ("5", "4", reset)
    assert rate_headers(message.headers) == [f"anthropic-ratelimit-requests-{p}" for p in ("limit", "remaining", "reset")]
    streamed = claude.messages.with_raw_response.create(model="gpt4o", max_tokens=20, messages=HI, stream=True)
    assert [e.type for e in streamed.parse()][-1] == "message_stop"
    assert anthropic_limit(streamed.headers) == ("5", "3", reset)
    for left in ("2", "1", "0"):
        r = limited.post("/v1/messages", {"model": "gpt4o", "max_tokens": 20, "messages": HI},
                         headers={"x-api-key": AGENT})
        assert r.status == 200 and anthropic_limit(r.headers) == ("5", left, reset)

    with pytest.raises(anthropic.RateLimitError) as err:
        claude.messages.create(model="gpt4o", max_tokens=20, messages=HI)
    refused = err.value.response.headers
    assert err.value.body["error"]["type"] == "rate_limit_error" and refused["retry-after"] == "48"
    assert anthropic_limit(refused) == ("5", "0", reset)


def test_keys_without_rpm_send_no_rate_limit_headers(limited):
    for key in (PLAIN, TEAM, LOCAL_ONLY):            # a plain key, a budget, a model list: none has rpm
        auth = {"authorization": f"Bearer {key}"}
        chat = limited.post("/v1/chat/completions", {"model": "local", "messages": HI, "max_tokens": 2}, headers=auth)
        message = limited.post("/v1/messages", {"model": "local", "max_tokens": 2, "messages": HI}, headers=auth)
        assert chat.status == message.status == 200, (chat.body, message.body)
        assert rate_headers(chat.headers) == rate_headers(message.headers) == []


def test_a_gateway_without_keys_sends_no_rate_limit_headers(gateway):
    chat = gateway.post("/v1/chat/completions", {"model": "gpt4o", "messages": HI})
    message = gateway.post("/v1/messages", {"model": "gpt4o", "max_tokens": 20, "messages": HI})
    assert chat.status == message.status == 200
    assert rate_headers(chat.headers) == rate_headers(message.headers) == []
