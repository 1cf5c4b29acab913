"""Dataset readers: offsets, boxes, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundex.agent.schema import Box
from groundex.eval.datasets import DatasetNotFound, load_split
from groundex.eval.datasets.errors import DatasetFormatError
from groundex.eval.datasets.twitter import read_twitter_fmnerg, read_twitter_gmner


def test_mini_example_offsets_and_boxes(mini_gmner):
    posts = {a.post.id: a for a in load_split("twitter-gmner", mini_gmner, "dev")}
    assert list(posts) == ["ex1", "ex2", "ex3", "ex4"]
    ex1 = posts["ex1"]
    assert ex1.post.text == "Messi scores again for Barcelona at Camp Nou"
    assert [(g.entity.text, g.entity.type, g.groundable) for g in ex1.gold] == [
        ("Messi", "PER", True), ("Barcelona", "ORG", False), ("Camp Nou", "LOC", True)]
    for gold in ex1.gold:
        assert ex1.post.text[gold.entity.start:gold.entity.end] == gold.entity.text
    assert posts["ex3"].gold[1].boxes == (Box(20, 20, 80, 80), Box(400, 400, 480, 480))
    assert ex1.post.image_size.width == 640
    assert posts["ex4"].gold == () and posts["ex4"].post.image_size is None
    # the letter O is a real token, not a tag
    assert posts["ex4"].post.tokens[3] == "O"


def test_image_paths_are_found_when_an_image_folder_is_given(mini_gmner, tmp_path):
    (tmp_path / "ex2.png").write_bytes(b"not checked here")
    posts = {a.post.id: a.post for a in load_split("twitter-gmner", mini_gmner, "dev", image_dir=tmp_path)}
    assert posts["ex2"].image_path == tmp_path / "ex2.png"
    assert posts["ex1"].image_path is None


def _write_split(folder: Path, text: str, xml: dict[str, str] | None = None) -> Path:
    (folder / "xml").mkdir(parents=True, exist_ok=True)
    (folder / "dev.txt").write_text(text)
    for name, content in (xml or {}).items():
        (folder / "xml" / name).write_text(content)
    return folder / "dev.txt"


@pytest.mark.parametrize(
    "text,message,line",
    [
        ("IMGID:1\nMessi\tB-PER\nscores\n\n", "expected 2 TAB-separated fields", 3),
        ("IMGID:1\nMessi\tI-PER\n\n", "does not continue", 2),
        ("IMGID:1\nMessi\tB-PER\nJr\tI-ORG\n\n", "does not continue", 3),
        ("IMGID:1\nMessi\tX-PER\n\n", "is not O, B-<type> or I-<type>", 2),
        ("Messi\tB-PER\n\n", "expected 'IMGID:<id>'", 1),
        ("IMGID:1\nMessi\tB-PER\n\nIMGID:2\n\n", "has no tokens", 4),
    ],
)
def test_malformed_text_files_name_file_and_line(tmp_path, text, message, line):
    path = _write_split(tmp_path, text)
    with pytest.raises(DatasetFormatError, match=message) as raised:
        list(read_twitter_gmner(path, tmp_path / "xml"))
    assert raised.value.line == line and f"dev.txt:{line}" in str(raised.value)


def test_malformed_box_files_name_the_file(tmp_path):
    path = _write_split(tmp_path, "IMGID:1\nMessi\tB-PER\n\n", {"1.xml": "<annotation><size><width>10</width>"})
    with pytest.raises(DatasetFormatError, match=r"1\.xml: not well-formed XML"):
        list(read_twitter_gmner(path, tmp_path / "xml"))


def test_a_box_whose_name_matches_no_mention_is_an_error(tmp_path):
    xml = ("<annotation><size><width>10</width><height>10</height></size><object><name>Ronaldo</name>"
           "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>")
    path = _write_split(tmp_path, "IMGID:1\nMessi\tB-PER\n\n", {"1.xml": xml})
    with pytest.raises(DatasetFormatError, match="match no entity"):
        list(read_twitter_gmner(path, tmp_path / "xml"))


def test_fmnerg_columns_must_agree_on_spans(tmp_path):
    path = _write_split(tmp_path, "IMGID:1\nKevin\tB-person\tB-athlete\nDurant\tI-person\tO\n\n")
    with pytest.raises(DatasetFormatError, match="different spans"):
        list(read_twitter_fmnerg(path, tmp_path / "xml"))


def test_fmnerg_levels(tmp_path):
    path = _write_split(tmp_path, "IMGID:1\nKevin\tB-person\tB-athlete\nDurant\tI-person\tI-athlete\nwins\tO\tO\n\n")
    fine = list(read_twitter_fmnerg(path, tmp_path / "xml"))[0].gold[0].entity
    coarse = list(read_twitter_fmnerg(path, tmp_path / "xml", level="coarse"))[0].gold[0].entity
    assert (fine.text, fine.type, coarse.type) == ("Kevin Durant", "athlete", "person")


def test_missing_dataset_parts_are_reported(tmp_path, mini_gmner):
    with pytest.raises(DatasetNotFound, match="no test.txt"):
        load_split("twitter-gmner", mini_gmner, "test")
    with pytest.raises(DatasetNotFound, match="unknown dataset"):
        load_split("ontonotes", mini_gmner, "dev")
    with pytest.raises(DatasetNotFound, match="image folder"):
        load_split("twitter-gmner", mini_gmner, "dev", image_dir=tmp_path / "nope")
