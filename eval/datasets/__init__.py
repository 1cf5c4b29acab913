"""Datasets by name: where their files are, which types they use, and how to read a split.

Benchmarks: ``twitter-gmner``, ``twitter-fmnerg``, ``twitter-smner`` (the ``IMGID:`` layout with VOC boxes; their
types are presets). Any NER data: ``conll`` (``eval.datasets.plain_conll``) and ``jsonl`` (``eval.datasets.jsonl``),
whose types come from ``--types`` or from a ``types.toml`` beside the data.

``--data`` may be the split's file itself, the dataset's folder (holding ``<split>.txt`` or ``<split>.jsonl``), or
a folder holding the benchmarks' folders (``twitter-gmner-v2/``, ``twitter-fmnerg/``), like ``../shared/data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from groundex.agent import AnnotatedPost, GroundexError, TypeSchema, load_preset, load_type_schema
from groundex.eval.datasets.jsonl import read_jsonl_gold
from groundex.eval.datasets.plain_conll import read_plain_conll
from groundex.eval.datasets.smner import read_twitter_smner
from groundex.eval.datasets.twitter import read_twitter_fmnerg, read_twitter_gmner

TYPES_FILE = "types.toml"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a split. ``image_dir``: the post images (``<id>.jpg``); ``xml_dir``: the VOC boxes of the Twitter
    benchmarks; ``tag_column`` (1-based; default: the last) and ``tag_scheme`` (``auto``, ``bio``, ``iob1``,
    ``bioes``): CoNLL files; ``known_labels``: the generic formats refuse a label outside it, naming its line."""

    image_dir: Path | None = None
    xml_dir: Path | None = None
    tag_column: int | None = None
    tag_scheme: str = "auto"
    known_labels: frozenset[str] | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset format: its usual folder name under a parent (``None``: none), the suffix of its split files, its
    type preset (``None``: ``--types`` or ``types.toml`` beside the data), and its reader ``(split file, options)``."""

    name: str
    folder: str | None
    suffix: str
    type_preset: str | None
    read: Callable[[Path, ReadOptions], Iterator[AnnotatedPost]]

    @property
    def generic(self) -> bool:
        """Any NER data with its own types, rather than a benchmark with a preset."""
        return self.type_preset is None


class DatasetNotFound(GroundexError):
    """A dataset name, folder or split that does not exist."""


def _twitter(reader: Callable) -> Callable[[Path, ReadOptions], Iterator[AnnotatedPost]]:
    return lambda path, options: reader(path, box_dir(path, options.xml_dir), options.image_dir)


DATASETS: dict[str, DatasetSpec] = {
    "twitter-gmner": DatasetSpec("twitter-gmner", "twitter-gmner-v2", ".txt", "gmner", _twitter(read_twitter_gmner)),
    "twitter-fmnerg": DatasetSpec("twitter-fmnerg", "twitter-fmnerg", ".txt", "fmnerg", _twitter(read_twitter_fmnerg)),
    "twitter-smner": DatasetSpec("twitter-smner", "twitter-smner", ".txt", "gmner", _twitter(read_twitter_smner)),
    "conll": DatasetSpec("conll", None, ".txt", None, lambda path, options: read_plain_conll(
        path, options.tag_column, options.tag_scheme, options.known_labels)),
    "jsonl": DatasetSpec("jsonl", None, ".jsonl", None, lambda path, options: read_jsonl_gold(
        path, options.image_dir, options.known_labels)),
}


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DatasetNotFound(f"unknown dataset {name!r}; datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def split_file(spec: DatasetSpec, data: Path, split: str) -> Path:
    """The file of a split: ``data`` itself where it is a file, else ``<split><suffix>`` in ``data`` or in
    ``data/<spec.folder>``."""
    if data.is_file():
        return data
    folders = [data] + ([data / spec.folder] if spec.folder else [])
    for folder in folders:
        candidate = folder / f"{split}{spec.suffix}"
        if candidate.is_file():
            return candidate
    looked = " or ".join(str(f) for f in folders)
    raise DatasetNotFound(f"no {split}{spec.suffix} for {spec.name} in {looked}: pass --data the dataset's folder or "
                          "the split's file")


def box_dir(text_file: Path, xml_dir: Path | None = None) -> Path:
    """The VOC box folder: ``xml_dir`` if given, else ``xml/`` beside the text file, else GMNER v2's (FMNERG
    reuses GMNER's boxes)."""
    candidates = [xml_dir] if xml_dir else [text_file.parent / "xml", text_file.parent.parent / "twitter-gmner-v2" / "xml"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DatasetNotFound(
        f"no box folder for {text_file} (looked in {', '.join(str(c) for c in candidates)}): pass --xml-dir"
    )


@dataclass(frozen=True)
class DatasetTypes:
    """The types a run uses: ``schema``; ``name`` for reports (a preset, a file, the ``--types`` value);
    ``restricted``: given with ``--types``, so gold outside them is left out (zero-shot), not refused."""

    schema: TypeSchema
    name: str
    restricted: bool

    @property
    def known_labels(self) -> frozenset[str] | None:
        """What a reader of a generic format must find every gold label in (``None``: no check)."""
        return None if self.restricted else frozenset(self.schema.names)


def dataset_types(spec: DatasetSpec, text_file: Path, types: str | None = None) -> DatasetTypes:
    """``types`` (a preset, a type file or ``A,B,C``) where given; else the benchmark's preset, or the
    ``types.toml`` beside a generic dataset's split file."""
    if types:
        return DatasetTypes(load_type_schema(types), types, True)
    if spec.type_preset:
        return DatasetTypes(load_preset(spec.type_preset), spec.type_preset, False)
    types_file = text_file.parent / TYPES_FILE
    if not types_file.is_file():
        raise DatasetNotFound(f"{spec.name} data {text_file} has no {TYPES_FILE} beside it: give --types (a type file "
                              f"or A,B,C) or write {types_file} (see `groundex types`)")
    return DatasetTypes(load_type_schema(str(types_file)), str(types_file), False)


def load_split(dataset: str, data: Path, split: str, image_dir: Path | None = None, xml_dir: Path | None = None,
               tag_column: int | None = None, tag_scheme: str = "auto",
               known_labels: frozenset[str] | None = None) -> list[AnnotatedPost]:
    """Read a whole split into memory (a split is at most some tens of thousands of sentences)."""
    spec = dataset_spec(dataset)
    text_file = split_file(spec, data, split)
    if image_dir is not None and not image_dir.is_dir():
        raise DatasetNotFound(f"image folder {image_dir} does not exist")
    return list(spec.read(text_file, ReadOptions(image_dir, xml_dir, tag_column, tag_scheme, known_labels)))
