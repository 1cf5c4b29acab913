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
