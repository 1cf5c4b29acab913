"""Prompt-lookup drafts: what the fast text decoder proposes to check in one forward pass."""

from __future__ import annotations

from groundex.agent.backends.text_decoding import prompt_lookup_draft


def test_the_tokens_after_the_latest_match_of_the_longest_tail_are_proposed():
    #            0  1  2  3  4  5  6  7  8  9
    sequence = [5, 1, 2, 9, 9, 1, 2, 3, 4, 1, 2]
    # the tail (1, 2) last occurred at 5-6, followed by 3, 4, 1, 2
    assert prompt_lookup_draft(sequence, max_ngram=2, max_tokens=3) == [3, 4, 1]
    assert prompt_lookup_draft(sequence, max_ngram=2, max_tokens=10) == [3, 4, 1, 2]


def test_a_longer_match_wins_over_a_later_shorter_one():
    sequence = [7, 8, 9, 100, 3, 9, 200, 7, 8, 9]
    # (8, 9) matches at 1-2 (then 100); 9 alone matches later at 5 (then 200): the longer match is used
    assert prompt_lookup_draft(sequence, max_ngram=2, max_tokens=1) == [100]
    assert prompt_lookup_draft(sequence, max_ngram=1, max_tokens=1) == [200]


def test_no_earlier_occurrence_proposes_nothing():
    assert prompt_lookup_draft([1, 2, 3], max_ngram=3, max_tokens=4) == []
    assert prompt_lookup_draft([4], max_ngram=3, max_tokens=4) == []


def test_auto_weights_are_bf16_only_for_the_fast_text_decoder_on_a_cpu_with_native_bf16():
    import torch

    from groundex.agent.backends.precision import bf16_supported
    from groundex.agent.backends.transformers_backend import weight_dtype

    native = torch.cuda.is_available() or bf16_supported()
    assert weight_dtype("auto", fast_text=True) == (torch.bfloat16 if native else torch.float32)
    assert weight_dtype("auto", fast_text=False) == (torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    assert weight_dtype("float32", fast_text=True) == torch.float32
    assert weight_dtype("bfloat16", fast_text=False) == torch.bfloat16


def test_a_transformers_without_the_cache_rollback_is_refused_in_one_line(monkeypatch):
    import pytest
    import transformers
    from transformers.cache_utils import Cache

    from groundex.agent.backends.text_decoding import check_cache_api
    from groundex.tools.base import ToolSetupError

    check_cache_api()  # the installed one has it
    monkeypatch.delattr(Cache, "activate_past_recording")  # as in transformers < 5.15
    monkeypatch.setattr(transformers, "__version__", "4.57.0")
    with pytest.raises(ToolSetupError, match=r"needs transformers >= 5.15 \(installed: 4.57.0\).*fast_decoding = false"):
        check_cache_api()
