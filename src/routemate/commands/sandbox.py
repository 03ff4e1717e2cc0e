"""``routemate sandbox``: which layers of the sandbox this machine provides, and what that means
for code from gateway clients (docs/verify.md)."""

from __future__ import annotations

import json

import typer

from ..cli import _console, _escape, app, friendly

# (key in layers(), name shown); "view" appears only when it is missing (root, private interpreter)
ROWS = [("namespaces", "namespaces"), ("workdir", "work dir"), ("view", "interpreter view"), ("uid", "user"),
        ("capabilities", "capabilities"), ("landlock", "Landlock"), ("seccomp", "seccomp"),
        ("audit", "audit hooks")]


def _state(key: str, found: dict) -> str:
    value = found.get(key)
    if key == "uid":
        return "nobody" if value == 65534 else f"uid {value}"
    if key == "capabilities":
        return "none kept" if value == "none" else str(value)
    if key == "landlock":
        return f"ABI {value}"
    if key == "audit":
        return "on (a tripwire for clear errors, not a boundary)" if value else "off"
    if key == "view":
        return "the interpreter is exposed read-only"
    return "on" if value is True else str(value)


@app.command()
@friendly
def sandbox(as_json: bool = typer.Option(False, "--json")) -> None:
    """Which sandbox layers this machine provides, and whether code from gateway clients runs."""
    from ..config import load_settings
    from ..verify.sandbox import for_remote_code, layers, usable

    settings = load_settings()
    found = layers()
    remote = for_remote_code(found, settings.verify.allow_weak_sandbox)
    if as_json:
        print(json.dumps({**found, "remote_code": remote}))
        return
    con = _console(stderr=False)
    missing = found.get("missing") or {}
    for key, name in ROWS:
        if key in missing:
            con.print(f"[red]✗[/] {name:<16} missing: {_escape(str(missing[key]))}")
        elif key in found and key != "view":
            con.print(f"[green]✓[/] {name:<16} {_escape(_state(key, found))}")
    if not usable(found):
        why = str(found.get("fatal") or "a trivial run did not start")
        con.print(f"[red]no code runs here[/]: {_escape(why)}")
        return
    con.print(f"code from gateway clients: {_escape(remote)}")
    if missing:
        con.print("code from routemate ask and the Python API: runs with the layers above (docs/verify.md)")
