"""The browser guard: web pages cannot drive the gateway (raw HTTP, and a real headless Chromium)."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_upstream import FakeUpstream
from gateway_fixtures import RunningGateway

HELLO = {"model": "auto", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 8}


@pytest.fixture
def start(write_config: Callable[[str], Path], upstream: FakeUpstream,
          env: dict[str, str]) -> Iterator[Callable[..., RunningGateway]]:
    """Start a gateway whose one model is the fake upstream, with extra ``[server]`` lines."""
    running: list[RunningGateway] = []

    def go(server: str = "") -> RunningGateway:
        write_config(f'[models.local]\nbackend = "openai"\nbase_url = "{upstream.url}"\ntier = "local"\n'
                     f"max_retries = 0\n\n[server]\n{server}\n")
        gw = RunningGateway().start()
        running.append(gw)
        return gw

    yield go
    for gw in running:
        gw.stop()


def post(gw: RunningGateway, headers: dict[str, str], body: bytes = b"") -> Any:
    import json

    return gw.request("POST", "/v1/chat/completions", body or json.dumps(HELLO).encode(), headers=headers)


# -- content type ------------------------------------------------------------------------------------
@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
                                   ""])
def test_a_post_body_that_is_not_json_gets_415_and_reaches_no_model(start: Any, upstream: FakeUpstream,
                                                                    ctype: str) -> None:
    gw = start()
    r = post(gw, {"content-type": ctype})
    assert r.status == 415, r.body
    err = r.json()["error"]
    assert err["code"] == "unsupported_media_type" and "application/json" in err["message"]
    assert upstream.requests == [] and gw.log_rows() == []


def test_json_with_a_charset_is_fine(start: Any, upstream: FakeUpstream) -> None:
    gw = start()
    r = post(gw, {"content-type": "Application/JSON; charset=utf-8"})
    assert r.status == 200, r.body and len(upstream.requests) == 1


def test_other_post_routes_are_guarded_too(start: Any) -> None:
    gw = start()
    for path in ("/v1/route", "/v1/embeddings", "/v1/completions", "/chat/completions", "/v1/responses"):
        r = gw.request("POST", path, b'{"input": "x"}', headers={"content-type": "text/plain"})
        assert r.status == 415 and r.json()["error"]["code"] == "unsupported_media_type", (path, r.body)
    # the Anthropic Messages route answers in Anthropic's shape
    r = gw.request("POST", "/v1/messages", b'{"model": "auto"}', headers={"content-type": "text/plain"})
    assert r.status == 415 and r.json()["type"] == "error", r.body
    assert r.json()["error"]["type"] == "invalid_request_error" and "application/json" in r.json()["error"]["message"]
    r = gw.request("POST", "/v1/messages", b'{"model": "auto"}', headers={"host": "evil.example"})
    assert r.status == 403 and r.json()["error"]["type"] == "permission_error"


# -- Host --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", "localhost.evil.example"])
def test_a_foreign_host_is_refused_even_for_reads(start: Any, upstream: FakeUpstream, host: str) -> None:
    gw = start()
    r = post(gw, {"host": host})
    assert r.status == 403 and "DNS rebinding" in r.json()["error"]["message"], r.body
    assert "server.allowed_hosts" in r.json()["error"]["message"]
    r = gw.request("GET", "/v1/models", headers={"host": host})
    assert r.status == 403 and b'"object"' not in r.body
    assert upstream.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:9", "localhost:8080", "LOCALHOST", "[::1]:8080"])
def test_the_bound_address_and_localhost_are_accepted(start: Any, host: str) -> None:
    gw = start()
    assert post(gw, {"host": host}).status == 200


def test_allowed_hosts_and_domain_wildcards(start: Any) -> None:
    gw = start('allowed_hosts = ["routemate.corp.example", "*.team.example"]')
    assert post(gw, {"host": "routemate.corp.example:8080"}).status == 200
    assert post(gw, {"host": "gpu1.team.example"}).status == 200
    assert post(gw, {"host": "team.example.evil.io"}).status == 403
    assert post(gw, {"host": "corp.example"}).status == 403


def test_the_guard_holds_with_api_keys_too(start: Any) -> None:
    gw = start('api_keys = ["k-1"]')
    auth = {"authorization": "Bearer k-1"}
    assert post(gw, {**auth, "content-type": "text/plain"}).status == 415
    assert post(gw, {**auth, "host": "evil.example"}).status == 403
    assert post(gw, {**auth, "origin": "https://evil.example"}).status == 403
    assert post(gw, auth).status == 200


# -- Origin ------------------------------------------------------------------------------------------
def test_a_cross_origin_request_is_refused(start: Any, upstream: FakeUpstream) -> None:
    gw = start()
    for origin in ("https://evil.example", "http://localhost:3000", "null"):
        r = post(gw, {"origin": origin})
        assert r.status == 403 and "server.cors_origins" in r.json()["error"]["message"], origin
    assert upstream.requests == []


def test_the_servers_own_origin_is_accepted(start: Any) -> None:
    gw = start()
    assert post(gw, {"origin": f"http://127.0.0.1:{gw.port}"}).status == 200


def test_a_listed_origin_gets_cors_headers_and_its_preflight_answered(start: Any) -> None:
    gw = start('cors_origins = ["https://chat.corp.example"]')
    origin = "https://chat.corp.example"
    pre = gw.request("OPTIONS", "/v1/chat/completions", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert pre.status == 204 and pre.headers["access-control-allow-origin"] == origin
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-headers"] == "authorization, content-type"
    r = post(gw, {"origin": origin})
    assert r.status == 200 and r.headers["access-control-allow-origin"] == origin and r.headers["vary"] == "Origin"
    other = gw.request("OPTIONS", "/v1/chat/completions", headers={"origin": "https://evil.example",
                                                                     "access-control-request-method": "POST"})
    assert other.status == 403 and "access-control-allow-origin" not in other.headers


# -- a real browser ----------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

ATTACK_PAGE = """<!doctype html><html><body><p id="out">running</p>
<form id="f" method="POST" action="{gw}/v1/chat/completions" enctype="text/plain" target="sink">
<input name='{{"model":"auto","messages":[{{"role":"user","content":"form"}}],"x":"' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
const gw = "{gw}";
const body = JSON.stringify({{model: "auto", messages: [{{role: "user", content: "page"}}]}});
const out = [];
Promise.allSettled([
  fetch(gw + "/v1/chat/completions", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}}),
  fetch(gw + "/v1/chat/completions", {{method: "POST", mode: "no-cors", body: new Blob([body])}}),
  fetch(gw + "/v1/chat/completions", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body}})
    .then(r => r.text()).then(t => out.push("json:" + t.slice(0, 60))),
]).then(rs => {{
  document.getElementById("f").submit();
  setTimeout(() => {{ document.getElementById("out").textContent = "done " + out.join(" | "); }}, 1500);
}});
</script></body></html>"""


def _chromium(url: str, *extra: str) -> str:
    profile = tempfile.mkdtemp(prefix="routemate-chromium-")
    try:
        r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run",
                            f"--user-data-dir={profile}", "--virtual-time-budget=8000", *extra, "--dump-dom", url],
                           capture_output=True, text=True, timeout=90)
        return r.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def attacker_site(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A web page on another origin (its own port), as any site the user visits could serve."""
    root = tmp_path / "site"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def page(html: str) -> str:
        (root / "index.html").write_text(html)
        return f"http://127.0.0.1:{server.server_address[1]}/index.html"

    yield page
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_a_web_page_in_chromium_cannot_drive_the_gateway(start: Any, upstream: FakeUpstream,
                                                          attacker_site: Callable[[str], str]) -> None:
    """Simple requests (text/plain fetch, a Blob with no type, a text/plain form) and a JSON fetch
    that needs a preflight: none reaches a model. Listing the page's origin lets the JSON one through,
    which shows the page really sends them."""
    gw = start()
    url = attacker_site(ATTACK_PAGE.format(gw=f"http://127.0.0.1:{gw.port}"))
    dom = _chromium(url)
    assert "done" in dom, dom[-500:]
    assert upstream.requests == [] and gw.log_rows() == []
    origin = url.rsplit("/", 1)[0]
    gw2 = start(f'cors_origins = ["{origin}"]')
    dom = _chromium(attacker_site(ATTACK_PAGE.format(gw=f"http://127.0.0.1:{gw2.port}")))
    assert "json:{" in dom and len(upstream.requests) == 1, dom[-500:]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_dns_rebinding_in_chromium_is_refused(start: Any) -> None:
    """A hostile name resolving to 127.0.0.1 (what DNS rebinding achieves) reads nothing."""
    gw = start()
    rules = "--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1"
    dom = _chromium(f"http://rebind.attacker.test:{gw.port}/v1/models", rules)
    assert "not one this server answers to" in dom and '"object"' not in dom, dom[-300:]
    gw2 = start('allowed_hosts = ["rebind.attacker.test"]')
    dom = _chromium(f"http://rebind.attacker.test:{gw2.port}/v1/models", rules)
    assert '"object"' in dom and "auto" in dom, dom[-300:]

