"""The layers import only downwards: storage <- core <- features <- assembly.

- storage/ imports nothing from bot/, handlers/ or flows/;
- the core (bot/ without the assembly files) imports no feature (handlers/, flows/);
- features reach the database through storage/ functions, never the ORM classes of
  storage.models.

Every import counts: at module level, inside functions, under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("storage", "bot", "handlers", "flows")
FEATURES = ("handlers", "flows")
# The assembly builds and runs everything, so it may import every layer.
ASSEMBLY = {"bot/app.py", "bot/cli.py", "bot/replay.py", "bot/simrepl.py", "bot/__main__.py"}

# TODO(issue 9): features that still use ORM classes directly. Remove a file from this list
# as soon as it goes through storage/ functions instead; do not add to it.
ORM_ALLOWED: set[str] = set()


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file; `from a import b` yields a and a.b,
    because b may be a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's package upwards
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def broken_rule(rel: str, module: str) -> str | None:
    """Which rule importing `module` from the file `rel` breaks, if any."""
    layer, top = rel.split("/", 1)[0], _top(module)
    if layer == "storage" and top in ("bot", *FEATURES):
        return "storage imports nothing from the layers above"
    if layer == "bot" and rel not in ASSEMBLY and top in FEATURES:
        return "the core imports no feature"
    if (
        layer in FEATURES
        and rel not in ORM_ALLOWED
        and (module == "storage.models" or module.startswith("storage.models."))
    ):
        return "features use storage/ functions, not ORM classes"
    return None


def violations(root: Path) -> list[str]:
    """One line per import statement that breaks a rule."""
    found: dict[tuple[str, int], str] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, module in imports(path, root):
                rule = broken_rule(rel, module)
                if rule is not None:
                    found.setdefault((rel, line), f"{rel}:{line} imports {module}: {rule}")
    return [found[key] for key in sorted(found)]


def test_the_layers_import_only_downwards() -> None:
    assert violations(REPO) == []


def test_the_orm_allow_list_names_only_files_that_still_need_it() -> None:
    still = {
        path
        for path in ORM_ALLOWED
        if (REPO / path).exists()
        and any(
            module == "storage.models" or module.startswith("storage.models.")
            for _, module in imports(REPO / path, REPO)
        )
    }
    # A warning, not a failure: the file's owner removes the entry when done with it.
    for path in sorted(ORM_ALLOWED - still):
        warnings.warn(f"{path} no longer uses ORM classes: drop it from ORM_ALLOWED", stacklevel=1)


@pytest.mark.parametrize(
    ("path", "source", "rule"),
    [
        ("storage/tags.py", "from bot.clock import Clock\n", "storage imports nothing"),
        (
            "storage/kv.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import handlers.admin\n",
            "storage imports nothing",
        ),
        ("storage/x.py", "def f():\n    from flows import stage\n", "storage imports nothing"),
        ("bot/rooms.py", "from handlers.welcome import render\n", "the core imports no feature"),
        ("bot/handler.py", "from flows import dialog\n", "the core imports no feature"),
        ("handlers/admin.py", "from storage.models import Room\n", "not ORM classes"),
        ("handlers/guard/handler.py", "from storage import models\n", "not ORM classes"),
        ("flows/x.py", "import storage.models\n", "not ORM classes"),
    ],
)
def test_a_wrong_import_is_caught(tmp_path: Path, path: str, source: str, rule: str) -> None:
    file = tmp_path / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(source, encoding="utf-8")
    (found,) = violations(tmp_path)
    assert found.startswith(f"{path}:") and rule in found


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("bot/app.py", "from handlers.admin import AdminHandler\n"),  # the assembly
        ("bot/outbox.py", "from storage.models import OutboxMessage\n"),  # core on storage
        ("handlers/admin.py", "from storage import guard, people\n"),
        ("storage/guard.py", "from storage.models import GuardBan\n"),
    ],
)
def test_a_right_import_passes(tmp_path: Path, path: str, source: str) -> None:
    file = tmp_path / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(source, encoding="utf-8")
    assert violations(tmp_path) == []
