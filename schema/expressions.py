"""The small arithmetic a scenario's pass criteria are written in; stdlib only.

A criterion measures an expression over a run's measurements, for example
``spike.server.inference.arrival_rate_per_second / spike.client.offered_rate_per_second``: numbers,
``+ - * /``, parentheses, ``max(…, …)`` and ``min(…, …)``, and dotted paths. A path starts with a phase name and walks that phase's
summary (``client.<field>``, ``client.classes.<class>.<field>`` for one request class,
``server.<service>.<field>``, ``server.<service>.tenant_rejected.<tenant>``, ``envoy.<service>.<field>``,
``generator.<field>``, or ``hpa.<service>.<field>``: the HPA figures within that phase), starts with
``hpa`` and names a service of the HPA-lag timeline (``hpa.<service>.lag_seconds``, ``.scale_ups``,
``.readiness_seconds``, ``.mean_replicas``, …), or starts with ``checks`` and names a prediction
row (``checks.mmc_mean_response.inference.rho80.abs_error``); analysis/verdicts/criteria.py lists them. The scenario schema parses every criterion when
the file is loaded (so a typo is refused with its field named); the analysis evaluates it on the
run's summary (analysis/verdicts/criteria.py).
"""
from __future__ import annotations

import dataclasses
import re

TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)|(?P<path>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+)"
                   r"|(?P<function>max|min)\(|(?P<op>[-+*/(),]))")
FUNCTIONS = {"max": max, "min": min}


class ExpressionError(ValueError):
    """An expression that cannot be parsed; the message says where."""


@dataclasses.dataclass(frozen=True)
class Number:
    value: float


@dataclasses.dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Binary:
    op: str
    left: "Node"
    right: "Node"


@dataclasses.dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple["Node", ...]


Node = Number | Path | Binary | Call


def tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:].strip()!r} in {text!r}: use numbers, + - * /, parentheses "
                                  "and dotted paths such as spike.client.p99_ms")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def parse(text: str) -> Node:
    """The expression's tree; ExpressionError for anything else."""
    items = tokens(text)
    node, rest = _sum(items, text)
    if rest:
        raise ExpressionError(f"unexpected {rest[0][1]!r} in {text!r}")
    return node


def _sum(items, text):
    node, items = _product(items, text)
    while items and items[0] in (("op", "+"), ("op", "-")):
        op = items[0][1]
        right, items = _product(items[1:], text)
        node = Binary(op, node, right)
    return node, items


def _product(items, text):
    node, items = _atom(items, text)
    while items and items[0] in (("op", "*"), ("op", "/")):
        op = items[0][1]
        right, items = _atom(items[1:], text)
        node = Binary(op, node, right)
    return node, items


def _atom(items, text):
    if not items:
        raise ExpressionError(f"{text!r} ends where a number or a path should be")
    kind, value = items[0]
    if kind == "number":
        return Number(float(value)), items[1:]
    if kind == "path":
        return Path(tuple(value.split("."))), items[1:]
    if kind == "function":
        arguments, rest = [], items[1:]
        while True:
            argument, rest = _sum(rest, text)
            arguments.append(argument)
            if rest and rest[0] == ("op", ","):
                rest = rest[1:]
                continue
            if not rest or rest[0] != ("op", ")"):
                raise ExpressionError(f"{value}( is not closed in {text!r}")
            return Call(value, tuple(arguments)), rest[1:]
    if (kind, value) == ("op", "("):
        node, rest = _sum(items[1:], text)
        if not rest or rest[0] != ("op", ")"):
            raise ExpressionError(f"a parenthesis is not closed in {text!r}")
        return node, rest[1:]
    raise ExpressionError(f"unexpected {value!r} in {text!r}")


def paths(node: Node) -> list[Path]:
    """Every path the expression reads, left to right."""
    if isinstance(node, Path):
        return [node]
    if isinstance(node, Binary):
        return paths(node.left) + paths(node.right)
    if isinstance(node, Call):
        return [path for argument in node.arguments for path in paths(argument)]
    return []


def evaluate(node: Node, resolve) -> float:
    """The value with ``resolve(path) -> float``; a division by zero gives NaN, not an exception."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Path):
        return float(resolve(node))
    if isinstance(node, Call):
        return FUNCTIONS[node.function](evaluate(argument, resolve) for argument in node.arguments)
    left, right = evaluate(node.left, resolve), evaluate(node.right, resolve)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    return left / right if right else float("nan")
