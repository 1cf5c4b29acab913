"""Benchmark datasets by name: where their files are and how to read a split.

``--data`` may be the dataset's own folder (holding ``<split>.txt``) or a folder holding the datasets' folders
(``twitter-gmner-v2/``, ``twitter-fmnerg/``), like ``../shared/data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from groundex.agent import AnnotatedPost, GroundexError
from groundex.eval.datasets.smner import read_twitter_smner
from groundex.eval.datasets.twitter import read_twitter_fmnerg, read_twitter_gmner


@dataclass(frozen=True)
class DatasetSpec:
    """A benchmark: its usual folder name, its type preset, and its reader ``(text file, xml dir, image dir)``."""

    name: str
    folder: str
    type_preset: str
    read: Callable[[Path, Path, Path | None], Iterator[AnnotatedPost]]


DATASETS: dict[str, DatasetSpec] = {
    "twitter-gmner": DatasetSpec("twitter-gmner", "twitter-gmner-v2", "gmner", read_twitter_gmner),
    "twitter-fmnerg": DatasetSpec("twitter-fmnerg", "twitter-fmnerg", "fmnerg", read_twitter_fmnerg),
    "twitter-smner": DatasetSpec("twitter-smner", "twitter-smner", "gmner", read_twitter_smner),
}


class DatasetNotFound(GroundexError):
    """A dataset name, folder or split that does not exist."""


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DatasetNotFound(f"unknown dataset {name!r}; datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def split_file(spec: DatasetSpec, data: Path, split: str) -> Path:
    """The text file of a split, looked for in ``data`` and in ``data/<spec.folder>``."""
    for folder in (data, data / spec.folder):
        candidate = folder / f"{split}.txt"
        if candidate.is_file():
            return candidate
    raise DatasetNotFound(
        f"no {split}.txt for {spec.name} in {data} or {data / spec.folder}: pass --data the dataset's folder"
    )


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


def load_split(
    dataset: str, data: Path, split: str, image_dir: Path | None = None, xml_dir: Path | None = None
) -> list[AnnotatedPost]:
    """Read a whole split into memory (a split is a few thousand posts)."""
    spec = dataset_spec(dataset)
    text_file = split_file(spec, data, split)
    if image_dir is not None and not image_dir.is_dir():
        raise DatasetNotFound(f"image folder {image_dir} does not exist")
    return list(spec.read(text_file, box_dir(text_file, xml_dir), image_dir))
