"""The natural language a request is written in (ISO 639-1), offline and fast.

Code must not sway it: fenced blocks, inline code, URLs, paths and identifiers are removed first.
Plain-ASCII prose full of English function words is English without loading any model (most
requests, under a millisecond); anything else goes to ``py3langid`` (loaded once, ~0.7 s), limited
to widely used languages. Too little prose, or a low-confidence guess, gives ``None``: routing then
places no language constraint at all rather than a wrong one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from .chat import Message, text_of

INLINE = re.compile(r"`[^`\n]*`")
URL = re.compile(r"\b(?:https?|ftp|file)://\S+|\bwww\.\S+")
EMAIL = re.compile(r"\S+@\S+\.\w+")
PATH = re.compile(r"(?:\.{0,2}/|~/|[A-Za-z]:\\)[\w./\\-]+|\b\w+\.(?:py|js|ts|rs|go|java|cpp|c|h|md|json|toml|yaml|yml|"
                  r"txt|sh|sql|html|css)\b")
IDENT = re.compile(r"\b\w*(?:_\w+|[a-z][A-Z]\w*|\w*\(\)?|\d\w*)\b|[{}()\[\];=<>+*/%&|^~!:#$@\\\"']")
CODE_LINE = re.compile(r"^\s*(?:def |class |import |from \S+ import|return |if .*:$|for .*:$|[{}]|//|#include|"
                       r"const |let |var |function |fn |func |public |private |SELECT |>>> ).*$", re.M | re.I)
WORD = re.compile(r"[^\W\d_]+", re.U)

ENGLISH = frozenset("""a an the and or but if then else of to in on at by for with from into about as is are was were be
been being do does did done have has had can could should would will shall may might must not no yes this that these
those it its i me my we our you your he she they them their what which who whom whose why how when where there here
write make create fix explain add implement function code please help show tell give use using get set need want like
just also so than too very all any each every some more most other only same such own again further once""".split())

# widely used languages py3langid knows; restricting the set makes short texts far more reliable
LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "sk", "hu", "ro", "bg",
             "ru", "uk", "el", "tr", "ar", "he", "fa", "hi", "bn", "ur", "ta", "te", "th", "vi", "id", "ms", "ja",
             "ko", "zh", "ca", "hr", "sl", "lt", "lv", "et")
MIN_LETTERS = 12
MIN_CONFIDENCE = 0.5

_identifier = None
_lock = threading.Lock()


WINDOW = 1000    # characters of a long message's prose (after fenced code) read, from its start and end: a
                 # language shows in a few sentences, and the cleaning regexes cost ~0.5 us a character
CJK = re.compile(r"[\u2e80-\U0010ffff]")


def _drop_fenced(text: str, mark: str) -> str:
    """``text`` without its ``mark``-fenced blocks (an unclosed one runs to the end). ``str.find``, not
    a lazy regex: that tries the closing fence at every character of every block."""
    if mark not in text:
        return text
    out, pos = [], 0
    while (start := text.find(mark, pos)) >= 0:
        out.append(text[pos:start])
        end = text.find(mark, start + 3)
        pos = len(text) if end < 0 else end + 3
        if end < 0:
            break
    out.append(text[pos:])
    return " ".join(out)


def prose(text: str) -> str:
    """The natural-language part of a message: code, URLs, paths and identifiers removed. Work is
    bounded: past the fenced code, only the first and last parts of a long message are read."""
    text = _drop_fenced(_drop_fenced(text, "```"), "~~~")
    if len(text) > WINDOW:
        text = f"{text[: WINDOW * 3 // 4]}\n{text[-WINDOW // 4:]}"
    text = INLINE.sub(" ", text)
    if "://" in text or "www." in text:      # each pass costs; most prose has neither
        text = URL.sub(" ", text)
    if "@" in text:
        text = EMAIL.sub(" ", text)
    text = PATH.sub(" ", text)
    text = CODE_LINE.sub(" ", text)
    text = IDENT.sub(" ", text)
    return " ".join(text.split())


def detect(text: str) -> str | None:
    """ISO 639-1 code of ``text``'s natural language, or None when there is too little to tell."""
    words = prose(text)
    found = WORD.findall(words)
    letters = sum(map(len, found))
    if not words.isascii():       # a CJK character carries about as much as a short word
        letters += 2 * sum(1 for ch in "".join(CJK.findall(words)) if ch.isalpha())
    if letters < MIN_LETTERS:
        return None
    tokens = [w.lower() for w in found]
    if words.isascii() and tokens:
        english = sum(t in ENGLISH for t in tokens)
        if english >= 2 and english / len(tokens) >= 0.2:
            return "en"
    language, confidence = _classify(words)
    return language if confidence >= MIN_CONFIDENCE else None


def detect_messages(messages: Iterable[Message]) -> str | None:
    """The language of a conversation: its last user turn, or all user turns when that is too short."""
    users = [text_of(m) for m in messages if m.get("role") == "user"]
    if not users:
        return None
    return detect(users[-1]) or (detect("\n".join(users)) if len(users) > 1 else None)


def _classify(text: str) -> tuple[str, float]:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(LANGUAGES))
            _identifier = identifier
        identifier = _identifier
    language, confidence = identifier.classify(text)
    return str(language), float(confidence)
