"""The reporting layer's imports, read from the source: report/, stats/ and the probe's summary
stay torch-free (they only read results), and report/'s modules import one another without a
circle (formats.py and html.py used to import each other)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "weightsearch"
# What runs training: the reporting layer reads its results and never imports it.
TRAINING = (
    "torch",
    "weightsearch.methods",
    "weightsearch.probe",
    "weightsearch.run",
    "weightsearch.task",
)
READERS = sorted(
    path for folder in ("report", "stats") for path in (PACKAGE / folder).rglob("*.py")
)
READERS.append(PACKAGE / "probe_summary.py")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function, except for type checking."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("path", READERS, ids=lambda p: _module(p))
def test_reading_results_needs_no_training_code(path: Path) -> None:
    training = sorted(
        name
        for name in _imports(path)
        if any(name == t or name.startswith(f"{t}.") for t in TRAINING)
    )
    assert training == [], f"{_module(path)} imports {training}"


def test_report_modules_import_one_way() -> None:
    paths = sorted((PACKAGE / "report").rglob("*.py"))
    modules = {_module(p): p for p in paths}
    edges = {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # A package's facade may import its own modules; its modules never import it back.
    done: set[str] = set()

    def walk(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, "import circle: " + " -> ".join([*trail, name])
        if name in done:
            return
        for target in edges[name]:
            walk(target, (*trail, name))
        done.add(name)

    for name in modules:
        walk(name, ())
    assert "weightsearch.report.html" not in edges["weightsearch.report.formats"]
