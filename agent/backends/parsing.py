"""Reading a box out of a model's free-text answer to the grounding question."""

from __future__ import annotations

import re

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_BRACKETED = re.compile(r"\[\s*" + r"\s*,\s*".join([_NUMBER] * 4) + r"\s*\]")
_QWEN2_BOX = re.compile(r"\(\s*" + _NUMBER + r"\s*,\s*" + _NUMBER + r"\s*\)\s*,\s*\(\s*" + _NUMBER + r"\s*,\s*" + _NUMBER + r"\s*\)")


def parse_box_answer(answer: str) -> list[float] | None:
    """The first ``[x1, y1, x2, y2]`` (Qwen2.5-VL JSON style) or ``(x1,y1),(x2,y2)`` (Qwen2-VL box tokens) in
    ``answer``, in the model's own coordinates; ``None`` when there is none."""
    match = _BRACKETED.search(answer) or _QWEN2_BOX.search(answer)
    return [float(value) for value in match.groups()] if match else None
