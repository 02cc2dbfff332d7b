"""The architecture holds: imports only go down a layer, no cycles, no other stage's privates.

The layer order is declared once, as the import-linter contract in pyproject.toml (which
`make lint` runs too); this test reads it and checks every import in src/dlstack with
the ast module: top-level, inside functions, and under ``if TYPE_CHECKING``. A failure
names the file, the line and the rule.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "dlstack"


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def _layers() -> list[list[str]]:
    (contract,) = [c for c in _contracts() if c["type"] == "layers"]
    return [[unit.strip() for unit in layer.split("|")] for layer in contract["layers"]]


LAYERS = _layers()
LEVEL = {unit: depth for depth, layer in enumerate(LAYERS) for unit in layer}


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module (or module.name), dotted
    path: Path
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> list[Import]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            found += [
                Import(module, t, path, node.lineno)
                for t in targets
                if t == "dlstack" or t.startswith("dlstack.")
            ]
    return found


IMPORTS = _imports()
MODULES = {_module_name(p) for p in SRC.rglob("*.py")}


ENTRY_POINTS = {"dlstack", "__main__"}  # the package root (public API) and `python -m dlstack`


def _unit(module: str) -> str:
    """The layer unit a module belongs to: ``dlstack.serve._app`` -> ``serve``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "dlstack"


def _existing(target: str) -> str:
    """The module an import refers to (``dlstack.a.b.name`` -> ``dlstack.a.b``)."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def test_every_unit_has_a_layer() -> None:
    units = {_unit(m) for m in MODULES} - ENTRY_POINTS
    assert sorted(units - set(LEVEL)) == [], "add these to the layers in pyproject.toml"


def test_imports_only_go_down() -> None:
    upward = [
        f"{i.path.relative_to(ROOT)}:{i.line}: {_unit(i.source)} imports {i.target} "
        f"({_unit(i.target)} is not below it)"
        for i in IMPORTS
        if _unit(i.source) not in ENTRY_POINTS
        and _unit(i.source) != _unit(i.target)
        and _unit(i.target) not in ENTRY_POINTS
        and LEVEL[_unit(i.source)] >= LEVEL[_unit(i.target)]
    ]
    assert upward == []


def test_no_stage_imports_another_units_private_modules() -> None:
    private = []
    for i in IMPORTS:
        target = _existing(i.target)
        if _unit(i.source) == _unit(target) or _unit(target) in ENTRY_POINTS:
            continue
        inner = target.split(".")[2:]
        if any(part.startswith("_") for part in inner):
            private.append(f"{i.path.relative_to(ROOT)}:{i.line}: {i.source} imports {target}")
    assert private == [], "use the package's __init__ (its public API)"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _sibling_edges() -> dict[str, set[str]]:
    """Edges between siblings: for each import, the two children of the packages' deepest
    common ancestor that hold the importer and the imported (import-linter's
    acyclic_siblings). A package importing its own child is not a sibling edge."""
    edges: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        a, b = i.source.split("."), _existing(i.target).split(".")
        common = 0
        while common < min(len(a), len(b)) and a[common] == b[common]:
            common += 1
        if common == len(a) or common == len(b):
            continue  # one contains the other: a package and its own module
        edges[".".join(a[: common + 1])].add(".".join(b[: common + 1]))
    return edges


def test_no_cycles_between_siblings() -> None:
    assert _cycles(_sibling_edges()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    # The check itself can fail: a -> b -> c -> a is reported, a -> b alone is not.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}}) == []


def test_import_linter_contracts_hold() -> None:
    # The maintained tool agrees (`make lint` runs it too).
    tool = Path(sys.executable).with_name("lint-imports")
    if not tool.is_file():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [str(tool), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
