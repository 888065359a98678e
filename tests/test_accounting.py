"""Exact N and the default token-counting rules (torch only, no Trainer)."""
from collections import UserDict

import pytest
import torch
from torch import nn

from scaling_callback.tracking.accounting import TokenCounter, non_embedding_params, tokens_in_batch
from tiny_models import TinyGPT, expected_params


@pytest.mark.parametrize("tied", [True, False])
def test_exact_n_tiny_gpt(tied):
    model = TinyGPT(vocab=32, d_model=16, n_layer=2, n_ctx=16, tied=tied)
    n, total = expected_params(vocab=32, d_model=16, n_layer=2, n_ctx=16, tied=tied)
    assert non_embedding_params(model) == n
    assert non_embedding_params(model, convention="total") == total


def test_tied_head_counted_once_and_excluded():
    tied, untied = TinyGPT(tied=True), TinyGPT(tied=False)
    # untying adds exactly the head matrix to Kaplan's N and to the total
    assert non_embedding_params(untied) - non_embedding_params(tied) == 32 * 16
    assert (non_embedding_params(untied, "total") - non_embedding_params(tied, "total")) == 32 * 16


def test_tie_through_a_second_parameter_object_sharing_storage():
    model = TinyGPT(tied=False)
    model.head.weight = nn.Parameter(model.tok.weight.data)  # same memory, another Parameter
    assert non_embedding_params(model) == expected_params(tied=True)[0]
    assert non_embedding_params(model, "total") == expected_params(tied=True)[1]


def test_shared_block_counted_once():
    block = nn.Linear(4, 4)
    model = nn.Sequential(block, nn.ReLU(), block)
    assert non_embedding_params(model) == 20


def test_meta_device_counts_by_identity():
    with torch.device("meta"):
        model = TinyGPT(tied=True)
    assert non_embedding_params(model) == expected_params(tied=True)[0]


def test_bad_models_raise():
    with pytest.raises(ValueError, match="no parameters"):
        non_embedding_params(nn.ReLU())
    with pytest.raises(ValueError, match="only embedding"):
        non_embedding_params(nn.Embedding(10, 4))
    assert non_embedding_params(nn.Embedding(10, 4), "total") == 40
    with pytest.raises(ValueError, match="unknown convention"):
        non_embedding_params(nn.Linear(2, 2), convention="chinchilla")
    with pytest.raises(ValueError, match="not initialised"):
        non_embedding_params(nn.LazyLinear(3))


def test_default_rules():
    ids = torch.randint(0, 9, (4, 7))
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[0, 3:] = 0
    assert tokens_in_batch(ids) == 28
    assert isinstance(tokens_in_batch(ids), int)
    counted = tokens_in_batch({"input_ids": ids, "attention_mask": mask})
    assert isinstance(counted, torch.Tensor) and int(counted) == 24  # padding is not a token
    assert tokens_in_batch({"input_ids": ids, "attention_mask": mask.bool()}).item() == 24
    assert tokens_in_batch({"input_ids": ids}) == 28
    assert tokens_in_batch(UserDict(input_ids=ids)) == 28  # e.g. transformers' BatchEncoding
    assert tokens_in_batch((ids, ids.clone())) == 28
    assert tokens_in_batch([{"input_ids": ids, "attention_mask": mask}]).item() == 24


@pytest.mark.parametrize("batch", [
    torch.randn(4, 7),  # float: not token ids
    {"tokens": torch.zeros(2, 3, dtype=torch.long)},
    {"input_ids": torch.zeros(2, 3, dtype=torch.long), "attention_mask": [[1, 1, 0]]},
    "some text",
    (),
    None,
])
def test_uncountable_batch_names_the_fix(batch):
    with pytest.raises(TypeError, match="tokens_in_batch="):
        tokens_in_batch(batch)


def test_counter_mixes_host_ints_and_device_tensors():
    counter = TokenCounter()
    counter.add_batch(torch.zeros(2, 5, dtype=torch.long))
    counter.add_batch({"input_ids": torch.zeros(2, 5, dtype=torch.long),
                       "attention_mask": torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])})
    counter.add(torch.tensor(3, dtype=torch.int32))  # any integer dtype joins the int64 count
    assert counter.read() == 10 + 8 + 3
    assert counter.read(all_reduce_sum=lambda t: t * 2) == 42  # what a 2-rank sum of equal counts gives
    counter.reset()
    assert counter.read() == 0


def test_counter_user_function_results_checked():
    assert TokenCounter(lambda b: 7).read() == 0
    counter = TokenCounter(lambda b: b)
    counter.add_batch(5)
    counter.add_batch(6.0)
    assert counter.read() == 11
    for bad in (-1, 2.5, "3", True, torch.ones(2)):
        with pytest.raises(ValueError):
            counter.add_batch(bad)
    counter.add_batch(torch.tensor(-20))  # a device tensor is not read per step...
    with pytest.raises(ValueError, match="negative"):
        counter.read()  # ...so the negative total is caught when read


@pytest.mark.parametrize("bad, says", [
    (torch.tensor(12.7), "float32 tensor"),  # was rounded to 13
    (torch.tensor(12.0, dtype=torch.float64), "float64 tensor"),  # whole, but still not an integer count
    (torch.tensor(True), "bool tensor"),  # was counted as 1
    (torch.tensor(8 + 1j), "complex64 tensor"),  # was counted as 8
    (torch.tensor(5, device="meta"), "meta device"),  # was a RuntimeError when read
])
def test_counter_refuses_tensors_that_are_not_integer_counts(bad, says):
    counter = TokenCounter(lambda b: bad)
    with pytest.raises(ValueError, match=says):
        counter.add_batch(None)
    assert counter.read() == 0  # nothing was added


def test_float_attention_mask_counts_its_ones_as_an_integer():
    ids = torch.zeros(2, 3, dtype=torch.long)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    counted = tokens_in_batch({"input_ids": ids, "attention_mask": mask})
    assert counted.dtype == torch.int64 and counted.item() == 3
    counter = TokenCounter()
    counter.add_batch({"input_ids": ids, "attention_mask": mask})
    assert counter.read() == 3
