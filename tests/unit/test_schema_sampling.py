"""Schema randomisation is seeded, keeps the targets correct, and never shows a held-out type."""

from __future__ import annotations

from collections import Counter

from groundex.agent.type_presets import load_preset
from groundex.finetune.schema_sampling import FMNERG_GROUP_TO_GMNER, RandomisationConfig, SchemaSampler

GMNER, FINE = load_preset("gmner"), load_preset("fmnerg")
NEGATIVE_BASE = {t.name: FMNERG_GROUP_TO_GMNER[t.group] for t in FINE}


def sampler(seed: int = 0, **config) -> SchemaSampler:
    return SchemaSampler(GMNER, RandomisationConfig(**config), seed, negatives=FINE, negative_base=NEGATIVE_BASE)


def test_the_same_seed_gives_the_same_schemas_and_another_seed_others():
    first = [sampler(7).sample(f"p{i}", {"PER"}) for i in range(50)]
    again = [sampler(7).sample(f"p{i}", {"PER"}) for i in range(50)]
    other = [sampler(8).sample(f"p{i}", {"PER"}) for i in range(50)]
    assert first == again and first != other


def test_held_out_types_never_appear_under_any_name():
    held = ["athlete", "city", "person", "LOC"]  # a fine type, an alias and a base type
    s = sampler(1, held_out_types=held, max_negative_types=5, rename_probability=1.0)
    for index in range(500):
        sampled = s.sample(f"p{index}", {"PER", "ORG"})
        assert not set(sampled.schema.names) & set(held)
        assert "LOC" not in sampled.names  # a held-out base type is dropped, with its entities


def test_negative_types_only_come_from_base_types_absent_from_the_post():
    s = sampler(2, max_negative_types=4, subset_probability=0.0, rename_probability=0.0, held_out_types=[])
    for index in range(300):
        sampled = s.sample(f"p{index}", {"PER", "LOC"})
        extras = [name for name in sampled.schema.names if name not in GMNER]
        assert all(NEGATIVE_BASE[name] in ("ORG", "OTHER") for name in extras)


def test_renames_subsets_and_dropout_all_happen_and_names_map_back():
    s = sampler(3, rename_probability=0.5, subset_probability=0.5, description_dropout=0.5)
    samples = [s.sample(f"p{index}", {"PER"}) for index in range(300)]
    assert any(sampled.names.get("PER") in ("person", "human", "people") for sampled in samples)
    assert any(len(sampled.names) < 4 for sampled in samples)
    assert any(t.description == "" for sampled in samples for t in sampled.schema)
    for sampled in samples:
        assert all(shown in sampled.schema for shown in sampled.names.values())


def test_disabled_randomisation_shows_the_dataset_schema():
    sampled = sampler(enabled=False).sample("p", {"PER"})
    assert sampled.schema.names == GMNER.names and sampled.names == {n: n for n in GMNER.names}


def test_the_shipped_gpu_recipe_is_a_valid_training_config(repo_root):
    from groundex.finetune.config import load_train_config

    config = load_train_config(repo_root / "finetune" / "recipes" / "qwen2.5-vl-7b.toml")
    assert config.model == "Qwen/Qwen2.5-VL-7B-Instruct" and config.lora.rank == 16
    assert config.images.max_pixels == 1024 * 28 * 28 and config.data.name == "gmner-train.jsonl"


def fine_sampler(seed: int = 0, **config):
    from groundex.finetune.schema_sampling import FineLabelSampler

    return FineLabelSampler(FINE, load_preset("fmnerg-coarse"), GMNER, RandomisationConfig(**config), seed)


def test_fine_labels_give_schemas_at_all_three_levels_with_correct_targets():
    gold = {"athlete", "sports_team", "politician"}  # politician is held out by default
    held_out = set(RandomisationConfig().held_out_types)
    coarse_names = set(load_preset("fmnerg-coarse").names)
    samples = [fine_sampler(4).sample(f"p{i}", gold) for i in range(400)]
    for sampled in samples:
        shown = set(sampled.schema.names)
        assert not shown & held_out and all(name in shown for name in sampled.names.values())
        if sampled.level in ("gmner", "coarse"):
            # a held-out fine type's entities stay in coarse targets, under their coarse name
            assert sampled.names.get("politician") == sampled.names.get("athlete")
            assert sampled.level == "gmner" or {sampled.names.get("athlete")} <= coarse_names | {None}
        else:
            assert "politician" not in sampled.names  # never a target under a name it is not shown by
            assert set(sampled.names) <= {"athlete", "sports_team"}
            extras = {n.replace(" ", "_") for n in shown} - set(sampled.names)
            assert extras and not extras & gold
    levels = Counter(s.level for s in samples)
    assert all(levels[k] > 40 for k in ("gmner", "coarse", "fine")), levels
    assert any(len(s.schema) == 41 for s in samples)  # sometimes every seen fine type
    assert samples == [fine_sampler(4).sample(f"p{i}", gold) for i in range(400)]


def test_fine_negatives_never_name_a_type_of_the_post():
    for index in range(300):
        sampled = fine_sampler(5, level_weights={"fine": 1.0}, all_fine_probability=0.0).sample(f"p{index}", {"band", "city"})
        assert "city" not in sampled.schema.names and "city" not in sampled.names
        assert {n for n in sampled.schema.names} - {"band"} and all(
            n.replace(" ", "_") not in {"city"} for n in sampled.schema.names)


def test_the_cpu_recipes_are_valid_training_configs(repo_root):
    from groundex.finetune.config import load_train_config

    recipes = repo_root / "finetune" / "recipes"
    new = load_train_config(recipes / "gemma3-270m-groundex.toml")
    assert (new.lora.top_layers, new.training.decision_weight, new.training.epochs) == (12, 2.0, 2)
    assert new.resume_from == recipes / "../resume/gemma3-270m-groundex"
    assert load_train_config(recipes / "gemma3-270m-cpu.toml").lora.top_layers == 0


def test_readable_names_of_corpus_labels():
    from groundex.finetune.schema_sampling import readable_names

    assert readable_names("HumanSettlement") == ["human settlement"]
    assert readable_names("person_artist/author") == ["artist or author", "person artist or author"]
    assert readable_names("Gene_or_gene_product") == ["gene or gene product"]
    assert readable_names("MusicalGRP") == ["musical group"] and readable_names("PER") == ["person"]
    assert readable_names("athlete") == []


def test_the_corpus_sampler_shows_own_types_keeps_targets_and_never_held_out_ones():
    from groundex.agent import EntityType, TypeSchema
    from groundex.finetune.schema_sampling import CorpusSampler

    corpus = TypeSchema("corpus", tuple(EntityType(n, f"a {n}") for n in
                                        ("person_athlete", "location_GPE", "location_mountain", "art_film", "other_god",
                                         "product_car", "event_election")))
    config = RandomisationConfig(held_out_types=["location_mountain"], rename_probability=0.5, all_fine_probability=0.2)
    sampler = CorpusSampler(corpus, config, seed=1)
    samples = [sampler.sample(f"s{i}", {"person_athlete", "location_mountain"}) for i in range(400)]
    assert samples == [CorpusSampler(corpus, config, seed=1).sample(f"s{i}", {"person_athlete", "location_mountain"})
                       for i in range(400)]
    shown = {name for sampled in samples for name in sampled.schema.names}
    assert "location_mountain" not in shown and "mountain" not in shown and "location mountain" not in shown
    assert {"athlete", "person athlete", "person_athlete", "geopolitical entity"} <= shown
    assert all(set(sampled.names) <= {"person_athlete"} for sampled in samples)  # only present, shown gold types
    assert all(sampled.names["person_athlete"] in sampled.schema for sampled in samples if sampled.names)
    assert any(len(sampled.schema) == 6 for sampled in samples)  # sometimes every type (less the held-out one)
    assert any(not sampled.names for sampled in samples)  # the post's type left out: no target, negatives only


def test_lowercased_posts_keep_their_offsets():
    from groundex.agent import AnnotatedPost, Entity, GoldTriple, Post
    from groundex.finetune.mixture import lowercased

    post = Post("p", "Messi joins Inter Miami", tokens=("Messi", "joins", "Inter", "Miami"))
    annotated = AnnotatedPost(post, (GoldTriple(Entity("Inter Miami", 12, 23, "ORG")),))
    lowered = lowercased(annotated)
    assert lowered.post.text == "messi joins inter miami" and lowered.gold[0].entity.text == "inter miami"
    turkish = AnnotatedPost(Post("t", "İstanbul", tokens=("İstanbul",)), ())
    assert lowercased(turkish) is turkish  # "İ".lower() is two characters: offsets would move
