"""groundex prompt templates: Jinja text files under ``templates/``, loaded by name (no prompt text in Python).

- ``system``: the planner's instructions, the type schema and the output contract (context: ``types``, a
  sequence of objects with ``name`` and ``description``; ``multimodal``, whether the planner sees the image).
- ``user``: the post (context: ``text``).
- ``entailment`` / ``grounding``: the questions the MLLM tools ask (context: ``description``).
- ``chat_template``: the ChatML + Hermes-tools chat template shared by every planner backend and fine-tuning.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_NAMES = ("system", "user", "entailment", "grounding", "chat_template")


@lru_cache(maxsize=None)
def load_template(name: str) -> str:
    """The raw text of a template (cached: the files are package data and never change at run time)."""
    if name not in TEMPLATE_NAMES:
        raise KeyError(f"unknown prompt template {name!r}; templates: {', '.join(TEMPLATE_NAMES)}")
    return resources.files("groundex.prompts").joinpath("templates", f"{name}.jinja").read_text(encoding="utf-8")


def chat_template_path() -> Path:
    """The chat template as a file, for ``vllm serve --chat-template``."""
    return Path(__file__).resolve().parent / "templates" / "chat_template.jinja"


@lru_cache(maxsize=None)
def _compiled(name: str) -> jinja2.Template:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return environment.from_string(load_template(name))


def render_prompt(name: str, **context: Any) -> str:
    """Render a prompt template; a missing context value is an error, not an empty string."""
    return _compiled(name).render(**context).strip()
