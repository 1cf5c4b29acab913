"""Tiny random-weight models built offline, saved with ``save_pretrained`` and loaded back by the real code.

Nothing here downloads anything: the tokenizer is trained on a few sentences with the ``tokenizers`` library
and the model weights are random. Outputs are garbage by design; the tests check that the pipeline copes.
"""

from __future__ import annotations

from pathlib import Path

import torch

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
]
CORPUS = [
    '{"entities": [{"text": "Messi", "start": 0, "type": "PER", "description": "Lionel Messi, a footballer"}]}',
    "Post: Messi scores again for Barcelona at Camp Nou. yes no Yes No [10, 20, 30, 40]",
    "You extract named entities from a social-media post and decide which are visible in its image.",
    "system user assistant tool locate_entity text type description arguments name",
]


def build_tokenizer(vocab_size: int = 400):
    """A byte-level BPE tokenizer with the Qwen ChatML / vision / tool-call special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=QWEN_SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def _build_tiny_qwen_vl(directory: Path, seed: int, config_class, model_class, vision_config: dict) -> Path:
    """A 2-layer Qwen-VL language model (hidden 64) with the given family's tiny vision tower, saved to ``directory``
    with the tokenizer above and a PIL image processor bounded to 56x56-112x112 pixels."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = build_tokenizer()
    token_id = tokenizer.convert_tokens_to_ids
    config = config_class(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
            # With the default 0.02 the output head of a 64-wide model can only move logits by about 1, which
            # keeps any LoRA on the inner layers near the uniform loss; real models have large-norm heads.
            initializer_range=0.2,
            eos_token_id=token_id("<|im_end|>"), pad_token_id=token_id("<|endoftext|>"), bos_token_id=None),
        vision_config=vision_config,
        image_token_id=token_id("<|image_pad|>"), video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"), vision_end_token_id=token_id("<|vision_end|>"),
        eos_token_id=token_id("<|im_end|>"), pad_token_id=token_id("<|endoftext|>"), bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    model.generation_config.eos_token_id = token_id("<|im_end|>")
    model.generation_config.pad_token_id = token_id("<|endoftext|>")
    model.generation_config.bos_token_id = None
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112).save_pretrained(directory)
    return directory


def build_tiny_qwen2_vl(directory: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2-VL (hidden 64, head_dim 32) with a 1-block vision tower, saved to ``directory``."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    return _build_tiny_qwen_vl(directory, seed, Qwen2VLConfig, Qwen2VLForConditionalGeneration,
                               dict(depth=1, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14,
                                    spatial_merge_size=2, temporal_patch_size=2))


def build_tiny_qwen2_5_vl(directory: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2.5-VL (hidden 64) with a 1-block windowed vision tower, saved to ``directory`` (the GPU
    recipe's model family; ``bench/gpu_check.sh`` trains it)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    return _build_tiny_qwen_vl(directory, seed, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration,
                               dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                                    patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                                    fullatt_block_indexes=[0]))


def build_tiny_sam(seed: int = 0) -> torch.nn.Module:
    """segment_anything's own builder with a 1-block, 32-wide image encoder (random weights, real architecture)."""
    from groundex.tools.sam_predictor import segment_anything_builders

    torch.manual_seed(seed)
    return segment_anything_builders()._build_sam(encoder_embed_dim=32, encoder_depth=1, encoder_num_heads=2,
                      encoder_global_attn_indexes=(), checkpoint=None).eval()


def build_tiny_qwen2_text(directory: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2 causal LM (hidden 128, head_dim 64: vLLM's CPU attention rejects head_dim 16) with the
    same tokenizer, saved with our chat template so that vLLM can serve it."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from groundex.prompts import load_template

    tokenizer = build_tokenizer()
    tokenizer.chat_template = load_template("chat_template")
    token_id = tokenizer.convert_tokens_to_ids
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
                         eos_token_id=token_id("<|im_end|>"), pad_token_id=token_id("<|endoftext|>"), bos_token_id=None,
                         tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = token_id("<|im_end|>")
    model.generation_config.bos_token_id = None
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_lora_adapter(model_dir: Path, directory: Path, rank: int = 8, seed: int = 0, multimodal: bool = False) -> Path:
    """A PEFT LoRA adapter (q_proj / v_proj) with random, non-zero weights, saved with ``save_pretrained``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    torch.manual_seed(seed)
    base = (AutoModelForImageTextToText if multimodal else AutoModelForCausalLM).from_pretrained(model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(directory)
    return directory


def _tiny_clip_parts():
    tokenizer = build_tokenizer()
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=64, bos_token_id=0, pad_token_id=0,
                eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"))
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=32, patch_size=16)
    return tokenizer, text, vision


def build_tiny_clip(directory: Path, seed: int = 0) -> Path:
    """A 1-layer CLIP (32-wide towers, 32 px images) with its processor, saved to ``directory``."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer, text, vision = _tiny_clip_parts()
    torch.manual_seed(seed)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(directory)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def build_tiny_owlvit(directory: Path, seed: int = 0) -> Path:
    """A 1-layer OWL-ViT zero-shot detector (32-wide towers, 32 px images) with its processor."""
    from transformers import OwlViTConfig, OwlViTForObjectDetection, OwlViTProcessor
    from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

    tokenizer, text, vision = _tiny_clip_parts()
    torch.manual_seed(seed)
    OwlViTForObjectDetection(OwlViTConfig(text_config=text, vision_config=vision, projection_dim=32)).save_pretrained(directory)
    image_processor = OwlViTImageProcessorPil(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
    OwlViTProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory
