"""Tokenizer snapshots (agent/backends/tokenizer_snapshots.py) with a real byte-level BPE tokenizer saved to disk:
the second load reads the snapshot and tokenizes the same, a changed tokenizer file or an unreadable snapshot
means a fresh load, and a directory without tokenizer.json is loaded as usual."""

from __future__ import annotations

import os

import pytest

from groundex.agent.backends.tokenizer_snapshots import load_tokenizer, snapshot_path
from tests.support.tiny_models import build_tokenizer

TEXT = "<|im_start|>user\nRT @NASA: Eileen Collins waves at Kennedy Space Center<|im_end|>"


@pytest.fixture()
def tokenizer_dir(tmp_path):
    directory = tmp_path / "model"
    build_tokenizer().save_pretrained(directory)
    return directory


def _refuse_from_pretrained(monkeypatch):
    from transformers import AutoTokenizer

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called: the snapshot was not used")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", refuse)


def test_the_second_load_reads_the_snapshot_and_tokenizes_the_same(tokenizer_dir, tmp_path, monkeypatch):
    first = load_tokenizer(str(tokenizer_dir), tmp_path / "cache")
    snapshot = snapshot_path(tokenizer_dir, tmp_path / "cache")
    assert snapshot is not None and snapshot.is_file()
    _refuse_from_pretrained(monkeypatch)
    second = load_tokenizer(str(tokenizer_dir), tmp_path / "cache")
    assert second(TEXT)["input_ids"] == first(TEXT)["input_ids"]
    assert second.decode(first(TEXT)["input_ids"]) == first.decode(first(TEXT)["input_ids"])
    assert second.convert_tokens_to_ids("<|im_end|>") == first.convert_tokens_to_ids("<|im_end|>")
    assert not list(snapshot.parent.glob("*.partial"))


def test_a_changed_tokenizer_file_gets_a_new_snapshot(tokenizer_dir, tmp_path):
    before = snapshot_path(tokenizer_dir, tmp_path)
    stat = (tokenizer_dir / "tokenizer.json").stat()
    os.utime(tokenizer_dir / "tokenizer.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert snapshot_path(tokenizer_dir, tmp_path) != before


def test_an_unreadable_snapshot_is_rebuilt(tokenizer_dir, tmp_path, caplog):
    snapshot = snapshot_path(tokenizer_dir, tmp_path)
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(b"not a pickle")
    tokenizer = load_tokenizer(str(tokenizer_dir), tmp_path)
    assert tokenizer(TEXT)["input_ids"] and "unreadable" in caplog.text
    assert snapshot.read_bytes() != b"not a pickle"  # replaced by a good one


def test_no_cache_dir_or_a_hub_id_loads_as_usual_and_writes_nothing(tokenizer_dir, tmp_path, monkeypatch):
    assert load_tokenizer(str(tokenizer_dir), None)(TEXT)["input_ids"]
    assert not (tmp_path / "tokenizers").exists()
    from transformers import AutoTokenizer

    loaded = []
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda model_id: loaded.append(model_id) or build_tokenizer())
    load_tokenizer("google/gemma-3-270m", tmp_path)  # not a local directory: no snapshot
    assert loaded == ["google/gemma-3-270m"] and not (tmp_path / "tokenizers").exists()


def test_a_directory_without_tokenizer_json_has_no_snapshot(tokenizer_dir, tmp_path):
    (tokenizer_dir / "tokenizer.json").unlink()
    assert snapshot_path(tokenizer_dir, tmp_path) is None
