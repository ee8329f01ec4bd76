"""Pure functions of the interventions on hand-made tensors: entropy, top-k heads, exposure, positions."""

from __future__ import annotations

import math

import pydantic
import pytest
import torch

from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions import (
    InterventionSpec,
    apply_exposure,
    attention_entropy,
    attention_l2,
    authors_exposure,
    key_positions,
    lowest_score_mask,
    needle_key_mask,
    topk_head_mask,
)


def test_entropy_of_uniform_row_is_log_n() -> None:
    for n in (1, 2, 7, 100):
        probs = torch.full((n,), 1.0 / n)
        assert attention_entropy(probs).item() == pytest.approx(math.log(n), abs=1e-6)


def test_entropy_of_one_hot_is_zero_and_ignores_zero_probabilities() -> None:
    probs = torch.tensor([0.0, 1.0, 0.0])
    assert attention_entropy(probs).item() == 0.0
    assert attention_entropy(torch.tensor([0.5, 0.5, 0.0])).item() == pytest.approx(math.log(2))


def _probs_for_heads() -> torch.Tensor:
    # [b=1, h=4, q=2, k=4]; query 0: head 2 one-hot, head 0 peaked, heads 1/3 uniform-ish;
    # query 1: head 3 one-hot, head 1 peaked, head 0 uniform, head 2 in between.
    uniform = [0.25, 0.25, 0.25, 0.25]
    peaked = [0.85, 0.05, 0.05, 0.05]
    middle = [0.5, 0.5, 0.0, 0.0]
    one_hot = [0.0, 0.0, 1.0, 0.0]
    q0 = [peaked, uniform, one_hot, [0.4, 0.2, 0.2, 0.2]]
    q1 = [uniform, peaked, middle, one_hot]
    return torch.tensor([[[q0[h], q1[h]] for h in range(4)]])


def test_topk_mask_keeps_lowest_entropy_heads_per_query() -> None:
    entropy = attention_entropy(_probs_for_heads())  # [1, 4, 2]
    kept = topk_head_mask(entropy, 2)
    assert kept.shape == (1, 4, 2)
    assert kept[0, :, 0].tolist() == [True, False, True, False]  # one-hot head 2, peaked head 0
    assert kept[0, :, 1].tolist() == [False, True, False, True]  # one-hot head 3, peaked head 1
    assert kept.sum(dim=1).tolist() == [[2, 2]]


def test_topk_mask_k_all_and_k_zero() -> None:
    entropy = attention_entropy(_probs_for_heads())
    assert topk_head_mask(entropy, 4).all()
    assert not topk_head_mask(entropy, 0).any()
    with pytest.raises(InterventionError, match="k=5"):
        topk_head_mask(entropy, 5)


def test_topk_ties_go_to_lower_head_index() -> None:
    entropy = torch.zeros(1, 4, 1)  # all heads tie
    assert topk_head_mask(entropy, 2)[0, :, 0].tolist() == [True, True, False, False]
    assert lowest_score_mask(torch.tensor([[0.3, 0.1, 0.1, 0.2]]), 2)[0].tolist() == [
        False,
        True,
        True,
        False,
    ]


def test_omit_zeroes_exactly_the_needle_columns() -> None:
    probs = torch.rand(2, 3, 4, 6)
    needle = torch.tensor(
        [[False, True, True, False, False, False], [False, False, False, False, False, True]]
    )
    out = apply_exposure(probs, needle, "omit")
    for row in range(2):
        assert (out[row][..., needle[row]] == 0).all()
        assert torch.equal(out[row][..., ~needle[row]], probs[row][..., ~needle[row]])


def test_only_null_balanced_keep() -> None:
    probs = torch.tensor([[[[0.1, 0.2, 0.3, 0.4]]]])
    needle = torch.tensor([[False, True, True, False]])
    assert torch.equal(apply_exposure(probs, needle, "keep"), probs)
    assert apply_exposure(probs, needle, "only").flatten().tolist() == pytest.approx([0, 0.2, 0.3, 0])
    assert not apply_exposure(probs, needle, "null").any()
    balanced = apply_exposure(probs, needle, "balanced").flatten().tolist()
    assert balanced == pytest.approx([0, 0.25, 0.25, 0])  # needle mass 0.5 spread over 2 needle keys
    # a needle key the mask hides gets nothing; the mass goes to the visible needle key
    visible = torch.tensor([True, True, False, True])[None, None, None, :]
    hidden = apply_exposure(probs, needle, "balanced", visible).flatten().tolist()
    assert hidden == pytest.approx([0, 0.5, 0, 0])
    with pytest.raises(InterventionError, match="bogus"):
        apply_exposure(probs, needle, "bogus")


def test_authors_balanced_is_one_head_mean_scalar_for_every_head() -> None:
    # two heads, one query: head 0 puts 0.5 on the needle, head 1 puts 0.1
    probs = torch.tensor([[[[0.1, 0.2, 0.3, 0.4]], [[0.8, 0.05, 0.05, 0.1]]]])
    needle = torch.tensor([[False, True, True, False]])
    needle_sum = probs.masked_fill(~needle[:, None, None, :], 0).sum(dim=(1, 2, 3))
    out = authors_exposure(probs, needle, "balanced", None, needle_sum)
    # (0.5 + 0.1) / 2 heads / 2 needle keys = 0.15 on every needle key of both heads, 0 elsewhere
    assert out[0, 0, 0].tolist() == pytest.approx([0, 0.15, 0.15, 0])
    assert out[0, 1, 0].tolist() == pytest.approx([0, 0.15, 0.15, 0])
    # ours keeps each head's own mass: it differs, so the rule is a real choice
    ours = apply_exposure(probs, needle, "balanced")
    assert ours[0, 0, 0].tolist() == pytest.approx([0, 0.25, 0.25, 0])
    assert not torch.allclose(ours, out)


def test_authors_exposure_leaves_a_row_without_a_visible_needle_key_unchanged() -> None:
    probs = torch.tensor([[[[0.1, 0.2, 0.3, 0.4]]], [[[0.25, 0.25, 0.25, 0.25]]]])
    needle = torch.tensor([[True, False, False, False], [True, False, False, False]])
    # row 0: the needle key is outside the window (masked); row 1: visible
    visible = torch.tensor([[False, True, True, True], [True, True, True, True]])[:, None, None, :]
    zero = torch.zeros(2)
    for mode in ("null", "only", "balanced", "omit"):
        out = authors_exposure(probs, needle, mode, visible, zero)
        assert torch.equal(out[0], probs[0]), mode  # their `if not token_indices: return probs`
    assert not authors_exposure(probs, needle, "null", visible, zero)[1].any()
    # ours zeroes the row although no needle key is reachable
    assert not apply_exposure(probs, needle, "null", visible)[0].any()


def test_l2_score_prefers_peaked_heads() -> None:
    uniform = torch.full((4,), 0.25)
    peaked = torch.tensor([0.97, 0.01, 0.01, 0.01])
    assert attention_l2(peaked) > attention_l2(uniform)
    assert attention_l2(uniform).item() == pytest.approx(0.5)
    # where the two scores disagree: head 0 has the higher L2 norm, head 1 the lower entropy
    probs = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.5, 0.5, 0.0, 0.0]])[None, :, None, :]  # [b, h, q, k]
    assert topk_head_mask(attention_entropy(probs), 1)[0, :, 0].tolist() == [False, True]
    assert topk_head_mask(-attention_l2(probs), 1)[0, :, 0].tolist() == [True, False]


def test_key_positions_for_caches() -> None:
    # no cache / full dynamic cache: keys are positions 0..n-1
    assert key_positions(0, 7, 7).tolist() == list(range(7))
    assert key_positions(7, 1, 8).tolist() == list(range(8))
    # sliding-window cache (RecurrentGemma, window 4): 7 cached tokens, one new -> positions 4..7
    assert key_positions(7, 1, 4).tolist() == [4, 5, 6, 7]
    # static buffer larger than the sequence so far: key index == position (unused slots are masked)
    assert key_positions(3, 1, 10).tolist() == list(range(10))


def test_needle_key_mask_per_row() -> None:
    positions = torch.tensor([4, 5, 6, 7])
    mask = needle_key_mask([[(5, 7)], [(0, 2), (7, 9)]], positions)
    assert mask.tolist() == [[False, True, True, False], [False, False, False, True]]


def test_spec_hash_label_fields() -> None:
    spec = InterventionSpec(kind="entropy_topk", k=2)
    assert spec.label() == "entropy-top-2-generation"
    assert len(spec.spec_hash()) == 12
    assert spec.spec_hash() == InterventionSpec(kind="entropy_topk", k=2).spec_hash()
    assert spec.spec_hash() != InterventionSpec(kind="entropy_topk", k=3).spec_hash()
    assert InterventionSpec(kind="none").label() == "baseline"
    assert InterventionSpec(kind="entropy_topk", k=0, phase="all").label() == "entropy-top-0-all"
    exposure = InterventionSpec(kind="none", generation_mode="omit", prefill_mode="follow")
    assert exposure.label() == "exposure-gen-omit-prefill-follow"
    assert (
        InterventionSpec(kind="mixer_ablation", layers=(2, 0)).label() == "ablate-mixer-layers-0-2-generation"
    )
    # layer order does not change the hash
    assert (
        InterventionSpec(kind="layer_ablation", layers=(3, 1)).spec_hash()
        == InterventionSpec(kind="layer_ablation", layers=(1, 3)).spec_hash()
    )
    fields = spec.fields()
    assert fields == {
        "condition": "entropy-top-2-generation",
        "intervention_hash": spec.spec_hash(),
        "kind": "entropy_topk",
        "k": 2,
        "phase": "generation",
        "generation_mode": "keep",
        "prefill_mode": "keep",
        "exposure_rule": "authors",
        "head_score": "entropy",
        "spec_seed": 0,
    }
    l2 = InterventionSpec(kind="entropy_topk", k=2, head_score="l2")
    assert l2.label() == "l2-top-2-generation" and l2.spec_hash() != spec.spec_hash()
    ours = InterventionSpec(kind="none", generation_mode="balanced", exposure_rule="per_head_causal")
    assert ours.label() == "exposure-gen-balanced-prefill-keep-per-head-causal"
    labels = {InterventionSpec(kind="random_k", k=1, seed=s).label() for s in range(3)} | {
        InterventionSpec(kind="static_heads", heads=((1, 0),)).label()
    }
    assert len(labels) == 4 and all(label == label.lower() and "_" not in label for label in labels)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "entropy_topk"}, "needs 'k'"),
        ({"kind": "none", "k": 2}, "no meaning"),
        ({"kind": "layer_ablation", "layers": ()}, "at least one"),
        ({"kind": "static_heads", "heads": ((1, 0), (1, 0))}, "duplicate"),
        ({"kind": "entropy_topk", "k": 1, "phase": "prefill"}, "phase"),
        ({"kind": "typo"}, "kind"),
    ],
)
def test_spec_rejects_inconsistent_fields(kwargs: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        InterventionSpec(**kwargs)


def test_spec_is_frozen() -> None:
    spec = InterventionSpec(kind="entropy_topk", k=2)
    with pytest.raises(pydantic.ValidationError):
        spec.k = 3  # type: ignore[misc]
