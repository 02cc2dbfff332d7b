"""One number to optimize: a formula over metrics, and thresholds on the others.

The practice's two ways of turning many metrics into one, both from ``[metric]`` in
dlstack.toml:

- a weighted average, ``objective = "0.7*recall + 0.3*precision"`` (maximized);
- threshold n-1 metrics and optimize the nth, ``optimize = "recall"`` with
  ``constraints = ["precision >= 0.9", "latency_p95_ms <= 20"]``.

Constraints apply to either form. A candidate that violates a constraint ranks below every
candidate that meets them all; among violators, fewer violations first, then the smaller
total shortfall. Every stage that picks a winner (checkpoint, trial, compressed variant,
operating threshold) ranks candidates with :meth:`Objective.rank`.

>>> obj = Objective.parse("recall", ["precision >= 0.9"])
>>> ranked = obj.rank({"a": {"recall": 0.95, "precision": 0.85},
...                    "b": {"recall": 0.90, "precision": 0.92}})
>>> [(r.name, r.score.feasible) for r in ranked]
[('b', True), ('a', False)]
>>> ranked[1].score.violations[0].text
'precision >= 0.9'

Formulas are parsed here (numbers, metric names, ``+ - * /``, parentheses; no ``eval``).
A metric name is letters, digits, ``_`` and ``.``, optionally followed by a class in
brackets: ``recall[7]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dlstack.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_OPTIMIZE",
    "EQUAL_TOLERANCE",
    "Constraint",
    "Objective",
    "Ranked",
    "Score",
    "Violation",
    "lower_is_better",
]

DEFAULT_OPTIMIZE = "accuracy"
# Metrics where less is better. Anything else (accuracy, recall, map...) is "more is better".
# Two numbers this close (relative to the bound) are equal in a constraint: metrics are
# stored as the decimals they print as (metrics.as_printed), so a measured 0.9 is 0.9.
EQUAL_TOLERANCE = 1e-9
LOWER_IS_BETTER = frozenset(
    {
        *("error", "loss", "calibration_error", "cer", "wer", "latency", "size", "cost", "ece"),
        *("mae", "mse", "rmse"),  # a regression's errors, in the target's units
    }
)
LOWER_SUFFIXES = ("_ms", "_s", "_seconds", "_mb", "_kb", "_bytes", "_loss", "_error", "_usd")
# A candidate that violates a constraint gets this far below any feasible score when the
# ranking has to be squeezed into one float (Lightning's checkpoint monitor).
INFEASIBLE_OFFSET = 1e9

Direction = Literal["auto", "max", "min"]
_COMPARATORS = (">=", "<=", ">", "<")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (errors, latency, size, cost).

    >>> lower_is_better("latency_p95_ms"), lower_is_better("recall[7]")
    (True, False)
    """
    base = metric.split("[", 1)[0].lower()
    return base in LOWER_IS_BETTER or base.endswith(LOWER_SUFFIXES)


# -- parsing ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?%?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*(?:\[[^\]\s][^\]]*\])?)"
    r"|(?P<op>>=|<=|==|!=|=>|=<|[-+*/()<>=])"
    r")"
)

# Nodes: ("num", value) | ("metric", name) | ("neg", node) | ("bin", op, left, right)
Node = tuple


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    pos: int


def _tokenize(text: str, what: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            at = len(text) - len(text[pos:].lstrip())
            raise ConfigError(
                f"{what} = {text!r}: unexpected {bad!r} at position {at + 1}; expected a "
                f"metric name, a number, an operator (+ - * /) or a comparison (>= <= > <)"
            )
        kind = m.lastgroup or "op"
        tokens.append(_Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    tokens.append(_Token("end", "end of text", len(text)))
    return tokens


class _Parser:
    """Recursive descent: expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := '-' unary | atom; atom := NUMBER | NAME | '(' expr ')'."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.tokens = _tokenize(text, what)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def fail(self, expected: str) -> ConfigError:
        t = self.tok
        got = "the end of the text" if t.kind == "end" else repr(t.text)
        return ConfigError(
            f"{self.what} = {self.text!r}: expected {expected} at position {t.pos + 1}, got {got}"
        )

    def expect_end(self) -> None:
        if self.tok.kind != "end":
            raise self.fail("an operator (+ - * /) or the end")

    def expr(self) -> Node:
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.tok.text
            self.i += 1
            node = ("bin", op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.tok.text
            self.i += 1
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text in "+-":
            op = self.tok.text
            self.i += 1
            inner = self.unary()
            return inner if op == "+" else ("neg", inner)
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "number":
            self.i += 1
            percent = t.text.endswith("%")
            value = float(t.text.rstrip("%"))
            return ("num", value / 100 if percent else value)
        if t.kind == "name":
            self.i += 1
            return ("metric", t.text)
        if t.kind == "op" and t.text == "(":
            self.i += 1
            node = self.expr()
            if not (self.tok.kind == "op" and self.tok.text == ")"):
                raise self.fail("')'")
            self.i += 1
            return node
        raise self.fail("a metric name, a number or '('")


def _parse_expression(text: str, what: str) -> Node:
    if not text.strip():
        raise ConfigError(f"{what} is empty; write a metric name such as 'accuracy'")
    p = _Parser(text, what)
    node = p.expr()
    p.expect_end()
    if not _names(node):
        raise ConfigError(
            f"{what} = {text!r} names no metric; it must depend on at least one, e.g. "
            f"'0.7*recall + 0.3*precision'"
        )
    return node


def _names(node: Node) -> list[str]:
    kind = node[0]
    if kind == "metric":
        return [node[1]]
    if kind == "neg":
        return _names(node[1])
    if kind == "bin":
        return _names(node[2]) + [n for n in _names(node[3]) if n not in _names(node[2])]
    return []


def _evaluate(node: Node, values: Mapping[str, float]) -> float:
    kind = node[0]
    if kind == "num":
        return float(node[1])
    if kind == "metric":
        return float(values[node[1]])
    if kind == "neg":
        return -_evaluate(node[1], values)
    op, left, right = node[1], _evaluate(node[2], values), _evaluate(node[3], values)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    return left / right if right != 0 else math.copysign(math.inf, left) if left else math.nan


# -- constraints --------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """``LEFT OP RIGHT`` with OP one of >= <= > <; each side a formula over metrics."""

    text: str
    left: Node = field(repr=False)
    op: str
    right: Node = field(repr=False)

    @classmethod
    def parse(cls, text: str, what: str = "metric.constraints") -> Constraint:
        spaced = text.strip()
        tokens = _tokenize(spaced, what)
        ops = [t for t in tokens if t.kind == "op" and t.text in (*_COMPARATORS, "==", "=")]
        ops += [t for t in tokens if t.kind == "op" and t.text in ("!=", "=>", "=<")]
        if len(ops) != 1:
            found = ", ".join(repr(t.text) for t in ops) or "none"
            raise ConfigError(
                f"{what} = {text!r}: expected exactly one comparison (>=, <=, > or <) "
                f"between a metric and its bound, e.g. 'precision >= 0.9'; found {found}"
            )
        op = ops[0]
        if op.text not in _COMPARATORS:
            fix = {"=>": ">=", "=<": "<="}.get(op.text, ">= or <=")
            raise ConfigError(
                f"{what} = {text!r}: comparison {op.text!r} at position {op.pos + 1} is not "
                f"allowed; use {fix} (a constraint is a bound, not an equality)"
            )
        left = _parse_expression(spaced[: op.pos], f"{what} (left of {op.text!r})")
        right_text = spaced[op.pos + len(op.text) :]
        if not right_text.strip():
            raise ConfigError(
                f"{what} = {text!r}: expected a bound (a number or a metric) after "
                f"{op.text!r}, got the end of the text"
            )
        right = _Parser(right_text, f"{what} (right of {op.text!r})")
        node = right.expr()
        right.expect_end()
        return cls(" ".join(spaced.split()), left, op.text, node)

    @property
    def metrics(self) -> list[str]:
        return _names(self.left) + [n for n in _names(self.right) if n not in _names(self.left)]

    def check(self, values: Mapping[str, float]) -> tuple[bool, float, float]:
        """(holds, left value, right value)."""
        lhs, rhs = _evaluate(self.left, values), _evaluate(self.right, values)
        # A value equal to its bound meets >= and <=, and does not meet > or <: "equal"
        # within float64 rounding of a formula (0.1 + 0.2 vs 0.3), relative to the bound.
        tol = EQUAL_TOLERANCE * max(1.0, abs(rhs)) if math.isfinite(rhs) else 0.0
        holds = {
            ">=": lhs >= rhs - tol,
            "<=": lhs <= rhs + tol,
            ">": lhs > rhs + tol,
            "<": lhs < rhs - tol,
        }[self.op]
        return bool(holds) and math.isfinite(lhs), lhs, rhs


@dataclass(frozen=True)
class Violation:
    """A constraint a candidate does not meet, with what was measured."""

    text: str
    measured: float
    bound: float

    @property
    def shortfall(self) -> float:
        """How far from holding, relative to the bound (absolute when the bound is 0)."""
        if not math.isfinite(self.measured):
            return math.inf
        gap = abs(self.measured - self.bound)
        return gap / abs(self.bound) if self.bound else gap

    def __str__(self) -> str:
        return f"{self.text} (measured {self.measured:.4g})"


@dataclass(frozen=True)
class Score:
    """One candidate under the objective."""

    value: float  # the objective formula's value (NaN if a metric is missing)
    maximize: bool
    violations: tuple[Violation, ...] = ()
    unchecked: tuple[str, ...] = ()  # constraints whose metrics the candidate lacks

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def sort_key(self) -> tuple[int, int, float, float]:
        """Smaller is better: feasible first, then fewer and smaller violations, then value."""
        shortfall = sum(v.shortfall for v in self.violations)
        value = self.value if math.isfinite(self.value) else -math.inf
        return (
            0 if self.feasible else 1,
            len(self.violations),
            shortfall,
            -value if self.maximize else value,
        )

    @property
    def monitor_value(self) -> float:
        """The ranking as one float, higher better (for Lightning's ModelCheckpoint)."""
        value = self.value if math.isfinite(self.value) else -INFEASIBLE_OFFSET / 2
        signed = value if self.maximize else -value
        if self.feasible:
            return signed
        shortfall = min(sum(v.shortfall for v in self.violations), 1e6)
        return -INFEASIBLE_OFFSET * len(self.violations) - shortfall * 1e3 + signed * 1e-6

    def describe(self) -> str:
        if self.feasible:
            return "meets every constraint"
        return "violates " + "; ".join(str(v) for v in self.violations)


@dataclass(frozen=True)
class Ranked:
    """A candidate's place in a ranking (1 = best)."""

    rank: int
    name: str
    metrics: Mapping[str, float]
    score: Score


@dataclass(frozen=True)
class Objective:
    """The single number to optimize, and the constraints every winner must meet.

    Build it with :meth:`parse` or :meth:`from_config`; constructing one by hand skips
    validation.
    """

    expression: str
    maximize: bool
    constraints: tuple[Constraint, ...] = ()
    kind: Literal["metric", "weighted"] = "metric"
    node: Node = field(default=("metric", DEFAULT_OPTIMIZE), repr=False)

    @classmethod
    def parse(
        cls,
        optimize: str = DEFAULT_OPTIMIZE,
        constraints: Iterable[str] = (),
        *,
        objective: str | None = None,
        direction: Direction = "auto",
    ) -> Objective:
        """``optimize`` (a metric, or a formula) or ``objective`` (a weighted formula).

        ``direction="auto"``: a single metric is minimized when smaller is better
        (:func:`lower_is_better`), a formula is maximized (give costs negative weights).
        """
        if direction not in ("auto", "max", "min"):
            raise ConfigError(f"metric.direction must be 'auto', 'max' or 'min', got {direction!r}")
        key = "metric.objective" if objective is not None else "metric.optimize"
        text = objective if objective is not None else optimize
        node = _parse_expression(text, key)
        single = node[0] == "metric"
        if direction == "auto":
            maximize = not (single and lower_is_better(node[1]))
        else:
            maximize = direction == "max"
        parsed = tuple(
            Constraint.parse(c, f"metric.constraints[{i}]") for i, c in enumerate(constraints)
        )
        return cls(
            " ".join(text.split()),
            maximize,
            parsed,
            "metric" if single and objective is None else "weighted",
            node,
        )

    @classmethod
    def from_config(cls, config: object) -> Objective:
        """From a ``MetricConfig`` (``project.config.metric``)."""
        return cls.parse(
            getattr(config, "optimize", DEFAULT_OPTIMIZE),
            getattr(config, "constraints", ()),
            objective=getattr(config, "objective", None),
            direction=getattr(config, "direction", "auto"),
        )

    @property
    def metrics(self) -> list[str]:
        """Metric names the objective formula uses."""
        return _names(self.node)

    @property
    def constraint_metrics(self) -> list[str]:
        seen: list[str] = []
        for c in self.constraints:
            seen += [m for m in c.metrics if m not in seen]
        return seen

    def describe(self) -> str:
        """``maximize recall subject to precision >= 0.9, latency_p95_ms <= 20``."""
        head = f"{'maximize' if self.maximize else 'minimize'} {self.expression}"
        if not self.constraints:
            return head
        return f"{head} subject to {', '.join(c.text for c in self.constraints)}"

    def value(self, metrics: Mapping[str, float]) -> float:
        """The objective formula on ``metrics``; DataError naming a missing metric."""
        missing = [m for m in self.metrics if m not in metrics]
        if missing:
            known = ", ".join(sorted(k for k in metrics if "[" not in k)) or "none"
            raise DataError(
                f"the objective {self.expression!r} needs {', '.join(missing)}, which this "
                f"candidate does not have (it has: {known}); fix [metric] in dlstack.toml or "
                f"measure the metric"
            )
        return _evaluate(self.node, metrics)

    def score(self, metrics: Mapping[str, float]) -> Score:
        """The candidate's objective value and the constraints it violates.

        A constraint on a metric the candidate lacks (latency when picking a checkpoint)
        is listed in ``unchecked`` and does not count against it.
        """
        value = self.value(metrics)
        violations, unchecked = [], []
        for c in self.constraints:
            if any(m not in metrics for m in c.metrics):
                unchecked.append(c.text)
                continue
            holds, lhs, rhs = c.check(metrics)
            if not holds:
                violations.append(Violation(c.text, lhs, rhs))
        return Score(value, self.maximize, tuple(violations), tuple(unchecked))

    def rank(
        self,
        candidates: Mapping[str, Mapping[str, float]] | Sequence[tuple[str, Mapping[str, float]]],
    ) -> list[Ranked]:
        """Best first. Ties keep the candidates' order (the earlier one wins)."""
        items = list(candidates.items()) if isinstance(candidates, Mapping) else list(candidates)
        if not items:
            raise DataError("nothing to rank: pass at least one candidate")
        scored = [(name, metrics, self.score(metrics)) for name, metrics in items]
        order = sorted(range(len(scored)), key=lambda i: (scored[i][2].sort_key, i))
        return [
            Ranked(rank + 1, scored[i][0], scored[i][1], scored[i][2])
            for rank, i in enumerate(order)
        ]

    def best(
        self,
        candidates: Mapping[str, Mapping[str, float]] | Sequence[tuple[str, Mapping[str, float]]],
    ) -> Ranked:
        """The winner (which may violate constraints if every candidate does: check
        ``best(...).score.feasible``)."""
        return self.rank(candidates)[0]
