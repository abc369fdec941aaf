"""The shape of the command line: one ``cibscope.cli`` package that the pipeline stages never import,
whose modules share only public names, and whose every command and group answers ``--help`` and ``-h``."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cibscope.cli import GROUPS, app

SRC = Path(__file__).resolve().parents[1] / "src" / "cibscope"
CLI = SRC / "cli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) of every import in ``path``, relative ones resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((module, [a.name for a in node.names], node.lineno))
    return found


def _uses_cli(module: str, names: list[str]) -> bool:
    return module == "cibscope.cli" or module.startswith("cibscope.cli.") or \
        (module == "cibscope" and "cli" in names)


def test_the_import_check_sees_relative_and_absolute_imports_of_the_cli(tmp_path):
    # the check below must catch the import styles the old per-stage cli modules used
    assert _uses_cli(*_imports(CLI / "share.py")[0][:2]) is False  # `from __future__ import annotations`
    resolved = {m for m, _, _ in _imports(CLI / "cases.py")}
    assert {"cibscope.cases.expand", "cibscope.cli.common"} <= resolved
    assert "cibscope.cli" in {m for m, _, _ in _imports(CLI / "__main__.py")}
    assert _uses_cli("cibscope", ["cli"]) and _uses_cli("cibscope.cli.common", ["fail"])


#: The console script's entry point (a quiet start-up window, then ``cli.app``): not a pipeline stage.
LAUNCHER = SRC / "launcher.py"


def test_no_pipeline_stage_imports_the_command_line():
    offenders = [f"{p.relative_to(SRC)}:{line} imports {module}"
                 for p in sorted(SRC.rglob("*.py")) if CLI not in p.parents and p != LAUNCHER
                 for module, names, line in _imports(p) if _uses_cli(module, names)]
    assert offenders == []


def test_cli_modules_import_no_private_name_of_another_module():
    offenders = [f"{p.name}:{line} imports {name} from {module}"
                 for p in sorted(CLI.glob("*.py"))
                 for module, names, line in _imports(p) if module.startswith("cibscope")
                 for name in names if name.startswith("_") and name != "__version__"]
    assert offenders == []


def test_the_old_per_stage_cli_modules_are_gone():
    assert not (SRC / "cli.py").exists()
    assert sorted(str(p.relative_to(SRC)) for p in SRC.glob("*/cli.py")) == []


def _paths() -> list[list[str]]:
    root = get_command(app)

    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(root, []))


PATHS = _paths()


def test_every_group_is_on_the_app():
    assert {name for name, _ in GROUPS} <= {p[0] for p in PATHS if len(p) == 1}
    assert len(PATHS) > 40  # 15 commands, 7 groups and their subcommands


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "cibscope" for p in PATHS])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_command_and_group(path, flag):
    res = CliRunner().invoke(app, [*path, flag], prog_name="cibscope")
    assert res.exit_code == 0, res.output
    usage = next(line.strip() for line in res.output.splitlines() if line.strip())
    assert usage.startswith(" ".join(["Usage: cibscope", *path]) + " ")
