"""The package's layers import only downwards (docs/architecture.md), function-level imports
included: model -> descriptions -> analysis -> sweeps -> report -> cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "microsim"
LAYERS = ("model", "descriptions", "analysis", "sweeps", "report", "cli")


def _layer(module: str) -> str | None:
    """The layer of a dotted module name inside microsim (None for the package root)."""
    parts = module.split(".")
    if parts[0] != "microsim" or len(parts) == 1:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of microsim in a file, wherever it stands."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [(node.lineno, f"{node.module}.{alias.name}") if node.module == "microsim"
                    else (node.lineno, node.module) for alias in node.names]
    return [(line, name) for line, name in out if name.split(".")[0] == "microsim"]


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_every_module_belongs_to_a_layer():
    for path in _sources():
        layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert layer in LAYERS, f"{path}: not in a layer ({', '.join(LAYERS)})"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_only_downwards(path):
    own = LAYERS.index(path.relative_to(PACKAGE).parts[0].removesuffix(".py"))
    for line, module in _imports(path):
        if module == "microsim.__version__":
            continue
        layer = _layer(module)
        assert layer is not None, f"{path}:{line} imports the package root ({module})"
        assert LAYERS.index(layer) <= own, \
            f"{path}:{line} imports {module}, a layer above {LAYERS[own]}"


def test_the_check_sees_function_level_imports(tmp_path):
    """The checker itself: an import inside a function counts."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from microsim.report import figures\n")
    assert _imports(source) == [(2, "microsim.report")]
