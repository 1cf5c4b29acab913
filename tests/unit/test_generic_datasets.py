"""Any NER data: plain CoNLL (BIO, IOB1, BIOES/BILOU; TAB or spaces; ids; CRLF and BOM) and the JSONL gold
format, with their types from types.toml, and every malformed input named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundex.eval.datasets import (DatasetNotFound, DatasetTypes, dataset_spec, dataset_types, load_split,
                                    split_file)
from groundex.eval.datasets.errors import DatasetFormatError
from groundex.eval.datasets.tagging import decode_tags, detect_scheme

TYPES_TOML = 'name = "mine"\n[[types]]\nname = "PER"\ndescription = "a person"\n[[types]]\nname = "LOC"\n'


def write(folder: Path, name: str, text: str, *, types: bool = True, newline: str = "\n", bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.replace("\n", newline).encode("utf-8"))
    if types:
        (folder / "types.toml").write_text(TYPES_TOML)
    return path


def entities(posts) -> list[list[tuple[str, str]]]:
    return [[(g.entity.text, g.entity.type) for g in a.gold] for a in posts]


BIO = "Lionel\tB-PER\nMessi\tI-PER\nin\tO\nMiami\tB-LOC\n\nhello\tO\n"


def test_bio_reads_with_tab_or_spaces_crlf_and_bom(tmp_path):
    for name, text, newline, bom in [("tab", BIO, "\n", False), ("space", BIO.replace("\t", " "), "\n", False),
                                     ("windows", BIO, "\r\n", True)]:
        path = write(tmp_path / name, "dev.txt", text, newline=newline, bom=bom)
        posts = load_split("conll", path.parent, "dev")
        assert [a.post.id for a in posts] == ["dev-1", "dev-2"]
        assert posts[0].post.text == "Lionel Messi in Miami"
        assert entities(posts) == [[("Lionel Messi", "PER"), ("Miami", "LOC")], []]
        assert posts[0].gold[1].entity.start == 16


def test_iob1_bioes_and_bilou_give_the_same_entities():
    assert detect_scheme([["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]) == "iob1"
    assert detect_scheme([["B-PER", "E-PER", "S-LOC"]]) == "bioes"
    assert detect_scheme([["B-PER", "I-PER", "O", "I-LOC"]]) == "bio"  # a slip in BIO, not IOB1
    spans = lambda tags, scheme: [(s.start, s.end, s.label) for s in decode_tags(tags, scheme)]  # noqa: E731
    expected = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC")]
    assert spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1") == expected
    assert spans(["B-PER", "E-PER", "S-PER", "O", "S-LOC"], "bioes") == expected
    assert spans(["B-PER", "L-PER", "U-PER", "O", "U-LOC"], "bioes") == expected
    assert spans(["B-PER", "I-PER", "B-PER", "O", "B-LOC"], "bio") == expected
    assert spans(["I-PER", "I-LOC"], "iob1") == [(0, 1, "PER"), (1, 2, "LOC")]  # IOB1: a new type opens an entity
    assert spans(["B-event-sports", "I-event-sports"], "bio") == [(0, 2, "event-sports")]  # a label may hold "-"


def test_tag_column_docstart_and_id_comments(tmp_path):
    text = ("-DOCSTART- -X- -X- O\n\n# id = first\nEU NNP B-ORG B-LOC\nrejects VBZ O O\n\n"
            "# text = a metadata line\nBerlin NNP B-LOC B-LOC\n\n#tag X O O\n")
    path = write(tmp_path, "train.txt", text)
    (tmp_path / "types.toml").write_text(TYPES_TOML + '[[types]]\nname = "ORG"\n')
    last = load_split("conll", path, "ignored-when-a-file-is-given")
    assert [a.post.id for a in last] == ["first", "train-2", "train-3"]
    assert entities(last) == [[("EU", "LOC")], [("Berlin", "LOC")], []]
    assert last[2].post.text == "#tag"  # a "#" line that is no "# key = value" comment is a token
    assert entities(load_split("conll", path, "train", tag_column=3))[0] == [("EU", "ORG")]


def test_a_hash_token_is_a_token_not_a_comment(tmp_path):
    path = write(tmp_path, "dev.txt", "#\tO\n#darwin\tB-LOC\nrocks\tO\n")
    posts = load_split("conll", path, "dev")
    assert posts[0].post.text == "# #darwin rocks" and entities(posts) == [[("#darwin", "LOC")]]


@pytest.mark.parametrize("text,message,line", [
    ("Messi\tB-PER\nscores\n", "expected a token and its tag", 2),
    ("Lionel\tB-PER\nMessi\tI-LOC\n", "continues an entity of type 'PER'", 2),
    ("Lionel\tB-PER\nMessi\tE-LOC\n", "continues an entity of type 'PER'", 2),
    ("Lionel\tPER\n", "unknown tag scheme", 1),
    ("Lionel\tB_PER\n", "unknown tag scheme", 1),
    ("a\tO\n\nb\tE-PER\n", "closes an entity that was never opened", 3),
    ("\n\n", "holds no sentences", None),
    ("", "holds no sentences", None),
    ("# id = x\na\tO\n\n# id = x\nb\tO\n", "sentence id 'x' is used twice (first on line 1)", 4),
    ("a\tO\n\nParis\tB-ORG\n", "type 'ORG' is not in the types (LOC, PER)", 3),
    ("a\tO\tB-PER\n", "expected a token and its tag in column 4", 1),
])
def test_malformed_conll_names_file_and_line(tmp_path, text, message, line):
    path = write(tmp_path, "dev.txt", text)
    types = dataset_types(dataset_spec("conll"), path)
    with pytest.raises(DatasetFormatError) as error:
        load_split("conll", tmp_path, "dev", tag_column=4 if "column 4" in message else None,
                   known_labels=types.known_labels)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_an_i_tag_of_another_type_says_how_to_read_it_as_iob1(tmp_path):
    write(tmp_path, "dev.txt", "FTSE\tB-ORG\nBursa\tI-LOC\nMalaysia\tI-LOC\n")
    with pytest.raises(DatasetFormatError, match="dev.txt:2: .*--tag-scheme iob1"):
        load_split("conll", tmp_path, "dev")
    assert entities(load_split("conll", tmp_path, "dev", tag_scheme="iob1")) == [[("FTSE", "ORG"), ("Bursa Malaysia", "LOC")]]


def test_types_come_from_types_toml_or_types_and_only_types_restricts(tmp_path):
    path = write(tmp_path, "dev.txt", BIO)
    spec = dataset_spec("conll")
    from_file = dataset_types(spec, split_file(spec, tmp_path, "dev"))
    assert from_file.schema.names == ("PER", "LOC") and from_file.known_labels == {"PER", "LOC"}
    given = dataset_types(spec, path, "athlete,city")
    assert given == DatasetTypes(given.schema, "athlete,city", True) and given.known_labels is None
    (tmp_path / "types.toml").unlink()
    with pytest.raises(DatasetNotFound, match="has no types.toml beside it: give --types"):
        dataset_types(spec, path)


JSONL = ('{"id": "p1", "text": "Messi joins Inter Miami", "triples": [{"start": 0, "end": 5, "type": "PER", '
         '"text": "Messi", "box": [1, 2, 30, 40]}, {"start": 12, "end": 23, "type": "LOC"}]}\n'
         '{"id": "p2", "text": "nothing here"}\n')


def test_jsonl_gold_reads_spans_boxes_and_images(tmp_path):
    write(tmp_path, "test.jsonl", JSONL)
    posts = load_split("jsonl", tmp_path, "test")
    assert entities(posts) == [[("Messi", "PER"), ("Inter Miami", "LOC")], []]
    assert posts[0].gold[0].boxes[0].as_list() == [1, 2, 30, 40] and not posts[0].gold[1].groundable
    (tmp_path / "p1.png").write_bytes(b"")
    line = JSONL.splitlines()[0].replace('"triples"', '"image": "p1.png", "triples"')
    write(tmp_path, "dev.jsonl", line + "\n")
    assert load_split("jsonl", tmp_path, "dev")[0].post.image_path == tmp_path / "p1.png"


@pytest.mark.parametrize("line,message", [
    ('{"id": "a", "text": "Messi", "triples": [{"start": 0, "end": 9, "type": "PER"}]}',
     "span [0, 9) is outside the text (length 5)"),
    ('{"id": "a", "text": "Messi", "triples": [{"start": 0, "end": 3, "type": "PER", "text": "Messi"}]}',
     "text 'Messi' is not the post's text at [0, 3) ('Mes')"),
    ('{"id": "a", "text": "x", "triples": [], "imag": "x.png"}', "imag: Extra inputs are not permitted"),
    ('{"id": "a", "text": "x"', "not valid JSON"),
    ('{"id": "a", "text": "x", "image": "missing.png"}', "image 'missing.png' of post 'a' does not exist"),
    ('{"id": "a", "text": "Messi", "triples": [{"start": 0, "end": 5, "type": "ORG"}]}',
     "type 'ORG' is not in the types"),
])
def test_malformed_jsonl_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "dev.jsonl", '{"id": "ok", "text": "fine"}\n' + line + "\n")
    with pytest.raises(DatasetFormatError) as error:
        load_split("jsonl", tmp_path, "dev", known_labels=frozenset({"PER", "LOC"}))
    assert str(error.value).startswith(f"{path}:2: ") and message in str(error.value)


def test_jsonl_duplicate_ids_and_empty_files_are_errors(tmp_path):
    write(tmp_path, "dev.jsonl", '{"id": "a", "text": "x"}\n\n{"id": "a", "text": "y"}\n')
    with pytest.raises(DatasetFormatError, match=r"dev.jsonl:3: post id 'a' is used twice \(first on line 1\)"):
        load_split("jsonl", tmp_path, "dev")
    write(tmp_path, "test.jsonl", "\n")
    with pytest.raises(DatasetFormatError, match="holds no posts"):
        load_split("jsonl", tmp_path, "test")


def test_a_twitter_split_dumped_as_gold_reads_back_the_same(mini_gmner, tmp_path):
    from groundex.eval.metrics import score
    from groundex.eval.predictions import read_predictions, write_gold

    twitter = load_split("twitter-gmner", mini_gmner, "dev")
    write_gold(tmp_path / "dev.jsonl", twitter)
    again = load_split("jsonl", tmp_path, "dev")
    assert [(a.post.id, a.post.text) for a in again] == [(a.post.id, a.post.text) for a in twitter]
    assert [[(g.entity, g.groundable) for g in a.gold] for a in again] == \
        [[(g.entity, g.groundable) for g in a.gold] for a in twitter]
    report = score(again, read_predictions(tmp_path / "dev.jsonl"))
    assert report.mner.overall.f1 == report.gmner.overall.f1 == report.eeg.overall.f1 == 1.0
