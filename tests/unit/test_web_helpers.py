"""The web app's safety rules and views, without a browser (the browser test is in tests/integration)."""

from __future__ import annotations

import pytest
from PIL import Image

from groundex.agent.errors import GroundexError
from groundex.agent.schema import Box, Entity, Prediction, Triple
from groundex.agent.display import triple_rows
from groundex.agent.web import ServeOptions, store_upload


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org"])
def test_any_host_but_loopback_needs_a_token(host):
    with pytest.raises(GroundexError, match="--token"):
        ServeOptions(host=host).check()
    ServeOptions(host=host, token="t").check()
    ServeOptions().check()  # 127.0.0.1 needs none


def test_uploads_are_saved_under_our_own_name_by_content(tmp_path):
    image = Image.new("RGB", (40, 30), (10, 200, 30))
    first = store_upload(image, tmp_path / "uploads")
    again = store_upload(image.convert("RGBA"), tmp_path / "uploads")
    other = store_upload(Image.new("RGB", (40, 30), (0, 0, 0)), tmp_path / "uploads")
    assert first == again != other and first.parent == tmp_path / "uploads" and first.suffix == ".png"
    assert Image.open(first).size == (40, 30)


def test_oversized_uploads_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("groundex.agent.web.MAX_IMAGE_PIXELS", 100)
    with pytest.raises(GroundexError, match="pixels"):
        store_upload(Image.new("RGB", (20, 20)), tmp_path)


def test_the_table_rows_say_where_each_entity_is():
    prediction = Prediction("p", (Triple(Entity("Messi", 0, 5, "PER"), Box(1.4, 2, 30, 40.6), score=0.9),
                                  Triple(Entity("Madrid", 10, 16, "LOC"))))
    assert triple_rows(prediction) == [["Messi", "PER", "1, 2, 30, 41", "0.90", ""],
                                        ["Madrid", "LOC", "not in the image", "", ""]]
    assert triple_rows(None) == []
