"""Token tag schemes of NER files, decoded into labelled token spans.

Schemes (``TagScheme``):
- ``bio`` (IOB2): ``B-X`` opens an entity, ``I-X`` continues an open ``X``.
- ``iob1``: ``I-X`` also opens an entity after ``O`` or another type; ``B-X`` only separates two adjacent ``X``.
- ``bioes`` (also BILOU, read the same way): ``S-X`` / ``U-X`` is a one-token entity, ``E-X`` / ``L-X`` closes one.
- ``auto``: ``bioes`` where the file has an ``E-``, ``S-``, ``L-`` or ``U-`` tag; else ``iob1`` where some ``I-X``
  opens an entity and every ``B-X`` follows an ``X``; else ``bio``.

In ``bio`` and ``bioes`` an ``I-X`` after ``O`` opens an entity (a common slip of taggers, read leniently), but an
``I-X`` or ``E-X`` right after an entity of another type is an error: the file says two things at once there.
Tags are ``O`` or ``<prefix>-<label>`` (the label may itself hold ``-``); anything else is an unknown scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

TagScheme = Literal["auto", "bio", "iob1", "bioes"]
TAG_SCHEMES: tuple[str, ...] = ("auto", "bio", "iob1", "bioes")
PREFIXES = frozenset("BIESLU")


class TagError(ValueError):
    """A tag sequence that cannot be decoded; ``index`` is the token it stands on."""

    def __init__(self, message: str, index: int):
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class TokenSpan:
    """A labelled run of tokens, ``[start, end)`` in token indices."""

    start: int
    end: int
    label: str


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``. Raises ``ValueError`` naming the tag otherwise."""
    if tag == "O":
        return "O", ""
    prefix, dash, label = tag.partition("-")
    if not dash or prefix not in PREFIXES or not label:
        raise ValueError(f"tag {tag!r} is not O or <B|I|E|S|L|U>-<type>: unknown tag scheme")
    return prefix, label


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """The scheme of a whole file (``auto`` above); every tag must already pass ``split_tag``."""
    opens_with_i, b_separates_only = False, True
    for tags in sentences:
        previous = ("O", "")
        for tag in tags:
            prefix, label = split_tag(tag)
            if prefix in "ESLU":
                return "bioes"
            if prefix == "I" and (previous[0] == "O" or previous[1] != label):
                opens_with_i = True
            if prefix == "B" and previous[1] != label:
                b_separates_only = False
            previous = (prefix, label)
    return "iob1" if opens_with_i and b_separates_only else "bio"


def decode_tags(tags: Sequence[str], scheme: str) -> list[TokenSpan]:
    """The entities of one sentence's tags under ``scheme`` (not ``auto``). Raises ``TagError`` at the bad token."""
    spans: list[TokenSpan] = []
    open_start: int | None = None
    open_label = ""

    def close(end: int) -> None:
        nonlocal open_start, open_label
        if open_start is not None:
            spans.append(TokenSpan(open_start, end, open_label))
        open_start, open_label = None, ""

    for index, tag in enumerate(tags):
        try:
            prefix, label = split_tag(tag)
        except ValueError as error:
            raise TagError(str(error), index) from error
        if scheme == "bioes" and prefix in "LU":
            prefix = {"L": "E", "U": "S"}[prefix]
        elif scheme != "bioes" and prefix not in "BIO":
            raise TagError(f"tag {tag!r} belongs to BIOES/BILOU, not {scheme.upper()}", index)
        if prefix == "O":
            close(index)
        elif prefix == "B":
            close(index)
            open_start, open_label = index, label
        elif prefix == "S":
            close(index)
            spans.append(TokenSpan(index, index + 1, label))
        elif prefix in "IE":
            if open_start is not None and open_label != label:
                if scheme != "iob1" or prefix == "E":
                    raise TagError(f"tag {tag!r} continues an entity of type {open_label!r}: an {prefix}- tag must "
                                   f"keep the open entity's type", index)
                close(index)
            if open_start is None:
                if prefix == "E" and scheme == "bioes":
                    raise TagError(f"tag {tag!r} closes an entity that was never opened", index)
                open_start, open_label = index, label
            if prefix == "E":
                close(index + 1)
    close(len(tags))
    return spans
