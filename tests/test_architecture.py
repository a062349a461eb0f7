"""The rooms and arrows of ARCHITECTURE.md, enforced by import-linter's contracts in pyproject."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _workflowdev_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.startswith("workflowdev")}


def test_plugins_see_only_the_plugin_contract() -> None:
    allowed = {"workflowdev.engine.plugin"}
    for path in sorted((ROOT / "workflowdev" / "plugins").rglob("*.py")):
        imports = _workflowdev_imports(path)
        strays = {m for m in imports if m not in allowed and not m.startswith("workflowdev.plugins")}
        assert not strays, f"{path.relative_to(ROOT)} imports {sorted(strays)}"


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_every_engine_module_is_in_a_room_or_in_the_shared_vocabulary() -> None:
    """A module added at engine/ level would escape the layers contract unless it is listed."""
    contracts = _contracts()
    layers = next(c for c in contracts if c["type"] == "layers" and c.get("containers") == ["workflowdev.engine"])
    rooms = {f"workflowdev.engine.{layer}" for layer in layers["layers"]}
    vocabulary = next(c for c in contracts if set(c.get("forbidden_modules", [])) == rooms)
    engine = ROOT / "workflowdev" / "engine"
    found = {
        f"workflowdev.engine.{path.stem if path.is_file() else path.name}"
        for path in engine.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert found == rooms | set(vocabulary["source_modules"])
