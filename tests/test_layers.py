"""Imports run one way: kernel <- simulated <- grid <- datasets <- train <- detect <- monitor <-
evaluate, store <- serve <- CLI (docs/design.md, "Layers").

Every ``import`` in the package is read, function-level ones too, so a lazy import cannot
hide a dependency that points up.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minescan"

#: Package (first part below ``minescan``) -> layer; higher layers may import lower ones.
LAYERS = {
    "kernel": 0,
    "data": 0,
    "simulated": 1,
    "grid": 2,
    "datasets": 3,
    "train": 4,
    "detect": 5,
    "monitor": 6,
    "evaluate": 7,
    "store": 7,
    "serve": 8,
}
CLI = 9
#: Top-level modules that make up the command line and the settings files.
CLI_MODULES = {"cli", "config", "clitools", "pipeline", "__init__", "__main__"}


def layer_of(module: str) -> int:
    """The layer of a dotted ``minescan`` module name; every stage's ``cli`` is CLI level."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in CLI_MODULES or parts[-1] == "cli":
        return CLI
    if parts[0] not in LAYERS:
        raise AssertionError(f"{module}: package {parts[0]!r} has no layer in {__file__}")
    return LAYERS[parts[0]]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The ``minescan`` modules ``path`` imports, absolute or relative."""
    tree = ast.parse(path.read_text(), str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m == "minescan" or m.startswith("minescan.")}


def exists(module: str) -> bool:
    """Whether a ``minescan`` name is a module or package (not a function imported from one)."""
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path.with_suffix(".py").exists() or path.is_dir()


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_name(path)
        for target in sorted(imported(path)):
            if target != "minescan" and exists(target) and layer_of(target) > layer_of(here):
                problems.append(f"{here} imports {target}")
    return problems


def test_imports_point_down_only():
    assert upward_imports() == []


def test_train_does_not_import_detect():
    hits = [p for p in upward_imports() if p.startswith("minescan.train")]
    train = [
        f"{module_name(p)} imports {t}"
        for p in sorted((PACKAGE / "train").rglob("*.py"))
        for t in imported(p)
        if t.startswith("minescan.detect") or t == "minescan.cli" or t.startswith("minescan.cli.")
    ]
    assert hits == [] and train == []


@pytest.mark.parametrize(
    ("module", "layer"),
    [("minescan.kernel.chip", 0), ("minescan.detect.cli", CLI), ("minescan.pipeline", CLI),
     ("minescan.store.stats", 7)],
)  # fmt: skip
def test_layer_of_names_the_layers(module, layer):
    assert layer_of(module) == layer


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The check can fail: a kernel module importing a stage is reported."""
    fake = tmp_path / "minescan"
    (fake / "kernel").mkdir(parents=True)
    (fake / "detect").mkdir()
    (fake / "detect" / "run.py").write_text("")
    (fake / "kernel" / "bad.py").write_text("def f():\n    from minescan.detect import run\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert upward_imports() == [
        "minescan.kernel.bad imports minescan.detect",
        "minescan.kernel.bad imports minescan.detect.run",
    ]
