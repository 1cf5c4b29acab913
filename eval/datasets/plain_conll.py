"""Plain CoNLL NER files (``--dataset conll``): the common layout of public NER corpora and of most labs' own data.

One token a line with its tag in the last column (or ``tag_column``, 1-based), fields separated by a TAB where the
line has one, else by spaces; a blank line between sentences; ``-DOCSTART-`` lines skipped. BIO, IOB1 and
BIOES/BILOU tags (``eval.datasets.tagging``). Before a sentence's first token, ``# id = X`` (or ``# id: X``,
``# sent_id = X``) names the sentence and other ``# key = value`` metadata lines are skipped; any other line is a
token, so a token ``#`` or ``#hashtag`` reads as one. A sentence's id is ``<file stem>-<sentence number>``
(1-based) unless a comment gives one. Text is the tokens joined by single spaces, as for the Twitter data, so
token spans map one-to-one onto character spans. Windows line endings and a UTF-8 BOM read fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from groundex.agent import AnnotatedPost, Entity, GoldTriple, Post
from groundex.eval.datasets.errors import DatasetFormatError, read_text_file
from groundex.eval.datasets.tagging import TAG_SCHEMES, TagError, decode_tags, detect_scheme, split_tag

ID_COMMENT = re.compile(r"^#\s+(?:sent_)?id\s*[=:]\s*(\S.*?)\s*$")
METADATA_COMMENT = re.compile(r"^#\s+[\w.][\w. -]*=\s")


@dataclass(frozen=True)
class ConllSentence:
    """One sentence as read: its id, tokens and tags, and the 1-based line of each token (for error messages)."""

    post_id: str
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    lines: tuple[int, ...]


def _fields(line: str) -> list[str]:
    return line.split("\t") if "\t" in line else line.split()


def read_sentences(path: Path, tag_column: int | None = None) -> list[ConllSentence]:
    """Every sentence of ``path``. ``tag_column``: 1-based column of the tags (default: the last; the token is
    always column 1). Raises ``DatasetFormatError`` naming the file and line."""
    if tag_column is not None and tag_column < 2:
        raise DatasetFormatError(path, f"--tag-column {tag_column}: the token is column 1, tags start at column 2")
    text = read_text_file(path)
    sentences: list[ConllSentence] = []
    ids: dict[str, int] = {}
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    given_id: tuple[str, int] | None = None

    def finish() -> None:
        nonlocal tokens, tags, lines, given_id
        if tokens:
            post_id, id_line = given_id or (f"{path.stem}-{len(sentences) + 1}", lines[0])
            if post_id in ids:
                raise DatasetFormatError(path, f"sentence id {post_id!r} is used twice (first on line {ids[post_id]})",
                                         id_line)
            ids[post_id] = id_line
            sentences.append(ConllSentence(post_id, tuple(tokens), tuple(tags), tuple(lines)))
        elif given_id is not None:
            raise DatasetFormatError(path, f"id {given_id[0]!r} names a sentence without tokens", given_id[1])
        tokens, tags, lines, given_id = [], [], [], None

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            finish()
            continue
        if not tokens:
            if match := ID_COMMENT.match(line):
                given_id = (match.group(1), number)
                continue
            if METADATA_COMMENT.match(line):
                continue
        fields = _fields(line)
        if fields[0] == "-DOCSTART-":
            finish()
            continue
        column = tag_column or len(fields)
        if len(fields) < max(2, column):
            raise DatasetFormatError(
                path, f"expected a token and its tag{f' in column {column}' if tag_column else ''}, got "
                      f"{len(fields)} column(s): {line[:60]!r}", number)
        token, tag = fields[0].strip(), fields[column - 1].strip()  # "💔 <TAB>O": spaces around a token are no part of it
        if not token:
            raise DatasetFormatError(path, "the token (column 1) is empty", number)
        try:
            split_tag(tag)
        except ValueError as error:
            raise DatasetFormatError(path, str(error), number) from error
        tokens.append(token)
        tags.append(tag)
        lines.append(number)
    finish()
    if not sentences:
        raise DatasetFormatError(path, "holds no sentences (an empty file, or only comments and blank lines)")
    return sentences


def read_plain_conll(path: Path, tag_column: int | None = None, tag_scheme: str = "auto",
                     known_labels: frozenset[str] | None = None) -> Iterator[AnnotatedPost]:
    """The posts of a plain CoNLL file. ``known_labels``: where given, a label outside it is an error naming the
    label and its first line (the types file must define every label the data uses)."""
    if tag_scheme not in TAG_SCHEMES:
        raise DatasetFormatError(path, f"unknown tag scheme {tag_scheme!r}; schemes: {', '.join(TAG_SCHEMES)}")
    sentences = read_sentences(path, tag_column)
    scheme = detect_scheme([s.tags for s in sentences]) if tag_scheme == "auto" else tag_scheme
    for sentence in sentences:
        try:
            spans = decode_tags(sentence.tags, scheme)
        except TagError as error:
            hint = "; --tag-scheme iob1 reads it as the start of a new entity" if scheme == "bio" else ""
            raise DatasetFormatError(path, f"{error} (read as {scheme.upper()}{hint})",
                                     sentence.lines[error.index]) from error
        post = Post(id=sentence.post_id, text=" ".join(sentence.tokens), tokens=sentence.tokens)
        offsets = post.token_offsets()
        gold = []
        for span in spans:
            if known_labels is not None and span.label not in known_labels:
                raise DatasetFormatError(path, f"type {span.label!r} is not in the types ({', '.join(sorted(known_labels))}): "
                                               "add it to types.toml, or give --types to score only some types",
                                         sentence.lines[span.start])
            start, end = offsets[span.start][0], offsets[span.end - 1][1]
            gold.append(GoldTriple(Entity(text=post.text[start:end], start=start, end=end, type=span.label)))
        yield AnnotatedPost(post=post, gold=tuple(gold))
