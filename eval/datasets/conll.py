"""The ``IMGID:`` CoNLL format shared by Twitter-GMNER and Twitter-FMNERG.

A file is blocks separated by empty lines; a block is ``IMGID:<id>`` then one ``token<TAB>tag[<TAB>tag...]``
line per token. Lines are split on TAB only: a token may be the letter ``O`` or contain odd characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from groundex.eval.datasets.errors import DatasetFormatError
from groundex.eval.datasets.tagging import TokenSpan


@dataclass(frozen=True)
class ConllBlock:
    """One post: its id, tokens, and one tuple of BIO tags per tag column (``tag_columns[c][i]`` tags token i).

    ``first_line`` is the 1-based line of ``IMGID:``, for error messages.
    """

    post_id: str
    tokens: tuple[str, ...]
    tag_columns: tuple[tuple[str, ...], ...]
    first_line: int


def read_conll_blocks(path: Path, tag_columns: int) -> Iterator[ConllBlock]:
    """Yield the blocks of ``path``, each token line having exactly ``1 + tag_columns`` TAB-separated fields."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError as error:
        raise DatasetFormatError(path, "file does not exist") from error
    with handle:
        post_id, first_line = None, 0
        tokens: list[str] = []
        tags: list[list[str]] = [[] for _ in range(tag_columns)]

        def finish() -> ConllBlock:
            if not tokens:
                raise DatasetFormatError(path, f"post {post_id} has no tokens", first_line)
            return ConllBlock(post_id, tuple(tokens), tuple(tuple(column) for column in tags), first_line)

        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line:
                if post_id is not None:
                    yield finish()
                post_id, tokens, tags = None, [], [[] for _ in range(tag_columns)]
                continue
            if post_id is None:
                if not line.startswith("IMGID:") or not line[len("IMGID:"):].strip():
                    raise DatasetFormatError(path, f"expected 'IMGID:<id>' to start a post, got {line[:40]!r}", number)
                post_id, first_line = line[len("IMGID:"):].strip(), number
                continue
            fields = line.split("\t")
            if len(fields) != 1 + tag_columns:
                raise DatasetFormatError(
                    path, f"expected {1 + tag_columns} TAB-separated fields, got {len(fields)}: {line[:60]!r}", number
                )
            if fields[0] == "" or " " in fields[0]:
                raise DatasetFormatError(path, f"token {fields[0]!r} is empty or contains a space", number)
            tokens.append(fields[0])
            for column, tag in zip(tags, fields[1:]):
                column.append(tag)
        if post_id is not None:
            yield finish()


def bio_spans(tags: tuple[str, ...], path: Path, first_line: int) -> list[TokenSpan]:
    """Decode BIO tags into spans. An ``I-X`` that does not continue a ``B-X``/``I-X`` is an error.

    ``first_line`` is the line of the block's ``IMGID:``; token i stands on line ``first_line + 1 + i``.
    """
    spans: list[TokenSpan] = []
    open_start, open_label = None, None
    for index, tag in enumerate(tags + ("O",)):
        if tag == "O" or tag.startswith("B-"):
            if open_label is not None:
                spans.append(TokenSpan(open_start, index, open_label))
                open_start, open_label = None, None
            if tag.startswith("B-"):
                open_start, open_label = index, tag[2:]
        elif tag.startswith("I-"):
            if open_label != tag[2:]:
                raise DatasetFormatError(
                    path, f"tag {tag} does not continue a B-{tag[2:]} or I-{tag[2:]}", first_line + 1 + index
                )
        else:
            raise DatasetFormatError(path, f"tag {tag!r} is not O, B-<type> or I-<type>", first_line + 1 + index)
        if tag.startswith("B-") and not tag[2:]:
            raise DatasetFormatError(path, "tag 'B-' has no type", first_line + 1 + index)
    return spans
