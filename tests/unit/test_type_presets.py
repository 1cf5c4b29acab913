"""Type presets come from data files and user type lists resolve predictably."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundex.agent.type_presets import TypeSchemaError, load_preset, load_type_schema

SHARED_FINE_TYPES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "twitter-fmnerg" / "fine_types.tsv"


def test_gmner_preset_has_the_four_coarse_types_with_descriptions():
    schema = load_preset("gmner")
    assert schema.names == ("PER", "LOC", "ORG", "OTHER")
    assert all(t.description for t in schema)


def test_fmnerg_preset_has_51_fine_types_in_8_groups_with_descriptions():
    schema = load_preset("fmnerg")
    assert len(schema) == 51
    assert {t.group for t in schema} == {"person", "organization", "location", "building", "event", "art", "product", "other"}
    assert all(t.description for t in schema)
    assert load_preset("fmnerg-coarse").names == ("person", "organization", "location", "building", "event", "art", "product", "other")


def test_fmnerg_preset_agrees_with_the_dataset_hierarchy():
    if not SHARED_FINE_TYPES.is_file():
        pytest.skip("shared FMNERG type list not present")
    rows = [line.rstrip("\n").split("\t") for line in SHARED_FINE_TYPES.open() if line.strip() and not line.startswith("#")]
    schema = load_preset("fmnerg")
    assert {(schema.group_of(fine), fine) for fine in schema.names} == {(coarse, fine) for coarse, fine in rows}


def test_comma_list_takes_descriptions_from_presets_where_known():
    schema = load_type_schema("athlete,dish")
    assert schema.names == ("athlete", "dish")
    assert schema.get("athlete").group == "person" and schema.get("athlete").description
    assert schema.get("dish").description == ""


def test_type_files_in_toml_and_text(tmp_path):
    toml_file = tmp_path / "types.toml"
    toml_file.write_text('name = "food"\n[[types]]\nname = "dish"\ndescription = "a named dish"\n')
    assert load_type_schema(str(toml_file)).get("dish").description == "a named dish"
    text_file = tmp_path / "types.txt"
    text_file.write_text("# my types\ndish: a named dish\nlogo\n")
    assert load_type_schema(str(text_file)).names == ("dish", "logo")


def test_bad_type_specs_give_clear_errors(tmp_path):
    with pytest.raises(TypeSchemaError, match="does not exist"):
        load_type_schema(str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[[types]\n")
    with pytest.raises(TypeSchemaError, match="not valid TOML"):
        load_type_schema(str(broken))
    with pytest.raises(TypeSchemaError, match="twice"):
        load_type_schema("PER,PER")


def test_the_zero_shot_and_seen_presets_split_the_fine_types():
    from groundex.agent.type_presets import ZERO_SHOT_TYPES

    seen, held = load_preset("fmnerg-seen"), load_preset("fmnerg-zero-shot")
    assert held.names == tuple(t for t in load_preset("fmnerg").names if t in ZERO_SHOT_TYPES) and len(held) == 10
    assert len(seen) == 41 and not set(seen.names) & set(held.names)
    assert all(t.description and t.group for t in (*seen, *held))
