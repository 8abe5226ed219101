"""The spec language shared by schedules and optimizers: a small, safe call syntax.

A spec is one or more calls joined by ``>>``::

    warmup(steps=5, start=0.0) >> cosine(steps=15, end=0.0333)
    sgd(momentum=0.9, nesterov=true, weight_decay=5e-4)

Grammar (no ``eval``; everything else is a syntax error that names the column)::

    chain := call (">>" call)*
    call  := NAME "(" [arg ("," arg)*] ")"
    arg   := NAME "=" value | value
    value := chain | NUMBER | STRING | true | false | none | "[" [value ("," value)*] "]"

Names are letters, digits, ``_`` and ``-`` (``fashion-mnist``). Numbers are JSON-like (``1``,
``-0.5``, ``1e-3``; an integer literal stays an ``int``), strings
are quoted with ``"`` or ``'``, and ``#`` starts a comment that runs to the end of the text.
:func:`format_value` prints values back in the one canonical form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lrlab.errors import LrlabError

MAX_LENGTH = 10_000
MAX_DEPTH = 32

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>\#.*)
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
      | (?P<string>"[^"\n]*"|'[^'\n]*')
      | (?P<op>>>|[()\[\],=])""",
    re.VERBOSE,
)
_LITERALS = {"true": True, "false": False, "none": None}

Value = object  # int | float | bool | str | None | list[Value] | Call | Chain


@dataclass(frozen=True)
class Call:
    """One ``name(args..., key=value...)`` in a spec."""

    name: str
    args: tuple[Value, ...]
    kwargs: tuple[tuple[str, Value], ...]
    column: int


@dataclass(frozen=True)
class Chain:
    """Two or more calls joined by ``>>``."""

    parts: tuple[Call, ...]


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _syntax_error(text, position, f"unexpected character {text[position]!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _syntax_error(text: str, column: int, problem: str) -> LrlabError:
    return LrlabError(f"bad spec {text!r}: {problem} at column {column + 1}.")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, problem: str) -> LrlabError:
        return _syntax_error(self.text, self.token.column, problem)

    def take(self, text: str) -> bool:
        if self.token.kind == "op" and self.token.text == text:
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.take(text):
            found = self.token.text or "the end"
            raise self.fail(f"expected {text!r} but found {found!r}")

    def chain(self) -> Call | Chain:
        parts = [self.call()]
        while self.take(">>"):
            parts.append(self.call())
        return parts[0] if len(parts) == 1 else Chain(tuple(parts))

    def call(self) -> Call:
        token = self.token
        if token.kind != "name" or token.text in _LITERALS:
            raise self.fail(f"expected a name like 'cosine(...)' but found {token.text or 'the end'!r}")
        self.index += 1
        self.expect("(")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels")
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        while not self.take(")"):
            if (args or kwargs) and not self.take(","):
                raise self.fail(f"expected ',' or ')' but found {self.token.text or 'the end'!r}")
            self.argument(args, kwargs, token.text)
        self.depth -= 1
        return Call(token.text, tuple(args), tuple(kwargs.items()), token.column)

    def argument(self, args: list[Value], kwargs: dict[str, Value], owner: str) -> None:
        is_keyword = self.token.kind == "name" and self.tokens[self.index + 1].text == "="
        if not is_keyword:
            if kwargs:
                raise self.fail("a positional argument cannot follow a keyword argument")
            args.append(self.value())
            return
        key = self.token.text
        if key in kwargs:
            raise self.fail(f"{owner}() got {key!r} twice")
        self.index += 2
        kwargs[key] = self.value()

    def value(self) -> Value:
        token = self.token
        if token.kind == "number":
            self.index += 1
            return _number(token.text, self)
        if token.kind == "string":
            self.index += 1
            return token.text[1:-1]
        if token.kind == "name" and token.text in _LITERALS and self.tokens[self.index + 1].text != "(":
            self.index += 1
            return _LITERALS[token.text]
        if self.take("["):
            return self.list_value()
        if token.kind == "name":
            return self.chain()
        raise self.fail(f"expected a value but found {token.text or 'the end'!r}")

    def list_value(self) -> list[Value]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels")
        items: list[Value] = []
        while not self.take("]"):
            if items:
                self.expect(",")
            items.append(self.value())
        self.depth -= 1
        return items


def _number(text: str, parser: _Parser) -> int | float:
    try:
        if re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        return float(text)
    except ValueError:  # e.g. an integer literal longer than Python allows
        raise parser.fail(f"number {text[:20]!r}... is too long") from None


def parse_expression(text: str) -> Call | Chain:
    """Parse one spec into calls (no meaning attached yet)."""
    if not isinstance(text, str):
        raise LrlabError(f"a spec must be a string like 'cosine(steps=10)', got {text!r}.")
    if len(text) > MAX_LENGTH:
        raise LrlabError(f"a spec must be at most {MAX_LENGTH} characters, got {len(text)}.")
    parser = _Parser(text)
    if parser.token.kind == "end":
        raise LrlabError("the spec is empty; write a call like 'cosine(steps=100)'.")
    expression = parser.chain()
    if parser.token.kind != "end":
        raise parser.fail(f"unexpected {parser.token.text!r} after a complete spec")
    return expression


def format_value(value: object) -> str:
    """Print one value in canonical spec form (``true``, ``0.5``, ``"cos"``, ``[1, 2]``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Sequence):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return str(value)


def format_call(name: str, arguments: Sequence[tuple[str, object]]) -> str:
    """Print ``name(key=value, ...)`` canonically."""
    return f"{name}(" + ", ".join(f"{key}={format_value(v)}" for key, v in arguments) + ")"
