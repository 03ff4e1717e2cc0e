"""What a request says its code must do, read from its text alone (no model, no I/O).

- **Names and signatures**: ``def`` lines and stubs, "a function called x", `` `x()` ``, "function
  is_even(n)" in prose, and the functions its examples call.
- **Examples** (``routemate.verify.examples``), in any natural language and the common forms.
- **The code it shows**: the *preamble* (imports, helpers, constants) a completed stub needs to
  run, files the user attached (``slugify.py:`` then a code block), and whether the request asks for
  tests of that code rather than for the code itself.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass, field

from ..routing.features import normalise_language
from .examples import BUILTINS, Example, called_name, input_output_examples, read_examples
from . import pyast

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
    examples = read_examples(prompt, set(shown.defined))
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
        examples += input_output_examples(prompt, entry, {e.source for e in examples}, keywords)
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
    return bool(CODE_NOUNS.search(prose)) or bool(read_examples(text, set())) or bool(DEF_LINE.search(text))


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
        tree = pyast.parse(py.definitions)
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
        node = pyast.parse(f"def _f({arglist}): pass").body[0]
    except SyntaxError:
        return ()
    assert isinstance(node, ast.FunctionDef)
    args = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
    return tuple((ast.unparse(a.annotation) if a.annotation else "", a.arg) for a in args)


def _param_count(arglist: str) -> int:
    try:
        node = pyast.parse(f"def _f({arglist}): pass").body[0]
    except SyntaxError:
        return -1
    assert isinstance(node, ast.FunctionDef)
    args = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
    return len(args)
