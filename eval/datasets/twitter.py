"""Readers for Twitter-GMNER v2.0 and Twitter-FMNERG: ``IMGID:`` CoNLL text plus VOC box files.

A post's text is its tokens joined by single spaces. A mention's boxes are all the boxes of its post's XML
whose ``<name>`` equals the mention's tokens joined by single spaces (two mentions with the same string share
them, as the format cannot tell them apart); a mention with none is ungroundable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from groundex.agent import AnnotatedPost, Entity, GoldTriple, Post
from groundex.eval.datasets.conll import ConllBlock, TokenSpan, bio_spans, read_conll_blocks
from groundex.eval.datasets.errors import DatasetFormatError
from groundex.eval.datasets.voc import BoxFile, read_box_file

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")


def find_image(image_dir: Path | None, post_id: str) -> Path | None:
    """The image file of a post (``<id>.jpg``, or another common suffix), or ``None`` if it is not there."""
    if image_dir is None:
        return None
    for suffix in IMAGE_SUFFIXES:
        candidate = image_dir / f"{post_id}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _annotated_post(
    block: ConllBlock, spans: list[TokenSpan], xml_dir: Path, image_dir: Path | None
) -> AnnotatedPost:
    xml_path = xml_dir / f"{block.post_id}.xml"
    box_file = read_box_file(xml_path) if xml_path.is_file() else None
    post = Post(
        id=block.post_id,
        text=" ".join(block.tokens),
        image_path=find_image(image_dir, block.post_id),
        tokens=block.tokens,
        image_size=box_file.image_size if box_file else None,
    )
    offsets = post.token_offsets()
    gold = []
    for span in spans:
        start, end = offsets[span.start][0], offsets[span.end - 1][1]
        entity = Entity(text=post.text[start:end], start=start, end=end, type=span.label)
        boxes = box_file.boxes_by_name.get(entity.text, ()) if box_file else ()
        gold.append(GoldTriple(entity=entity, boxes=boxes))
    _check_box_names(box_file, gold, xml_path)
    return AnnotatedPost(post=post, gold=tuple(gold))


def _check_box_names(box_file: BoxFile | None, gold: list[GoldTriple], xml_path: Path) -> None:
    if box_file is None:
        return
    mention_texts = {g.entity.text for g in gold}
    orphans = sorted(set(box_file.boxes_by_name) - mention_texts)
    if orphans:
        raise DatasetFormatError(xml_path, f"box names {orphans} match no entity of the post")


def read_twitter_gmner(path: Path, xml_dir: Path, image_dir: Path | None = None) -> Iterator[AnnotatedPost]:
    """Twitter-GMNER v2.0 (``token<TAB>BIO``, types PER/LOC/ORG/OTHER)."""
    for block in read_conll_blocks(path, tag_columns=1):
        spans = bio_spans(block.tag_columns[0], path, block.first_line)
        yield _annotated_post(block, spans, xml_dir, image_dir)


def read_twitter_fmnerg(
    path: Path, xml_dir: Path, image_dir: Path | None = None, level: str = "fine"
) -> Iterator[AnnotatedPost]:
    """Twitter-FMNERG (``token<TAB>coarse BIO<TAB>fine BIO``); ``level`` picks the ``fine`` or ``coarse`` types.

    Both columns must tag the same spans; a file where they differ is reported as malformed.
    """
    if level not in ("fine", "coarse"):
        raise ValueError(f"level must be 'fine' or 'coarse', not {level!r}")
    for block in read_conll_blocks(path, tag_columns=2):
        coarse = bio_spans(block.tag_columns[0], path, block.first_line)
        fine = bio_spans(block.tag_columns[1], path, block.first_line)
        if [(s.start, s.end) for s in coarse] != [(s.start, s.end) for s in fine]:
            raise DatasetFormatError(path, f"post {block.post_id}: coarse and fine tags mark different spans",
                                     block.first_line)
        yield _annotated_post(block, fine if level == "fine" else coarse, xml_dir, image_dir)
