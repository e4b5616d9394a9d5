"""The layering of docs/architecture.md, checked on every import statement (lazy ones inside functions too).

``market`` is the core: it imports none of the parts above it. ``policy`` and ``bidders`` sit
side by side and do not import each other. ``task`` imports nothing of prefmarket. Only the
app shell (``app``) may import everything, and nothing imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("market", "policy", "bidders", "ui", "task", "app")

# package -> the prefmarket packages it must never import
FORBIDDEN = {
    "market": {"policy", "bidders", "ui", "task", "app"},
    "policy": {"bidders", "ui", "app"},
    "bidders": {"policy", "ui", "app"},
    "task": {"market", "policy", "bidders", "ui", "app"},
    "ui": {"policy", "app"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Top-level prefmarket packages named by every import in ``path``, with line numbers."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {(n.split(".")[0], node.lineno) for n in names if n.split(".")[0] in PACKAGES}
    return found


def test_the_checker_sees_lazy_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from policy.model import load\n    import bidders.bots as b\n")
    assert imported_packages(source) == {("policy", 4), ("bidders", 5)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_above_its_layer(package):
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name, line in imported_packages(path)
        if name in FORBIDDEN[package]
    ]
    assert not offences, "\n".join(offences)
