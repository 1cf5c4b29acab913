"""Every importable folder is packaged, and the installed names are the groundex.* ones."""

from __future__ import annotations

import importlib
import tomllib


def test_every_python_package_folder_is_listed_in_pyproject(repo_root):
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    on_disk = set()
    for package, folder in mapping.items():
        for init in (repo_root / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(repo_root / folder)
            on_disk.add(".".join([package, *relative.parts]))
    assert on_disk == listed


def test_groundex_packages_import_and_nothing_generic_is_installed(repo_root):
    for name in ("groundex", "groundex.agent", "groundex.tools", "groundex.prompts", "groundex.finetune", "groundex.eval"):
        assert importlib.import_module(name).__file__.startswith(str(repo_root))
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(package == "groundex" or package.startswith("groundex.") for package in config["packages"])


def test_eval_and_finetune_use_only_the_agents_public_api(repo_root):
    import ast

    import groundex.agent

    for folder in ("eval", "finetune"):
        for source in (repo_root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("groundex.agent"):
                    where = f"{source.relative_to(repo_root)}:{node.lineno}"
                    assert node.module == "groundex.agent", f"{where} imports {node.module}"
                    assert all(a.name in groundex.agent.__all__ for a in node.names), f"{where}: not public"
