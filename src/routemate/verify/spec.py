"""What a request says its code must do, read from its text alone (no model, no I/O).

- **Names and signatures**: ``def`` lines and stubs, "a function called x", `` `x()` ``, "function
  is_even(n)" in prose, and the functions its examples call.
- **Examples**, in any natural language and the common forms: ``>>>`` doctests; ``assert`` lines
  (also mid-sentence); ``f(x) -> y``, ``==> y``, ``== y``, ``→ y``; "f(x) returns / should return /
  gives y" and the same in French, German, Dutch, Spanish, Portuguese, Italian, Russian and Chinese
  ("add(2, 3) doit renvoyer 5", "sollte 5 zurückgeben", "moet 5 teruggeven", "devuelve 5"), anywhere
  in a sentence; ``assertEqual(f(x), y)``-style calls; ``Input: … / Output: …`` pairs (also
  "Entrée / Sortie", "Eingabe / Ausgabe", "Invoer / Uitvoer", "Entrada / Salida").
- **The code it shows**: the *preamble* (imports, helpers, constants) a completed stub needs to
  run, files the user attached (``slugify.py:`` then a code block), and whether the request asks for
  tests of that code rather than for the code itself.
"""

from __future__ import annotations

import ast
import doctest
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from ..routing.features import normalise_language

BUILTINS = {"print", "len", "sorted", "sum", "max", "min", "list", "set", "dict", "tuple", "str", "int", "float",
            "abs", "range", "round", "map", "filter", "any", "all", "isinstance", "type", "repr", "bool", "zip",
            "enumerate", "reversed", "assert", "math", "np", "os", "sys", "re", "self", "super", "open", "input",
            "expect", "assertEqual", "assert_eq", "console", "format", "ord", "chr", "hash", "id", "iter", "next"}
NAMED = re.compile(r"\b(?:function|method|class)\s+(?:called|named)\s+`?([A-Za-z_]\w*)`?|"
                   r"`([A-Za-z_]\w*)\([^`]*\)`|\b(?:function|method)\s+`([A-Za-z_]\w*)`", re.I)
SIGNATURE_IN_PROSE = re.compile(r"\b(?:function|method|fonction|funktion|functie|función|funcion|funzione|função|"
                                r"funcao|méthode|methode|método|metodo|функци\w*)\s+`?([A-Za-z_]\w*)\(([\w\s,=*:\[\]|.]*)\)"
                                r"(?:\s*->\s*([\w\[\], |.]+?))?(?=[`\s.,;:]|$)", re.I)
DEF_LINE = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\((.*?)\)\s*(?:->[^:]*)?:", re.M)
WANTS_FUNCTION = re.compile(r"\b(function|method|def |class|implement|procedure|routine|fonction|funktion|functie|"
                            r"función|funcion|funzione|função|funcao|méthode|methode|método|metodo|функци\w*)\b|函数",
                            re.I)
NAMED_LANGUAGES = {"python", "javascript", "typescript", "rust", "go", "java", "cpp", "c", "bash", "sql", "csharp",
                   "ruby", "kotlin", "swift", "php"}

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
FILE_LABEL = re.compile(r"^(?:#+\s*|File:\s*|Fichier\s*:\s*|Datei:\s*|Bestand:\s*|Archivo:\s*)?`?"
                        r"(?P<name>[\w./-]+\.py)`?\s*:?\s*\n(?P<fence>`{3,}|~{3,})[\w+-]*\n(?P<body>.*?)\n(?P=fence)",
                        re.M | re.S)
WANTS_TESTS = re.compile(r"\b(unit[- ]?tests?|pytest|unittest|test cases?|tests?\s+(?:for|of)|write\s+(?:\w+\s+)?tests|"
                         r"add\s+(?:\w+\s+)?tests|tests? unitaires|cas de test|tests? (?:pour|für|voor|para|per)|"
                         r"Unit-?Tests?|Testfälle|testgevallen|pruebas(?: unitarias)?|testes(?: unitários)?|"
                         r"test unitari)\b|单元测试|测试用例", re.I)
WRITE_VERBS = re.compile(
    r"\b(write|implement|create|code|build|make|generate|fix|refactor|complete|écri\w*|implément\w*|cré\w*|"
    r"complète\w*|corrige\w*|schreib\w*|implementier\w*|erstell\w*|vervollständig\w*|schrijf|implementeer|maak|"
    r"escrib\w*|implement[ae]\w*|cre[ae]\w*|escrev\w*|cri[ae]\w*|scriv\w*|напиш\w*|реализу\w*|созда\w*)\b|"
    r"编写|写一个|实现|を書", re.I)
CODE_NOUNS = re.compile(
    r"\b(functions?|methods?|class(es)?|script|programs?|code|fonctions?|méthodes?|classes?|programmes?|"
    r"funktion(en)?|methode|klasse|programm|skript|functies?|klasse|programma|función|funcion|funciones|método|"
    r"clase|programa|código|funzione|metodo|classe|programma|codice|função|funcao|функци\w*|класс\w*|программ\w*|"
    r"скрипт|код)\b|函数|代码|程序|関数", re.I)


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


@dataclass(frozen=True)
class Spec:
    """What the request itself says the code must do."""

    names: tuple[str, ...] = ()
    params: dict[str, int] = field(default_factory=dict)   # name -> parameter count in the request's def
    examples: tuple[Example, ...] = ()
    wants_function: bool = False
    language: str | None = None
    entry: str | None = None           # the function the request is about (its stub, or what examples call)
    hints: tuple[str, ...] = ()        # the entry's parameter annotations in the request ("List[int]"), "" if none
    arg_names: tuple[str, ...] = ()    # the entry's parameter names, when the request gives them
    preamble: str = ""                 # imports, helpers and constants of the Python the request shows
    files: dict[str, str] = field(default_factory=dict)    # modules the user attached: "slugify.py" -> source
    wants_tests: bool = False          # the request asks for tests of code it supplies


def read_request(prompt: str) -> Spec:
    """Names, signatures, examples, code and language from the request text."""
    params: dict[str, int] = {}
    names: dict[str, None] = {}
    for name, arglist in DEF_LINE.findall(prompt):
        names[name] = None
        params[name] = _param_count(arglist)
    shown = _shown_code(prompt)
    examples = _examples(prompt, set(shown.defined))
    for ex in examples:
        callee = called_name(ex.source)
        if callee and callee not in BUILTINS:
            names[callee] = None
    for groups in NAMED.findall(prompt):
        name = next((g for g in groups if g), "")
        if name and name not in BUILTINS:
            names.setdefault(name, None)
    hints = dict(shown.hints)
    for name, arglist, _returns in SIGNATURE_IN_PROSE.findall(prompt):    # "a function is_even(n) that ..."
        if name not in BUILTINS and name not in params:
            names.setdefault(name, None)
            count = _param_count(arglist)
            if count >= 0:
                params[name] = count
                hints.setdefault(name, _annotations(arglist))
    entry = _entry(shown, examples, list(names))
    if entry is not None and not any(called_name(e.source) == entry and e.kind == "arrow" for e in examples):
        keywords = entry in shown.defined
        examples += _input_output_examples(prompt, entry, {e.source for e in examples}, keywords)
    files = {m.group("name").rsplit("/", 1)[-1]: m.group("body") + "\n" for m in FILE_LABEL.finditer(prompt)}
    wants_tests = bool(WANTS_TESTS.search(_prose(prompt))) and bool(shown.defined or files)
    if wants_tests:   # the functions under test are given: the answer need not define them
        names = {}
        params = {}
    return Spec(names=tuple(names), params=params, examples=tuple(examples),
                wants_function=not wants_tests and (bool(WANTS_FUNCTION.search(prompt)) or bool(names)),
                language=request_language(prompt), entry=entry,
                hints=tuple(h for h, _ in hints.get(entry or "", ())), arg_names=tuple(n for _, n in hints.get(entry or "", ())),
                preamble=shown.preamble, files=files, wants_tests=wants_tests)


def asks_for_code(text: str) -> bool:
    """Whether a request in any language asks for code to be written: a writing verb and a code
    noun, or a writing verb and examples the code must satisfy."""
    prose = _prose(text)
    if not WRITE_VERBS.search(prose):
        return False
    return bool(CODE_NOUNS.search(prose)) or bool(_examples(text, set())) or bool(DEF_LINE.search(text))


def request_language(prompt: str) -> str | None:
    """The programming language a request names (in prose, else a fence tag), if exactly one."""
    prose = _prose(prompt)
    found = [lang for lang, pattern in LANGUAGE_WORDS if pattern.search(prose)]
    if not found:
        tags = {normalise_language(m.group(1)) for m in re.finditer(r"```[ \t]*([\w+#.-]+)", prompt)}
        found = [t for t in tags if t in NAMED_LANGUAGES]
    if not found and DEF_LINE.search(prompt):
        found.append("python")
    return found[0] if len(found) == 1 else None


LANGUAGE_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("python", re.compile(r"\bpython\d?\b", re.I)),
    ("javascript", re.compile(r"\b(javascript|node\.?js)\b|\bJS\b", re.I)),
    ("typescript", re.compile(r"\btypescript\b", re.I)),
    ("rust", re.compile(r"\brust\b", re.I)),
    ("go", re.compile(r"\bgolang\b|\bGo\b(?= (function|program|code|struct|module|package|routine))|\bin Go\b")),
    ("java", re.compile(r"\bjava\b(?!script)", re.I)),
    ("cpp", re.compile(r"\bc\+\+|\bcpp\b", re.I)),
    ("c", re.compile(r"\b(in|using|a) C\b(?![+#])|\bC (function|program|code)\b")),
    ("csharp", re.compile(r"\bc#|\bcsharp\b", re.I)),
    ("bash", re.compile(r"\b(bash|shell script)\b", re.I)),
    ("sql", re.compile(r"\bsql\b(?! injection)", re.I)),
    ("ruby", re.compile(r"\bruby\b", re.I)),
    ("kotlin", re.compile(r"\bkotlin\b", re.I)),
    ("swift", re.compile(r"\bswift\b(?=.*\b(function|code|struct|class|program)\b)", re.I)),
    ("php", re.compile(r"\bphp\b", re.I)),
]


def _prose(text: str) -> str:
    return re.sub(r"```.*?(```|\Z)", " ", text, flags=re.S)


# -- the code the request shows --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Shown:
    preamble: str = ""
    defined: tuple[str, ...] = ()
    stubs: tuple[str, ...] = ()                          # functions whose body is only a docstring / pass / ...
    hints: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)   # name -> ((annotation, arg), ...)


def _shown_code(prompt: str) -> _Shown:
    """The Python in the request: its importable part (imports, helpers, constants, stubs), which
    functions it defines and which are stubs to complete, and their parameter annotations."""
    from .extract import python_answer

    py = python_answer(prompt)
    if py is None or not py.definitions.strip():
        return _Shown()
    try:
        tree = ast.parse(py.definitions)
    except SyntaxError:
        return _Shown()
    defined, stubs, hints = [], [], {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.append(node.name)
            if _is_stub(node):
                stubs.append(node.name)
            args = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
            hints[node.name] = tuple((ast.unparse(a.annotation) if a.annotation else "", a.arg) for a in args)
        elif isinstance(node, ast.ClassDef):
            defined.append(node.name)
    return _Shown(py.definitions, tuple(defined), tuple(stubs), hints)


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return all(isinstance(n, ast.Pass) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
               or (isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n)) for n in body)


def _entry(shown: _Shown, examples: list[Example], names: list[str]) -> str | None:
    """The function the request is about: the stub it asks to complete, else the one its examples
    call most, else the only function it shows or names."""
    if len(shown.stubs) == 1:
        return shown.stubs[0]
    calls = Counter(c for c in (called_name(e.source) for e in examples) if c and c not in BUILTINS)
    for name, _ in calls.most_common():
        if not shown.defined or name in shown.defined:
            return name
    if shown.stubs:
        return shown.stubs[-1]
    functions = [n for n in shown.defined if n in shown.hints]
    if functions:
        return functions[-1]
    return names[0] if len(names) == 1 else None


def _annotations(arglist: str) -> tuple[tuple[str, str], ...]:
    try:
        node = ast.parse(f"def _f({arglist}): pass").body[0]
    except SyntaxError:
        return ()
    assert isinstance(node, ast.FunctionDef)
    args = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
    return tuple((ast.unparse(a.annotation) if a.annotation else "", a.arg) for a in args)


def _param_count(arglist: str) -> int:
    try:
        node = ast.parse(f"def _f({arglist}): pass").body[0]
    except SyntaxError:
        return -1
    assert isinstance(node, ast.FunctionDef)
    args = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
    return len(args)


# -- examples ---------------------------------------------------------------------------------------------

def _examples(prompt: str, defined: set[str]) -> list[Example]:
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
        node = ast.parse(candidate, mode="eval").body
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
        if compiles(candidate, "exec") and isinstance(ast.parse(candidate).body[0], ast.Assert):
            after = " ".join(words[k:])
            # what follows must be prose ("assert f(1) == 2 doit passer"), not the rest of an expression
            return candidate if not after or after[0].isalpha() else None
    return None


def _call_args(text: str) -> list[str] | None:
    try:
        node = ast.parse(f"_f({text})", mode="eval").body
    except SyntaxError:
        return None
    assert isinstance(node, ast.Call)
    return [ast.unparse(a) for a in node.args]


def _is_call(source: str) -> bool:
    """A call of a named function whose arguments are plain values (``f([1, 2], k=3)``)."""
    try:
        node = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError):
        return False
    if not isinstance(node, ast.Call) or not isinstance(node.func, (ast.Name, ast.Attribute)):
        return False
    return all(_value_node(a) for a in [*node.args, *(k.value for k in node.keywords)])


def is_value(text: str) -> bool:
    try:
        return _value_node(ast.parse(text.strip(), mode="eval").body)
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


def _input_output_examples(prompt: str, function: str, seen: set[str], keywords: bool) -> list[Example]:
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
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id
    return None
