"""Examples a request (or an answer) writes, read from text alone: what a call should give.

In any natural language and the common forms: ``>>>`` doctests; ``assert`` lines (also
mid-sentence); ``f(x) -> y``, ``==> y``, ``== y``, ``→ y``; "f(x) returns / should return / gives y"
in English, French, German, Dutch, Spanish, Portuguese, Italian, Russian and Chinese, anywhere in a
sentence; ``assertEqual(f(x), y)``-style calls; ``f(x)  # y``; ``print(f(x))`` with what it prints
stated in a comment, in prose or on an ``Output:`` line after it; ``Input: … / Output: …`` pairs.
"""

from __future__ import annotations

import ast
import doctest
import re
from dataclasses import dataclass
from typing import Literal
from . import pyast

BUILTINS = {"print", "len", "sorted", "sum", "max", "min", "list", "set", "dict", "tuple", "str", "int", "float",
            "abs", "range", "round", "map", "filter", "any", "all", "isinstance", "type", "repr", "bool", "zip",
            "enumerate", "reversed", "assert", "math", "np", "os", "sys", "re", "self", "super", "open", "input",
            "expect", "assertEqual", "assert_eq", "console", "format", "ord", "chr", "hash", "id", "iter", "next"}

# -- how examples are written -----------------------------------------------------------------------------
# What may stand between a call and the value it gives. Strong connectors say "returns" outright:
# anything may follow the value. Weak ones ("is", "=") need the value to end the clause.
STRONG = [
    # English
    "returns", "return", "should return", "must return", "will return", "would return", "shall return",
    "should give", "must give", "gives", "yields", "equals", "is equal to", "evaluates to", "results in",
    "outputs", "should output", "produces", "should produce", "should evaluate to", "returning",
    # French
    "renvoie", "retourne", "doit renvoyer", "doit retourner", "devrait renvoyer", "devrait retourner", "donne",
    "doit donner", "devrait donner", "vaut", "est égal à", "renverra", "retournera", "produit",
    # German (the verb may close the clause: "sollte 5 zurückgeben", "gibt 5 zurück")
    "gibt", "liefert", "ergibt", "sollte", "soll", "muss", "gibt zurück", "liefert zurück",
    # Dutch
    "geeft", "retourneert", "moet", "levert", "zou moeten", "geeft terug",
    # Spanish, Portuguese, Italian
    "devuelve", "debe devolver", "debería devolver", "retorna", "debe retornar", "debería retornar", "regresa",
    "debe dar", "da", "devolve", "deve devolver", "deve retornar", "deveria retornar", "dá", "restituisce",
    "deve restituire", "dovrebbe restituire", "ritorna", "dovrebbe ritornare", "dà",
    # Russian
    "возвращает", "должна вернуть", "должен вернуть", "должно вернуть", "вернёт", "вернет", "равно",
]
WEAK = ["is", "should be", "must be", "will be", "est", "doit être", "devrait être", "ist", "sollte sein", "is gelijk aan",
        "es", "debe ser", "é", "deve ser", "è", "deve essere", "dovrebbe essere", "gleich"]
SYMBOLS = r"==>|===|==|=>|->|→|➞|⇒|⟶|⟹|=(?!=)"
CJK = r"应该返回|应当返回|应返回|返回|等于|得到|结果为|结果是|输出|を返す|は"
# Words that may close the clause after the value ("sollte 5 zurückgeben", "moet 5 teruggeven").
CLOSERS = {"zurück", "zurückgeben", "zurückliefern", "liefern", "ergeben", "sein", "ausgeben", "teruggeven", "terug",
           "opleveren", "op", "geven", "zijn", "retourneren", "sein.", "zijn."}


def _alternation(phrases: list[str]) -> str:
    ordered = sorted(set(phrases), key=len, reverse=True)
    return "|".join(r"\s+".join(map(re.escape, p.split())) for p in ordered)


CONNECTOR = re.compile(
    rf"^\s*(?:,\s*)?(?:(?P<sym>{SYMBOLS})|(?P<cjk>{CJK})|(?P<strong>{_alternation(STRONG)})(?!\w)|"
    rf"(?P<weak>{_alternation(WEAK)})(?!\w))\s*:?\s*", re.I)
CALL_START = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(")
ASSERT_AT = re.compile(r"(?<![\w.])assert\s")
# assertEqual(f(x), y), assert_eq!(f(x), y), assert.equal(f(x), y), expect(f(x)).toBe(y)
PAIR_CALL = re.compile(r"(?:self\.)?(?:assertEqual|assertEquals|assert_eq!|assert\.(?:strict|deep)?[Ee]qual|"
                       r"assert\.deepStrictEqual)\s*\(")
EXPECT = re.compile(r"expect\s*\(")
CODE_LINE = re.compile(r"^(?:if|elif|while|return|def|class|for|with|yield|lambda|import|from|raise|except|try|"
                       r"print|async|await|let|const|var|function|fn)\b")
VALUE_CALLS = {"float", "int", "str", "set", "frozenset", "tuple", "list", "dict", "complex", "bytes", "range"}

INPUT_LABELS = r"Input|Inputs|Entrée|Entree|Eingabe|Invoer|Entrada|Ingresso|输入|Вход|Ввод|Входные данные"
OUTPUT_LABELS = (r"Output|Outputs|Return|Returns|Expected|Sortie|Résultat|Ausgabe|Ergebnis|Uitvoer|Resultaat|Salida|"
                 r"Saída|Saida|Resultado|Uscita|输出|Вывод|Выход|Результат")
INPUT_OUTPUT = re.compile(rf"^\s*(?:[-*•]\s*)?(?:{INPUT_LABELS})\s*[:：]\s*(?P<args>.+?)\s*(?:\n\s*(?:[-*•]\s*)?|\s+)"
                          rf"(?:{OUTPUT_LABELS})\s*[:：]\s*(?P<want>.+?)\s*$", re.I | re.M)

# What a comment after ``print(x)`` may say about its output: ``# Output: cba``, ``# -> 'cba'``,
# ``# prints cba``, ``# [1, 2]``.
CLAIM = re.compile(r"^#+\s*(?P<label>(?:expected\s+)?(?:output|outputs|prints?|returns?|result|expected|answer|"
                   r"should (?:print|return|be)|sortie|affiche|ausgabe|gibt aus|uitvoer|salida|imprime|saída|"
                   r"stampa|输出|вывод)\s*(?:is|will be|would be)?\s*[:=]?|=>|->|→|➞|==)?\s*(?P<want>.+?)\s*$",
                   re.I)
# ``print(f(x))`` and what it prints, in prose: "prints cba", "should print cba", "affiche cba"
PRINTS = re.compile(r"^\s*(?:,\s*)?(?:(?:should|must|will|would)\s+(?:print|output|display)|prints|outputs|displays|"
                    r"affiche|doit afficher|devrait afficher|gibt|druckt|sollte|drukt|moet|imprime|debe imprimir|"
                    r"deve imprimir|stampa|dovrebbe stampare|выводит|должна вывести|输出|==>|=>|->|→|➞)\s*:?\s*", re.I)
# A line that gives the output of the example code above it: "Output: cba", "Expected output:"
OUTPUT_LINE = re.compile(r"^\s*(?:#+\s*|//\s*|[-*•]\s*)?(?:expected\s+)?(?:output|outputs|prints|printed|result|sortie|ausgabe|"
                         r"uitvoer|salida|saída|saida|uscita|输出|вывод)\s*[:：]\s*(?P<want>.*?)\s*$", re.I)
PRINT_AT = re.compile(r"(?<![\w.])print\s*\(")


@dataclass(frozen=True)
class Example:
    """``doctest``: source and its output; ``assert``: a statement; ``arrow``: a call and the value
    it returns; ``print``: a call and what ``print(call)`` shows."""

    kind: Literal["doctest", "assert", "arrow", "print"]
    source: str
    want: str = ""

    @property
    def text(self) -> str:
        if self.kind == "assert":
            return self.source
        if self.kind == "print":
            return f"print({self.source}) shows {self.want}"
        return f"{self.source} -> {self.want}" if self.want else self.source


# -- examples ---------------------------------------------------------------------------------------------

def read_examples(prompt: str, defined: set[str]) -> list[Example]:
    """Every example in the request. ``defined``: functions the request's own code defines; when it
    defines any, a call example must call one of them (a docstring may mention another name)."""
    out: list[Example] = []
    seen: set[str] = set()

    def add(ex: Example) -> None:
        if ex.source not in seen:
            seen.add(ex.source)
            out.append(ex)

    for source, want in _doctests(prompt):
        if source and compiles(source, "exec"):
            add(Example("doctest", source, want))
    for ex in _print_examples(prompt):
        if not defined or called_name(ex.source) in defined:
            add(ex)
    for raw in prompt.splitlines():
        line = raw.strip()
        if line.startswith(">>>") or len(line) > 2000:
            continue
        line = line.replace("`", " ").lstrip("#*-•> ").strip()
        if not line or "(" not in line:
            continue
        for ex in _line_examples(line):
            callee = called_name(ex.source)
            if ex.kind != "assert" and defined and callee not in defined:
                continue
            add(ex)
    return out


def _doctests(text: str) -> list[tuple[str, str]]:
    """``>>>`` examples and their expected output. Fence lines end an example's output (the
    doctest parser would read them as output); a docstring with uneven indentation is read line
    by line instead of being dropped."""
    text = re.sub(r"(?m)^[ \t]*(`{3,}|~{3,}).*$", "", text)
    try:
        return [(ex.source.strip(), doctest_want(ex.want)) for ex in doctest.DocTestParser().get_examples(text)]
    except ValueError:
        pass
    out: list[tuple[str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)>>> ?(.*)$", lines[i])
        if not m:
            i += 1
            continue
        source = [m.group(2)]
        i += 1
        while i < len(lines) and re.match(r"^\s*\.\.\.( |$)", lines[i]):
            source.append(lines[i].strip()[4:])
            i += 1
        want = []
        while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith(">>>"):
            want.append(lines[i].strip())
            i += 1
        out.append(("\n".join(source).strip(), doctest_want("\n".join(want))))
    return out


def _print_examples(prompt: str) -> list[Example]:
    """``print(f(x))`` lines that say what they print: in a comment (``# Output: cba``), in prose
    after the call ("prints cba"), or on the ``Output:`` line(s) after a run of prints (in the
    same code block or just after it). A print that states nothing is not an example."""
    lines = prompt.splitlines()
    out: list[Example] = []
    i = 0
    while i < len(lines):
        run: list[str] = []           # consecutive prints that state nothing on their own line
        while i < len(lines):
            found = _print_line(lines[i])
            if found is None:
                break
            call, want = found
            if want is not None:
                out.append(Example("print", call, want))
                run = []
            else:
                run.append(call)
            i += 1
        if not run:
            i += 1
            continue
        wants = _output_after(lines, i)
        if wants is not None:
            if len(wants) == len(run):
                out += [Example("print", call, want) for call, want in zip(run, wants)]
            elif len(run) == 1:
                out.append(Example("print", run[0], "\n".join(wants)))
    return out


def _print_line(raw: str) -> tuple[str, str | None] | None:
    """(the call printed, what the line says it prints or None) for a ``print(call)`` line."""
    line = raw.strip()
    if line.startswith(">>>"):           # a doctest: its output is read as such
        return None
    line = line.replace("`", " ").lstrip("*-•> ").strip()
    at = PRINT_AT.search(line)
    if at is None:
        return None
    args = _balanced(line, at.end() - 1)
    if args is None or not _is_call(args[1:-1].strip()):
        return None
    call, rest = args[1:-1].strip(), line[at.end() - 1 + len(args):].strip()
    if not rest:
        return (call, None) if at.start() == 0 else None     # mid-sentence, it must say what it prints
    if rest.startswith("#"):
        return call, claimed(rest)
    m = PRINTS.match(rest)
    if not m:
        return None
    want = re.split(r"[.;,]\s|[.;]$|\s+#", rest[m.end():].strip(), maxsplit=1)[0].strip()
    return call, _stated(PRINT_CLOSERS.sub("", want))


def _output_after(lines: list[str], i: int) -> list[str] | None:
    """The output an ``Output:`` line after line ``i`` gives (past blank and fence lines): the rest
    of that line, or the lines (or fenced block) under it."""
    while i < len(lines) and (not lines[i].strip() or FENCE_LINE.match(lines[i])):
        i += 1
    m = OUTPUT_LINE.match(lines[i]) if i < len(lines) else None
    if m is None:
        return None
    if m.group("want"):
        want = _stated(m.group("want"), plain=True)
        return [want] if want else None
    body: list[str] = []
    i += 1
    fenced = i < len(lines) and bool(FENCE_LINE.match(lines[i]))
    i += fenced
    while i < len(lines) and lines[i].strip() and not FENCE_LINE.match(lines[i]) and len(body) < 40:
        body.append(lines[i].strip())
        i += 1
    return body or None


FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,})")
# Verbs that close the clause after the output ("gibt cba aus", "moet cba afdrukken")
PRINT_CLOSERS = re.compile(r"\s+(?:aus|af|ausgeben|drucken|anzeigen|zeigen|afdrukken|tonen|weergeven|printen)$", re.I)


def claimed(comment: str) -> str | None:
    """What a comment after ``print(x)`` says it prints, if it says (``# Output: cba``, ``# [1, 2]``)."""
    m = CLAIM.match(comment.strip())
    if not m:
        return None
    want = m.group("want").strip().rstrip(".")
    if is_value(want):
        return want
    # plain text counts only after an explicit label and when it is short (not a remark)
    if m.group("label") and len(want.split()) <= 3 and not want.endswith(":"):
        return want.strip("'\"`")
    return None


def _stated(want: str, *, plain: bool = False) -> str | None:
    """A value, or short text (any text on an ``Output:`` line: ``plain``), without quotes or backticks."""
    want = want.strip().strip("`").strip()
    if not want:
        return None
    if is_value(want):
        return want
    if plain or len(want.split()) <= 3:
        return want.strip("'\"").strip() or None
    return None


def _line_examples(line: str) -> list[Example]:
    found: list[Example] = []
    for m in ASSERT_AT.finditer(line):
        source = _longest_compiling(line[m.start():])
        if source:
            found.append(Example("assert", source))
    if found:
        return found
    if CODE_LINE.match(line):
        return found
    for m in PAIR_CALL.finditer(line) if "ssert" in line else ():
        args = _balanced(line, m.end() - 1)
        pair = _call_args(args[1:-1]) if args else None
        if pair and len(pair) == 2 and _is_call(pair[0]) and is_value(pair[1]):
            found.append(Example("arrow", pair[0], pair[1]))
    for m in EXPECT.finditer(line) if "expect" in line else ():
        args = _balanced(line, m.end() - 1)
        rest = line[m.end() - 1 + len(args):] if args else ""
        tail = re.match(r"\s*\)?\s*\.\s*to(?:Be|Equal|StrictEqual)\s*\(", rest) if args else None
        if args and tail:
            want = _balanced(rest, tail.end() - 1)
            if want and _is_call(args[1:-1].strip()) and is_value(want[1:-1]):
                found.append(Example("arrow", args[1:-1].strip(), want[1:-1].strip()))
    if found:
        return found
    for m in CALL_START.finditer(line):
        if m.group(1) in BUILTINS:
            continue
        call = _balanced(line, m.end() - 1)
        if call is None:
            continue
        source = line[m.start():m.end() - 1].rstrip() + call
        if not _is_call(source):
            continue
        rest = line[m.end() - 1 + len(call):]
        conn = CONNECTOR.match(rest)
        if not conn:
            said = claimed(rest) if rest.strip().startswith("#") else None     # f(x)  # -> 5
            if said is not None and is_value(said):
                found.append(Example("arrow", source, said))
            continue
        want = _value_after(rest[conn.end():], strong=conn.group("weak") is None)
        if want is not None:
            found.append(Example("arrow", source, want))
    return found


def _balanced(text: str, start: int) -> str | None:
    """The bracketed text starting at ``text[start]`` (an opening bracket), strings respected."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    if start >= len(text) or text[start] not in pairs:
        return None
    stack: list[str] = []
    quote = ""
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return text[start:i + 1]
        i += 1
    return None


def _value_after(rest: str, *, strong: bool) -> str | None:
    """The literal at the start of ``rest`` (the longest that parses), if the clause allows it."""
    rest = rest.strip()[:300]
    if not rest:
        return None
    cuts = [m.start() for m in re.finditer(r"(?=[\s,;!?)\]}。，]|\.(?:\s|$)|$|[^\x00-\x7f])", rest)]
    for cut in sorted(set(cuts), reverse=True):
        candidate = rest[:cut].strip()
        if not candidate or candidate.endswith(".") or not is_value(candidate):   # "returns 5." ends a sentence
            continue
        node = pyast.parse(candidate, mode="eval").body
        if isinstance(node, ast.Tuple) and not candidate.startswith("("):
            continue     # "returns 5, and ..." is 5, not the tuple (5,)
        after = rest[cut:].strip()
        if strong or _closes(after):
            return candidate
        return None
    return None


def _closes(after: str) -> bool:
    """What may follow a value given with a weak connector ("is 5."): the end of the clause."""
    if not after or after[0] in ".,;!?)。，":
        return True
    word = after.split()[0].strip(".,;!?").lower()
    return word in CLOSERS or word in {"and", "et", "und", "en", "y", "e", "и", "but", "mais", "aber", "maar"}


def _longest_compiling(text: str) -> str | None:
    words = text.split()
    for k in range(min(len(words), 60), 1, -1):
        candidate = " ".join(words[:k]).rstrip(".,;:")
        if compiles(candidate, "exec") and isinstance(pyast.parse(candidate).body[0], ast.Assert):
            after = " ".join(words[k:])
            # what follows must be prose ("assert f(1) == 2 doit passer"), not the rest of an expression
            return candidate if not after or after[0].isalpha() else None
    return None


def _call_args(text: str) -> list[str] | None:
    try:
        node = pyast.parse(f"_f({text})", mode="eval").body
    except SyntaxError:
        return None
    assert isinstance(node, ast.Call)
    return [ast.unparse(a) for a in node.args]


def _is_call(source: str) -> bool:
    """A call of a named function whose arguments are plain values (``f([1, 2], k=3)``)."""
    try:
        node = pyast.parse(source, mode="eval").body
    except (SyntaxError, ValueError):
        return False
    if not isinstance(node, ast.Call) or not isinstance(node.func, (ast.Name, ast.Attribute)):
        return False
    return all(_value_node(a) for a in [*node.args, *(k.value for k in node.keywords)])


def is_value(text: str) -> bool:
    try:
        return _value_node(pyast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, RecursionError):
        return False


def _value_node(node: ast.AST) -> bool:
    """Constants and containers of them, negative numbers, and ``float('inf')``-style values."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _value_node(node.operand)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_value_node(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _value_node(k) for k in node.keys) and all(_value_node(v) for v in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in VALUE_CALLS:
        return not node.keywords and all(_value_node(a) for a in node.args)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):   # 2**3, 1e9+7, "a" * 3
        return _value_node(node.left) and _value_node(node.right)
    return False


def input_output_examples(prompt: str, function: str, seen: set[str], keywords: bool) -> list[Example]:
    """``Input: arr = [1, 2], k = 1`` / ``Output: [2]`` pairs (LeetCode style, in several
    languages), as calls of the request's function. ``keywords``: the request's own ``def`` names
    the parameters, so ``arr = ...`` may stay a keyword; otherwise arguments go by position."""
    out = []
    for m in INPUT_OUTPUT.finditer(prompt):
        args = m.group("args").rstrip(".,;").replace("`", "")
        want = m.group("want").rstrip(".,;").replace("`", "").strip()
        if not keywords:
            args = re.sub(r"(^|,)\s*[A-Za-z_]\w*\s*=(?!=)\s*", r"\1 ", args).strip()
        call = f"{function}({args})"
        if call in seen or not _is_call(call) or not is_value(want):
            continue
        seen.add(call)
        out.append(Example("arrow", call, want))
    return out


def doctest_want(text: str) -> str:
    """Doctest output, without a docstring's closing quotes that the parser takes for output."""
    lines = []
    for line in text.splitlines():
        if line.strip() in ('"""', "'''"):
            break
        lines.append(line)
    return "\n".join(lines).rstrip()


def compiles(source: str, mode: str) -> bool:
    try:
        compile(source, "<request>", mode)
        return True
    except (SyntaxError, ValueError):
        return False


def called_name(source: str) -> str | None:
    """The first plain function an example calls (``add`` in ``add(1, 2) == 3``)."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id
    return None
