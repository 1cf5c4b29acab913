"""Fast greedy decoding for the text-only planner (Gemma 3 270M on a CPU), one post at a time.

On two CPU cores a decoding step of the 270M planner is bound by memory bandwidth, not arithmetic: each step reads
the 18 layers' weights (about 400 MB in fp32) and the 262,144 x 640 output layer (another 670 MB). transformers'
``generate`` also rebuilds its stop-string tables over the whole vocabulary on every call (about 1.4 s). This module
decodes greedily with these changes, each switchable in ``DecodingOptions`` for measurement
(``bench/text_decoding.py``):

- **prompt-prefix KV reuse**: the last prompt's KV cache is kept, and a new prompt prefills only what it does not
  share with it (the system prompt, for posts of one schema), where the prompt fits in the sliding window.
- **prompt-lookup drafts**: the answer mostly copies the post (entity texts) and repeats itself (the JSON keys,
  the tool call that names an entity again), so the tokens that followed the latest matching n-gram of the prompt
  or the answer so far are proposed and checked in one forward pass. A step that checks 8 tokens costs about what
  a step of one token costs, since both read the weights once. Greedy checking keeps exactly the tokens greedy
  decoding would have chosen (up to float rounding between one and several positions per pass).
- **a trimmed output layer**: logits are computed only for the tokens an answer to this prompt can use (the
  prompt's tokens, the contract's glue as the chat template renders it, and each word of the prompt re-tokenized
  as it would open or close a JSON string; ``AnswerVocabulary``). Where the best two of those are close
  (``fallback_margin``), the whole layer is screened in bf16, so that a token the trimmed set lacks can still win.
  Its effect on dev is measured, not assumed (README, performance).
- **stop on the end-of-turn text**, checked on the decoded tail of the answer.

Batch size 1, no padding, no sampling: the chat and ``groundex extract`` path. Shapes: ``input_ids`` is
``[1, prompt_tokens]``; hidden states ``[1, positions, hidden]``.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

WORD = re.compile(r"[^\s]+")


@dataclass(frozen=True)
class DecodingOptions:
    """What the fast decoder does: ``draft_tokens`` = 0 turns drafting off; ``trim_vocabulary`` = False computes
    the whole output layer at every step."""

    draft_tokens: int = 8
    max_ngram: int = 3
    trim_vocabulary: bool = True
    fallback_margin: float = 1.0  # logits; trimmed steps whose best two are closer screen the whole layer
    reuse_prefix: bool = True  # keep the KV cache of the last prompt; a new prompt prefills what differs


@dataclass(frozen=True)
class DecodedAnswer:
    """Token ids of the answer (the stop text included when it was reached), and where the time went (seconds):
    ``cached_prompt_tokens`` of the prompt came from the last prompt's KV cache and were not run again."""

    token_ids: list[int]
    prefill_s: float
    total_s: float
    forward_passes: int
    full_vocabulary_steps: int
    cached_prompt_tokens: int


def prompt_lookup_draft(sequence: Sequence[int], max_ngram: int, max_tokens: int) -> list[int]:
    """Up to ``max_tokens`` ids that followed the latest earlier occurrence of the sequence's last n ids
    (n from ``max_ngram`` down to 1); empty when none occurs earlier."""
    length = len(sequence)
    for n in range(min(max_ngram, length - 1), 0, -1):
        tail = list(sequence[length - n:])
        for start in range(length - n - 1, -1, -1):
            if list(sequence[start:start + n]) == tail:
                follow = list(sequence[start + n:start + n + max_tokens])
                if follow:
                    return follow
    return []


class AnswerVocabulary:
    """The token ids an answer to one prompt can be written with, as a sorted index tensor.

    The prompt's own tokens; ``glue_ids`` (the contract's fixed text as the chat template renders it, computed once
    per model); the ASCII characters and digits, alone and where they close a JSON string; and every
    whitespace-separated word of ``prompt_text`` (also without leading ``#``/``@`` and trailing punctuation, in
    lower and capitalised case, and each suffix of it) tokenized as it would open and close a JSON string, alone
    and after a space.
    """

    def __init__(self, tokenizer: Any, glue_ids: Sequence[int]):
        self.tokenizer = tokenizer
        printable = [chr(c) for c in range(33, 127)]
        pieces = [*printable, *(" " + c for c in printable), *(c + '",' for c in printable),
                  *(c + '"}' for c in printable), *(c + '"}]}' for c in printable)]
        self.base = set(glue_ids) | {i for row in tokenizer(pieces, add_special_tokens=False)["input_ids"] for i in row}

    def for_prompt(self, prompt_ids: Sequence[int], prompt_text: str) -> torch.Tensor:
        words = set()
        for word in WORD.findall(prompt_text):
            stripped = word.lstrip("#@").rstrip(".,:;!?)'\"")
            # an entity may start inside a word (hashtags, handles written together): every suffix too
            words.update({word, stripped, stripped.lower(), stripped.capitalize(),
                          *(stripped[i:] for i in range(1, len(stripped) - 1))} - {""})
        pieces = [f'"{w}",' for w in words] + [f'"{w}"}}' for w in words] + [f" {w}" for w in words] + list(words)
        encoded = self.tokenizer(pieces, add_special_tokens=False)["input_ids"] if pieces else []
        ids = self.base | set(prompt_ids) | {i for row in encoded for i in row}
        return torch.tensor(sorted(ids), dtype=torch.long)


@dataclass(frozen=True)
class _TrimmedHead:
    """One prompt's trimmed output layer: the allowed ids ``[allowed]`` (sorted), their rows of the output layer
    ``[allowed, hidden]``, and the ids as a set for membership tests."""

    ids: torch.Tensor
    weight: torch.Tensor
    id_set: frozenset[int]


FAST_DECODER_TRANSFORMERS = "5.15"  # the first release whose caches all roll back (crop, activate_past_recording)


def check_cache_api() -> None:
    """The fast decoder rolls a cache back after a rejected draft: every layer type must ``crop`` by a negative
    count and sliding-window layers must record what they drop (``activate_past_recording``), as transformers
    >= 5.15 do. Older releases are refused here, with one line, instead of failing inside the first post."""
    import transformers
    from transformers import DynamicCache

    if not hasattr(DynamicCache, "activate_past_recording") or not hasattr(DynamicCache, "crop"):
        from groundex.tools.base import ToolSetupError

        raise ToolSetupError(
            f"the fast decoder needs transformers >= {FAST_DECODER_TRANSFORMERS} (installed: {transformers.__version__}): "
            f"pip install 'transformers>={FAST_DECODER_TRANSFORMERS}', or set planner.fast_decoding = false")


class GreedyTextDecoder:
    """Greedy decoding of a causal LM (``model.model`` the decoder body, ``model.lm_head`` the output layer)."""

    def __init__(self, model: Any, tokenizer: Any, stop_text: str, vocabulary: AnswerVocabulary | None,
                 options: DecodingOptions):
        check_cache_api()
        self.model, self.tokenizer, self.stop_text, self.options = model, tokenizer, stop_text, options
        self.vocabulary = vocabulary if options.trim_vocabulary else None
        self.stop_ids = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
        self.body = model.get_decoder()
        self.device = next(model.parameters()).device
        self.head = model.get_output_embeddings()
        if getattr(self.head, "bias", None) is not None:
            raise ValueError("the fast decoder assumes an output layer without bias")
        softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
        self.softcap = float(softcap) if softcap else None  # monotonic: changes margins, not the argmax
        self._last_prompt: tuple[list[int], Any] | None = None  # explicit cache: the last prompt's ids and KV cache
        self.sliding_window: int | None = getattr(model.config.get_text_config(), "sliding_window", None)
        # the whole output layer in bf16, for screening the steps the trimmed layer is unsure of
        self._screen_weight = self.head.weight.detach().to(torch.bfloat16) if self.vocabulary else None

    def _reuses_prefix(self, prompt: list[int]) -> bool:
        """Whether this decoding keeps or uses a prompt's KV cache: only where the prompt fits in the model's sliding
        window (Gemma 3: 512 tokens), since a cropped sliding-window cache cannot be prefilled again past it (the
        answer may run past the window: decoding then goes on as without reuse)."""
        return self.options.reuse_prefix and (self.sliding_window is None or len(prompt) < self.sliding_window)

    def _prompt_cache(self, prompt: list[int]) -> tuple[Any, int]:
        """A KV cache holding the longest prefix this prompt shares with the last one (the system prompt, for
        posts of one schema), and how many prompt tokens it holds; an empty cache and 0 when none is shared."""
        from transformers import DynamicCache

        if self._reuses_prefix(prompt) and self._last_prompt is not None:
            last, last_cache = self._last_prompt
            shared = 0
            for a, b in zip(last, prompt[:-1]):  # the prompt's last token is always run, for its logits
                if a != b:
                    break
                shared += 1
            if shared >= 16:
                cache = copy.deepcopy(last_cache)
                cache.crop(-(len(last) - shared))
                return cache, shared
        cache = DynamicCache(config=self.model.config)
        cache.activate_past_recording()  # sliding-window layers keep what a rejected draft must be cropped back to
        return cache, 0

    @torch.inference_mode()
    def decode(self, input_ids: torch.Tensor, prompt_text: str, max_new_tokens: int) -> DecodedAnswer:
        started = time.perf_counter()
        prompt = input_ids[0].tolist()
        input_ids = input_ids.to(self.device)
        trimmed = None
        if self.vocabulary is not None:
            allowed = self.vocabulary.for_prompt(prompt, prompt_text).to(self.device)
            trimmed = _TrimmedHead(allowed, self.head.weight[allowed], frozenset(allowed.tolist()))
        cache, cached_tokens = self._prompt_cache(prompt)
        hidden = self.body(input_ids=input_ids[:, cached_tokens:], past_key_values=cache,
                           use_cache=True).last_hidden_state[:, -1:]
        self._last_prompt = (prompt, copy.deepcopy(cache)) if self._reuses_prefix(prompt) else None
        passes, full_steps = 1, 0
        best, used_full = self._next_tokens(hidden, trimmed)
        full_steps += used_full
        prefill_s = time.perf_counter() - started
        answer = [best[0]]
        while len(answer) < max_new_tokens and not self._stopped(answer):
            draft = prompt_lookup_draft(prompt + answer, self.options.max_ngram, self.options.draft_tokens) \
                if self.options.draft_tokens else []
            draft = draft[:max_new_tokens - len(answer) - 1]
            step = torch.tensor([[answer[-1], *draft]], dtype=torch.long, device=self.device)
            hidden = self.body(input_ids=step, past_key_values=cache, use_cache=True).last_hidden_state
            passes += 1
            predicted, used_full = self._next_tokens(hidden, trimmed)
            full_steps += used_full
            accepted = 0
            while accepted < len(draft) and draft[accepted] == predicted[accepted]:
                accepted += 1
            new = predicted[:accepted + 1]
            for token in new:  # stop inside an accepted draft as plain decoding would
                answer.append(token)
                if len(answer) >= max_new_tokens or self._stopped(answer):
                    break
            cache.crop(-(len(draft) - accepted))  # every pass: sliding-window layers trim themselves here too
        return DecodedAnswer(answer, prefill_s, time.perf_counter() - started, passes, full_steps, cached_tokens)

    def _next_tokens(self, hidden: torch.Tensor, trimmed: _TrimmedHead | None) -> tuple[list[int], int]:
        """The greedy token after each position of ``hidden`` ``[1, positions, hidden]``, and how many positions
        needed the whole output layer.

        Trimmed: the best allowed token, unless its lead over the second is under ``fallback_margin``; there the
        whole layer is screened in bf16 (a quarter of the fp32 layer's memory traffic), and a token outside the
        trimmed set that the screen ranks first replaces the choice if its exact (fp32) logit is higher."""
        states = hidden[0]
        if trimmed is None:
            return self.head(states).argmax(-1).tolist(), 0
        top = (states @ trimmed.weight.T).topk(2, dim=-1)
        chosen = trimmed.ids[top.indices[:, 0]].tolist()
        margins = self._capped(top.values[:, 0]) - self._capped(top.values[:, 1])
        unsure = (margins < self.options.fallback_margin).nonzero().flatten().tolist()
        if unsure:
            screen = (states[unsure].to(torch.bfloat16) @ self._screen_weight.T).argmax(-1)
            for position, candidate in zip(unsure, screen.tolist()):
                if candidate in trimmed.id_set:
                    continue
                if float(states[position] @ self.head.weight[candidate]) > float(top.values[position, 0]):
                    chosen[position] = candidate
        return chosen, len(unsure)

    def _capped(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.tanh(logits / self.softcap) * self.softcap if self.softcap else logits

    def _stopped(self, answer: list[int]) -> bool:
        if answer[-1] in self.stop_ids:
            return True
        return self.stop_text in self.tokenizer.decode(answer[-8:], skip_special_tokens=False)
