"""Find secrets and private markers in request text, fast enough to run on every request.

Sources of patterns, in order:
1. the format-specific detectors of ``detect-secrets`` (AWS, GitHub, GitLab, Slack, Stripe, JWT,
   private keys, credentials in URLs, ...): their maintained regexes, run here in one pass with
   positions so the secret itself can be redacted;
2. formats it lacks (current OpenAI/Anthropic/Google/Hugging Face keys, fine-grained GitHub tokens,
   ADO.NET connection strings, AWS secret keys next to their name);
3. assignments and ``.env`` lines whose name says key/token/secret/password;
4. long random-looking strings next to such a word (Shannon entropy), minus UUIDs, hashes named
   as such, and base64 that decodes to ordinary text;
5. the ``[privacy]`` config: hostnames, paths, markers and named patterns.
Placeholders (``sk-xxxx``, ``<your-key>``, ``${TOKEN}``, ``os.environ[...]``, the AWS docs'
``...EXAMPLE`` keys) are not secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .patterns import IN_CONTEXT, PASSWORD_KINDS, PASSWORDS, PREFIXED, PUBLIC_PREFIXES, SCHEMES

# detect-secrets class -> our label (IP addresses and generic keyword/entropy scans are ours)
DETECT_SECRETS = {
    "ArtifactoryDetector": "artifactory-token", "AWSKeyDetector": "aws-key", "AzureStorageKeyDetector": "azure-key",
    "BasicAuthDetector": "url-credentials", "CloudantDetector": "cloudant-key", "DiscordBotTokenDetector": "discord-token",
    "GitHubTokenDetector": "github-token", "GitLabTokenDetector": "gitlab-token", "IbmCloudIamDetector": "ibm-key",
    "IbmCosHmacDetector": "ibm-key", "JwtTokenDetector": "jwt", "MailchimpDetector": "mailchimp-key",
    "NpmDetector": "npm-token", "OpenAIDetector": "openai-key", "PrivateKeyDetector": "private-key",
    "PypiTokenDetector": "pypi-token", "SendGridDetector": "sendgrid-key", "SlackDetector": "slack-token",
    "SoftlayerDetector": "softlayer-key", "SquareOAuthDetector": "square-secret", "StripeDetector": "stripe-key",
    "TelegramBotTokenDetector": "telegram-token", "TwilioKeyDetector": "twilio-key",
}

# "auth" but not "author" (Co-Authored-By is in every Continue system prompt); "authorization" is one
SECRET_NAME = (r"(?:[A-Za-z0-9_.-]*?(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
               r"private[_-]?key|client[_-]?secret|auth(?!or(?!iz))|credentials?|signing[_-]?key|encryption[_-]?key|"
               r"master[_-]?key|session[_-]?key|webhook)[A-Za-z0-9_.-]*)")
# NAME = value / NAME: value / "name": "value" / --password value
ASSIGNMENT = re.compile(
    rf"(?i)(?<![A-Za-z0-9_.-])(?P<name>{SECRET_NAME})[\"'\]]*\s*(?:=|:=|:|=>)\s*[\"'`]?(?P<v>[^\s\"'`,;)}}\]]{{6,}})")
ENV_LINE = re.compile(rf"(?im)^\s*(?:export\s+)?(?P<name>[A-Z][A-Z0-9_]*{SECRET_NAME}[A-Z0-9_]*)=(?P<v>\S+)\s*$")
TOKEN = re.compile(r"[A-Za-z0-9+/_\-.]{19,}[A-Za-z0-9+/_\-]={0,2}")
# matched on lower-cased text: a case-insensitive regex runs ~10 times slower in ``re``
# (no alternative starts with an assertion: that would stop the engine skipping ahead by first character)
KEYWORD_NEAR = re.compile(r"key|token|secret|p(?:ass(?:w|phrase|code|\b)|wd|w\b|rivate|at\b)|cred|auth|bearer|login|"
                          r"signature|azure|devops")
# detect-secrets kinds whose patterns need such a word next to the value: scanned on those lines only
CONTEXT_KINDS = frozenset({"cloudant-key", "ibm-key", "softlayer-key"})
CONTEXT_PATTERNS = frozenset(pattern for _, pattern in IN_CONTEXT)
ADO_PAT = re.compile(r"(?=[a-z]*[2-7])[a-z2-7]{52}")     # an older Azure DevOps token: base32, next to devops words
# a hex string that only sits next to "key" is an id (cache key, primary key, S3 key): these words mean a secret
STRONG_WORDS = re.compile(r"secret|token|passw|pwd|api[_ -]?key|apikey|access[_ -]?key|private|signing|auth|"
                          r"credential|bearer|webhook|hmac|master[_ .-]?key|\.key\b")
PUBLIC_VALUE = re.compile(r"\.apps\.googleusercontent\.com$|^Iv1\.[0-9a-f]{16}$")
# base64 that is public by construction: certificates, public keys, CSRs and data: URIs
PUBLIC_BLOCK = re.compile(r"-----BEGIN (?![A-Z ]*PRIVATE)[A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|\Z)|"
                          r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HASH_WORDS = re.compile(r"(?i)\b(sha\d*|md5|hash|digest|commit|checksum|rev(ision)?|etag|integrity|uuid|guid)\b")
PLACEHOLDER = re.compile(
    r"(?i)x{4,}|\*{3,}|\.{3}|…|<[^>]*>|\{\{|\$\{|\$\(|%\(\w+\)[sdr]|^\$[A-Z_]|your[_-]|my[_-]?(?:secret|password|token|key)|"
    r"example|placeholder|changeme|change[_-]me|dummy|redacted|sample|insert|replace|todo|fixme|xxx|"
    r"^(?:os\.|process\.env|env\[|getenv|settings\.|config\.|secrets\.|self\.|request\.|args\.|kwargs|None|null|"
    r"true|false|undefined|str|input\(|getpass)|^!(?:vault|ref|sub|getatt|env|secret)\b|^\$ANSIBLE_VAULT")


@dataclass(frozen=True)
class Finding:
    kind: str          # aws-key, github-token, password, env-secret, high-entropy, hostname, marker, ...
    start: int         # span of the secret itself in the scanned text
    end: int

    @property
    def private_only(self) -> bool:
        """Markers/hostnames/paths keep a request local but are not redacted as secrets."""
        return self.kind.startswith(("hostname", "path", "marker", "pattern:"))


GATES_VERSION = 1  # bump when gate_of changes: cached gates from another version are not reused
MEMO_SIZE = 1024   # texts whose scan results are remembered (by digest), most recently used kept
SHORT_TEXT = 256   # texts shorter than this are scanned again rather than remembered
Gate = tuple[tuple[str, ...], bool]      # literals a match must contain (one of), and whether case is ignored


def _literal_gates(seq: object) -> list[list[str]]:
    """Candidate gates of a parsed regex sequence: lists of literal strings, one of which every match
    contains. Conservative: anything not understood yields no candidate (the regex then always runs)."""
    from re import _constants as C  # type: ignore[attr-defined]

    cands: list[list[str]] = []
    run = [""]

    def flush() -> None:
        nonlocal run
        if run and min(map(len, run)) >= 2:
            cands.append(run)
        run = [""]

    for op, av in seq:  # type: ignore[attr-defined]
        spelled = _spellings(op, av)
        if spelled is not None and len(run) * len(spelled) <= 16:
            run = [r + x for r in run for x in spelled]      # "sk_", [abc], (?:live|test): extend the run
            continue
        flush()
        if op is C.SUBPATTERN:
            cands += _literal_gates(av[-1])
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            cands += _literal_gates(av[2])
        elif op is C.BRANCH:
            alternatives: list[str] | None = []
            for alt in av[1]:
                best = _best_gate(_literal_gates(alt))
                if best is None:
                    alternatives = None
                    break
                alternatives += best
            if alternatives:
                cands.append(alternatives)
    flush()
    return cands


def _spellings(op: object, av: object) -> list[str] | None:
    """Every string a literal-only node can match (a character, a small set, a group or alternation
    of literal strings), or None."""
    from re import _constants as C  # type: ignore[attr-defined]

    if op is C.LITERAL:
        return [chr(av)]  # type: ignore[arg-type]
    if op is C.IN:
        return [chr(c) for o, c in av] if all(o is C.LITERAL for o, _ in av) else None  # type: ignore[attr-defined]
    if op is C.SUBPATTERN or op is C.BRANCH:
        out: list[str] = []
        for alt in (av[-1],) if op is C.SUBPATTERN else av[1]:  # type: ignore[index]
            words = [""]
            for o, a in alt:
                spelled = _spellings(o, a)
                if spelled is None or len(words) * len(spelled) > 16:
                    return None
                words = [w + x for w in words for x in spelled]
            out += words
        return out if len(out) <= 16 else None
    return None


def _best_gate(cands: list[list[str]]) -> list[str] | None:
    """The most selective candidate: long literals, few alternatives. A literal containing another
    one of its set adds nothing ("mysqldump" implies "mysql") and is dropped."""
    minimal = [[w for w in g if not any(o != w and o in w for o in g)] for g in cands]
    return max(minimal, key=lambda g: min(map(len, g)) - 1.5 * (len(g) - 1)) if minimal else None


def gate_of(pattern: re.Pattern[str]) -> Gate | None:
    """Literals one of which every match of ``pattern`` contains, so the pattern can be skipped on text
    without any of them (``str.__contains__`` costs ~1 ns a character; a regex pass 20-40)."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        best = _best_gate(_literal_gates(_parser.parse(pattern.pattern, pattern.flags)))
    except Exception:       # a private module changed, or an unusual pattern: no gate, always run it
        return None
    if best is None:
        return None
    ignore_case = bool(pattern.flags & re.IGNORECASE) or "(?i" in pattern.pattern
    return tuple(sorted({s.casefold() if ignore_case else s for s in best})), ignore_case


def _gates(patterns: list[re.Pattern[str]]) -> list[Gate | None]:
    """``gate_of`` each pattern, cached on disk: parsing ~60 regexes costs ~15 ms of every start."""
    import sys

    key = hashlib.sha256(json.dumps([[p.pattern, p.flags] for p in patterns]
                                    + [sys.version_info[:2], GATES_VERSION]).encode())
    cache = _cache_dir() / f"secret-gates-{key.hexdigest()[:16]}.json"
    try:
        return [None if g is None else (tuple(g[0]), bool(g[1]))
                for g in json.loads(cache.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError, IndexError):
        pass
    gates = [gate_of(p) for p in patterns]
    _write_cache(cache, gates)
    return gates


@lru_cache(maxsize=1)
def _detect_secrets_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """detect-secrets' detector regexes. Importing the library takes ~0.3 s, too much for every CLI
    start, so its patterns are cached per library version in the user cache dir."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("detect-secrets")
    except importlib.metadata.PackageNotFoundError:   # still useful without it: our patterns cover the common keys
        return ()
    cache = _cache_dir() / f"detect-secrets-{version}.json"
    try:
        rows = json.loads(cache.read_text(encoding="utf-8"))
        return tuple((label, re.compile(pattern, flags)) for label, pattern, flags in rows)
    except (OSError, ValueError, TypeError, re.error):
        pass
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    out = []
    for cls in get_mapping_from_secret_type_to_class().values():
        label = DETECT_SECRETS.get(cls.__name__)
        if label is None:
            continue
        for pattern in getattr(cls(), "denylist", ()) or ():
            out.append((label, pattern))
    _write_cache(cache, [(label, p.pattern, p.flags) for label, p in out])
    return tuple(out)


def _write_cache(path: Path, data: object) -> None:
    """Write ``data`` as JSON atomically (a reader never sees half a file); a cache that cannot be
    written only costs the next start its time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _cache_dir() -> Path:
    if os.environ.get("ROUTEMATE_CACHE_DIR"):
        return Path(os.environ["ROUTEMATE_CACHE_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("routemate", appauthor=False))


def entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_placeholder(value: str) -> bool:
    value = value.strip("\"'`")
    if PLACEHOLDER.search(value):
        return True
    if len(value) >= 6 and Counter(value).most_common(1)[0][1] / len(value) > 0.4:   # aaaaaaa, 0000000
        return True
    return bool(re.fullmatch(r"(?i)[a-z]+(?:[_-][a-z]+)*", value) and len(value) < 20 and
                not re.search(r"\d", value) and value.lower() == value)   # a plain word, e.g. "password"


def _readable_base64(token: str) -> bool:
    """Base64 of ordinary text (a docs example) is not a secret."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) < 8:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw) / len(raw)
    return printable > 0.95 and bool(re.search(rb"[a-z]{3,} [a-z]{2,}", raw))


def _high_entropy(token: str) -> bool:
    body = token.strip("=-_.")
    if len(body) < 20 or UUID.match(body):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", body):
        return len(body) >= 32 and entropy(body) >= 3.0
    classes = sum(bool(re.search(p, body)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes >= 2 and entropy(body) >= 3.7 and not _readable_base64(body)


class Detector:
    """Scans text for secrets and configured private markers. Build once, reuse: it is thread-safe."""

    def __init__(self, config: object | None = None) -> None:
        cfg = config
        self.use_library = getattr(cfg, "detect_secrets", True)
        self.use_entropy = getattr(cfg, "entropy", True)
        known = list(_detect_secrets_patterns()) if self.use_library else []
        known += [(label, re.compile(p)) for label, p in (*PREFIXED, *IN_CONTEXT, *PASSWORDS)]
        gates = _gates([pattern for _, pattern in known])
        self.known = [(label, pattern, gate) for (label, pattern), gate in zip(known, gates)]
        self._in_context = {i for i, (label, pattern, _) in enumerate(self.known)
                            if label in CONTEXT_KINDS or pattern.pattern in CONTEXT_PATTERNS}
        # Which gate literals a text holds is found in one pass per case mode, by a regex of all the
        # literals shaped as a trie (one branch per distinct next character: ~180 literals cost
        # little more than a few). Per case mode: that regex; the patterns gated by each literal or
        # by any shorter literal it starts with (the trie reports the longest at a position); and
        # the patterns each literal gates.
        self._finders: list[tuple[bool, re.Pattern[str], dict[str, set[int]], dict[str, set[int]]]] = []
        self._ungated = {i for i, (*_, g) in enumerate(self.known) if g is None}
        for ignore_case in (False, True):
            users: dict[str, set[int]] = {}
            for i, (*_, g) in enumerate(self.known):
                if g is not None and g[1] == ignore_case:
                    for lit in g[0]:
                        users.setdefault(lit, set()).add(i)
            lits = sorted(users, key=lambda lit: (-len(lit), lit))
            if lits:
                finder = re.compile(_trie(lits))
                by_prefix = {lit: set().union(*(users[m] for m in lits if lit.startswith(m))) for lit in lits}
                self._finders.append((ignore_case, finder, by_prefix, users))
        self._memo: OrderedDict[bytes, tuple[Finding, ...]] = OrderedDict()
        self._memo_lock = threading.Lock()
        extra: list[tuple[str, re.Pattern[str]]] = []
        for host in getattr(cfg, "hostnames", ()) or ():
            extra.append(("hostname", re.compile(_glob(host, r"[A-Za-z0-9-]"), re.I)))
        for path in getattr(cfg, "paths", ()) or ():
            extra.append(("path", re.compile(_glob(path, r"[^\s/]"))))
        for marker in getattr(cfg, "markers", ()) or ():
            extra.append(("marker", re.compile(rf"(?<!\w){re.escape(marker)}(?!\w)")))
        for name, pattern in (getattr(cfg, "patterns", {}) or {}).items():
            extra.append((f"pattern:{name}", re.compile(pattern)))
        self.extra = extra

    def scan(self, text: str) -> list[Finding]:
        """Every secret and private marker in ``text``. Results for longer texts are remembered by a
        digest of the text (never the text): a client resends the whole conversation every turn,
        and only the new message needs scanning."""
        if len(text) < SHORT_TEXT:
            return self._scan(text)
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._memo_lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return list(hit)
        found = self._scan(text)
        with self._memo_lock:
            self._memo[key] = tuple(found)
            if len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return found

    def _scan(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        lower = text.lower()
        lines = _keyword_lines(text, lower)
        folded = lower if text.isascii() else text.casefold()    # the same string for ASCII: no second copy
        todo = set(self._ungated)
        for ignore_case, finder, by_prefix, _ in self._finders:
            haystack = folded if ignore_case else text
            pos = 0
            while (m := finder.search(haystack, pos)) is not None:     # every occurrence, overlapping ones too
                todo |= by_prefix[m.group()]
                pos = m.start() + 1
        for i in sorted(todo):
            label, pattern, _ = self.known[i]
            matches = _within(pattern, text, lines) if i in self._in_context else pattern.finditer(text)
            for m in matches:
                start, end = _value_span(m)
                if label in PASSWORD_KINDS:
                    end = start + len(text[start:end].rstrip(",.;:)]}"))
                    if not looks_like_password(text[start:end]):
                        continue
                elif label != "private-key" and is_placeholder(text[start:end]):
                    continue
                if label in ("aws-key",) and text[start:end].endswith("EXAMPLE"):
                    continue
                found.append(Finding(label, start, end))
        for m in _within(ENV_LINE, text, lines):
            value = m.group("v")
            if not (is_placeholder(value) or _names_an_id(m.group("name")) or PUBLIC_VALUE.search(value)) \
                    and len(value.strip("\"'")) >= 6:
                found.append(Finding("env-secret", m.start("v"), m.end("v")))
        for m in _within(ASSIGNMENT, text, lines):
            value = m.group("v")
            if value.lower() in SCHEMES:     # "Authorization: Bearer X": the secret is X; "token_type: Bearer": none
                after = re.match(r"[ \t]+([^\s\"'`,;]{8,})", text[m.end("v"):])
                if after and not is_placeholder(after.group(1)):
                    found.append(Finding("bearer-token", m.end("v") + after.start(1), m.end("v") + after.end(1)))
                continue
            start, end = m.span("v")
            quote = text[start - 1] if start else ""
            if quote in "\"'`":        # a quoted value runs to its closing quote: ')' or ',' may be in it
                close = text.find(quote, end, min(len(text), end + 200))
                if close > 0 and "\n" not in text[end:close]:
                    end = close
                    value = text[start:end]
            if is_placeholder(value) or _is_code_reference(value) or _names_an_id(m.group("name")) \
                    or PUBLIC_VALUE.search(value):
                continue
            name = m.group("name").lower()
            kind = "password" if re.search(r"pass|pwd", name) else "secret"
            found.append(Finding(kind, start, end))
        if self.use_entropy:
            public = [m.span() for m in PUBLIC_BLOCK.finditer(text)] if ("-----BEGIN" in text or "base64," in text) \
                else []
            for line_start, line_end in lines:
                line = text[line_start:line_end]
                if HASH_WORDS.search(line):
                    continue
                strong = STRONG_WORDS.search(lower, line_start, line_end) is not None
                for m in TOKEN.finditer(line):
                    token = m.group()
                    if _high_entropy(token) and not is_placeholder(token) and _may_be_secret(token, strong) and \
                            not any(a <= line_start + m.start() < b for a, b in public):
                        kind = "azure-devops-token" if ADO_PAT.fullmatch(token) else "high-entropy"
                        found.append(Finding(kind, line_start + m.start(), line_start + m.end()))
        for label, pattern in self.extra:
            for m in pattern.finditer(text):
                found.append(Finding(label, m.start(), m.end()))
        return _merge(found)

    def redact(self, text: str, findings: Iterable[Finding] | None = None) -> str:
        """``text`` with every secret replaced by ``[REDACTED:kind]`` (markers and hostnames stay)."""
        spans = [f for f in (self.scan(text) if findings is None else findings) if not f.private_only]
        out, pos = [], 0
        for f in sorted(spans, key=lambda f: f.start):
            if f.start < pos:
                continue
            out.append(text[pos:f.start])
            out.append(f"[REDACTED:{f.kind}]")
            pos = f.end
        out.append(text[pos:])
        return "".join(out)


def _trie(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, longest first, shaped as a trie (``gh(?:p_|o_)``): the
    engine tries one branch per distinct next character instead of every word at every position."""
    root: dict[str, dict] = {}                     # type: ignore[type-arg]
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:                   # type: ignore[type-arg]
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


def _value_span(m: re.Match[str]) -> tuple[int, int]:
    """The secret inside a match: the named group ``v``, else the first group, else the whole match."""
    if "v" in m.re.groupindex and m.group("v") is not None:
        return m.span("v")
    if m.re.groups and m.group(1) is not None and len(m.group(1)) >= 6:
        return m.span(1)
    start, end = m.span()
    text = m.group()
    # detect-secrets patterns often include the delimiter around the token
    lead = len(text) - len(text.lstrip(" \t\n=:\"'"))
    trail = len(text) - len(text.rstrip(" \t\n\"'"))
    return start + lead, end - trail


def looks_like_password(value: str) -> bool:
    """A value pasted as a password: letters and digits or symbols (or long), not a word, a flag,
    a number, a placeholder or code."""
    value = value.strip("\"'`")
    if len(value) < 6 or value.isdigit() or value.startswith("-") or is_placeholder(value) or _is_code_reference(value):
        return False
    letters = any(c.isalpha() for c in value)
    others = any(not c.isalpha() for c in value)
    return (letters and others) or len(value) >= 12


def _names_an_id(name: str) -> bool:
    """``client_id``, ``AWS_ACCESS_KEY_ID``, ``tenantId``: identifiers, not secrets."""
    return bool(re.search(r"(?:^|[_.-])ids?$|[a-z]Ids?$", name)) or name.lower().endswith(("_id", "-id", "clientid"))


def _may_be_secret(token: str, strong: bool) -> bool:
    """What the entropy test cannot tell: public prefixes, hashes and ids, paths, code names."""
    body = token.strip("=-_.")
    if token.startswith(PUBLIC_PREFIXES) or PUBLIC_VALUE.search(token):
        return False
    if re.fullmatch(r"[0-9a-fA-F-]+", body):        # hex: an id unless a word on the line says secret
        return strong and len(body.replace("-", "")) not in (40, 64)
    if re.match(r"[a-z]{3,}/", token):               # photos/3f2a..., key/1b4e-...: a path
        return False
    if not any(c.isdigit() for c in body) and len(body) < 32:   # mapboxgl.accessToken, camelCase names
        return False
    return True


def _is_code_reference(value: str) -> bool:
    """``password = get_password()`` or ``token = args.token``: code, not a secret."""
    return bool(re.fullmatch(r"[A-Za-z_][\w.]*(\(.*)?", value) and ("(" in value or "." in value)
                or re.fullmatch(r"[a-z_]+", value))


def _keyword_lines(text: str, lower: str) -> list[tuple[int, int]]:
    """Spans of the lines that mention a secret-ish word (``lower`` is ``text.lower()``): one regex
    pass, not a loop over lines."""
    if len(lower) != len(text):     # a few characters lower-case to two: positions would drift
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    spans: list[tuple[int, int]] = []
    for m in KEYWORD_NEAR.finditer(lower):
        if spans and m.start() < spans[-1][1]:
            continue
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        spans.append((start, len(text) if end < 0 else end))
    return spans


def _within(pattern: re.Pattern[str], text: str, spans: list[tuple[int, int]]) -> Iterable[re.Match[str]]:
    """``pattern`` matches, tried only on the given lines (most lines of a pasted file have no secret word)."""
    for start, end in spans:
        yield from pattern.finditer(text, start, end)


GENERIC = {"high-entropy": 2, "secret": 1, "password": 1, "env-secret": 1}


def _merge(found: list[Finding]) -> list[Finding]:
    """One finding per overlapping group (a key inside its own assignment, a JWT inside a header):
    the union of their spans, named by the most specific kind (an aws-key beats high-entropy)."""
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    out: list[Finding] = []
    for f in found:
        last = out[-1] if out else None
        if last and f.start < last.end and not f.private_only and not last.private_only:
            kind = min((last.kind, f.kind), key=lambda k: GENERIC.get(k, 0))
            out[-1] = Finding(kind, last.start, max(last.end, f.end))
            continue
        out.append(f)
    return out


def _glob(pattern: str, char: str) -> str:
    """A shell-style glob as a regex that matches inside text (``*`` stays within a name)."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    out = []
    for p in parts:
        if p == "**":
            out.append(r"\S*")
        elif p == "*":
            out.append(f"{char}*")
        elif p == "?":
            out.append(char)
        else:
            out.append(re.escape(p))
    return r"(?<![\w.-])" + "".join(out) + r"(?![\w-])"


__all__ = ["Detector", "Finding", "entropy", "gate_of", "is_placeholder"]
