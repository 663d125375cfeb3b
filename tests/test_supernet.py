"""Weight-sharing supernets: crops, extraction, BN recalibration, supernet training, evaluators."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from bnnlib import flops, models, supernet
from bnnlib.bn import fixed_subset, recalibrate_bn
from bnnlib.dynamic import DynamicGroupConv2d, block_diagonal_crop, block_diagonal_dense
from bnnlib.evaluators import FinetuneEvaluator, OneShotEvaluator
from bnnlib.layers import QuantConv2d
from bnnlib.train import Recipe

SMALL = {  # tiny versions of the five families, on 1x28x28 inputs
    "mobilenet_m1": {"width_mult": 0.25, "small_input": True},
    "mobilenet_m2": {"width_mult": 0.25, "small_input": True},
    "mobilenet_m3": {"width_mult": 0.25, "small_input": True},
    "vgg_small": {"width_mult": 0.0625},
    "resnet18": {"width_mult": 0.125, "small_input": True},
}


def _supernet(name):
    return supernet.build(name, num_classes=10, in_channels=1, **SMALL[name])


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


# ---- the block-diagonal crop ----------------------------------------------------------------

@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_crop_equals_grouped_conv_holding_the_crop(groups):
    dyn = DynamicGroupConv2d(8, 8, 3, 1, 1, input_quantizer="approx_sign", kernel_quantizer="xnor")
    dyn.active_groups = groups
    static = QuantConv2d(8, 8, 3, 1, 1, groups, input_quantizer="approx_sign", kernel_quantizer="xnor")
    with torch.no_grad():
        static.weight.copy_(block_diagonal_crop(dyn.weight, groups))
    x = torch.randn(2, 8, 6, 6)
    assert torch.allclose(dyn(x), static(x), atol=1e-5)
    # and by hand: output channel o of group i uses W[o, i*C/g:(i+1)*C/g]
    w = block_diagonal_crop(dyn.weight, groups)
    c = 8 // groups
    for o in range(8):
        i = o // c
        assert torch.equal(w[o], dyn.weight[o, i * c:(i + 1) * c])


@pytest.mark.parametrize("groups", [2, 4])
def test_crop_equals_dense_conv_with_block_diagonal_mask(groups):
    dyn = DynamicGroupConv2d(8, 16, 3, 2, 1, input_quantizer=None, kernel_quantizer=None)
    dyn.active_groups = groups
    mask = torch.zeros(16, 8, 1, 1)
    for i in range(groups):
        mask[i * 16 // groups:(i + 1) * 16 // groups, i * 8 // groups:(i + 1) * 8 // groups] = 1
    x = torch.randn(2, 8, 7, 7)
    assert torch.allclose(dyn(x), F.conv2d(x, dyn.weight * mask, stride=2, padding=1), atol=1e-5)


@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_block_diagonal_dense_is_the_crop_on_the_diagonal(groups):
    full = torch.randn(16, 8, 3, 3)
    crop = block_diagonal_crop(full, groups)
    dense = block_diagonal_dense(crop, groups)
    assert dense.shape == full.shape
    co, ci = 16 // groups, 8 // groups
    for i in range(groups):  # the crop's block i on the diagonal, zeros beside it
        blk = dense[i * co:(i + 1) * co]
        assert torch.equal(blk[:, i * ci:(i + 1) * ci], full[i * co:(i + 1) * co, i * ci:(i + 1) * ci])
        assert not blk[:, :i * ci].any() and not blk[:, (i + 1) * ci:].any()
    assert torch.equal(block_diagonal_crop(dense, groups), crop)
    with pytest.raises(ValueError, match="groups=3 must divide C_out=16"):
        block_diagonal_dense(torch.randn(16, 2, 3, 3), 3)


@pytest.mark.parametrize("name", ["mobilenet_m1", "mobilenet_m3"])
def test_dense_groups_switch_gives_the_grouped_forward_and_gradients(name, monkeypatch):
    sn = _supernet(name)
    genome = sn.sample(np.random.default_rng(3))
    assert max(genome) > 1  # some layer grouped
    sn.set_genome(genome)
    sn.train()
    x = torch.randn(4, 1, 28, 28)

    def run():
        sn.zero_grad()
        out = sn(x)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in sn.parameters() if p.grad is not None]

    import bnnlib.dynamic as dynamic

    seen = []  # the groups of every conv the model runs
    conv2d = dynamic.F.conv2d
    monkeypatch.setattr(dynamic.F, "conv2d", lambda *a: seen.append(a[6]) or conv2d(*a))
    monkeypatch.delenv("BNNLIB_DENSE_GROUPS", raising=False)
    out, grads = run()
    assert max(seen) == max(genome)
    seen.clear()
    monkeypatch.setenv("BNNLIB_DENSE_GROUPS", "1")
    out_d, grads_d = run()
    assert set(seen) == {1}  # every grouped conv ran densely
    assert torch.allclose(out, out_d, atol=1e-4, rtol=1e-4)
    assert len(grads) == len(grads_d)
    for g, gd in zip(grads, grads_d, strict=True):  # the zeros off the diagonal get no update
        assert torch.allclose(g, gd, atol=1e-4, rtol=1e-3)


def test_xnor_scale_is_computed_on_the_crop():
    dyn = DynamicGroupConv2d(4, 4, 1, input_quantizer=None, kernel_quantizer="xnor")
    with torch.no_grad():
        dyn.weight.copy_(torch.tensor([[1., 9, 9, 9], [1, 1, 9, 9], [9, 9, 2, 2], [9, 9, 3, 1]]).view(4, 4, 1, 1))
    dyn.active_groups = 2
    x = torch.ones(1, 4, 1, 1)
    # crop rows [1, 9], [1, 1], [2, 2], [3, 1]; all signs +1, so output o = 2 * mean|row o|
    assert torch.allclose(dyn(x).flatten(), torch.tensor([5. * 2, 1 * 2, 2 * 2, 2 * 2]))


# ---- extraction ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SMALL))
def test_extract_equals_supernet_and_flops_match_direct_build(name):
    torch.manual_seed(0)
    sn = _supernet(name)
    rng = np.random.default_rng(1)
    x = torch.randn(8, 1, 28, 28)
    sn.train()
    for _ in range(3):  # give BN statistics something to hold
        sn.set_genome(sn.sample(rng))
        sn(x)
    for _ in range(3):
        genome = sn.sample(rng)
        sn.set_genome(genome)
        sn.eval()
        static = sn.extract(genome).eval()
        assert torch.allclose(sn(x), static(x), atol=1e-5)
        direct = models.build(name, **sn.model_kwargs(genome))
        assert type(direct) is type(static)
        ours, ref = flops.count(sn, (1, 28, 28)), flops.count(direct, (1, 28, 28))
        assert (ours.fp_macs, ours.binary_macs, ours.memory_bits) == (ref.fp_macs, ref.binary_macs, ref.memory_bits)
        assert sn.ops(genome, (1, 28, 28)) == ref.ops
        assert sn.genome == genome  # extract leaves the active genome alone


def test_choices_are_divisors_or_width_ratios():
    m1 = _supernet("mobilenet_m1")
    assert m1.choices[0] == [1, 2, 4, 8] and m1.choices[-1] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert len(_supernet("mobilenet_m2").choices) == 18
    assert _supernet("vgg_small").choices == [[0.25, 0.5, 1.0, 2.0, 3.0, 4.0]] * 6
    capped = supernet.build("mobilenet_m1", width_mult=0.25, max_groups=16)
    assert max(capped.choices[-1]) == 16


def test_sample_is_uniform_and_seeded():
    sn = _supernet("mobilenet_m1")
    a = [sn.sample(np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1]
    draws = np.array([sn.sample(np.random.default_rng(i))[0] for i in range(2000)])
    counts = np.array([(draws == c).sum() for c in sn.choices[0]])
    assert counts.min() > 400  # 4 choices, 500 expected each


def test_bad_genomes_and_keywords():
    sn = _supernet("mobilenet_m1")
    with pytest.raises(ValueError, match="needs 13 genes"):
        sn.set_genome([1] * 12)
    with pytest.raises(ValueError, match=r"gene 0 .* = 3 .*valid: \[1, 2, 4, 8\]"):
        sn.set_genome([3] + [1] * 12)
    with pytest.raises(ValueError, match="searched"):
        supernet.build("vgg_small", expansion=2)
    with pytest.raises(ValueError, match="known models"):
        supernet.build("alexnet")


@pytest.mark.parametrize("max_groups", [0, -2, True, 2.5, "4"], ids=repr)
def test_bad_max_groups_names_value_and_valid_range(max_groups):
    with pytest.raises(ValueError) as e:
        supernet.build("mobilenet_m1", width_mult=0.25, max_groups=max_groups)
    assert f"max_groups must be an int >= 1 or None (None = every divisor), got {max_groups!r}" in str(e.value)


BAD_WIDTH_CHOICES = [  # (width_choices, what the message must name)
    ([], "the list is empty"),
    ([0, 1, 2], "0 is not a finite number > 0"),
    ([1, -2], "-2 is not a finite number > 0"),
    ([1, float("inf")], "inf is not a finite number > 0"),
    ([float("nan"), 1], "nan is not a finite number > 0"),
    ([1, "2"], "'2' is not a finite number > 0"),
    ([True, 2], "True is not a finite number > 0"),
    ([1, 2, 1.0], "[1.0] repeated"),
    ("1234", "not a list"),
    (2.0, "not a list"),
]


@pytest.mark.parametrize("choices,problem", BAD_WIDTH_CHOICES, ids=[repr(c) for c, _ in BAD_WIDTH_CHOICES])
def test_bad_width_choices_name_the_bad_value(choices, problem):
    with pytest.raises(ValueError) as e:
        supernet.build("vgg_small", width_mult=0.0625, width_choices=choices)
    msg = str(e.value)
    assert "width_choices must be a non-empty list of distinct finite numbers > 0" in msg
    assert f"({problem}), got {choices!r}" in msg


# ---- build_kwargs ----------------------------------------------------------------------------

def test_build_kwargs_record_the_full_construction_as_json():
    sn = _supernet("mobilenet_m2")
    model = {"name": "mobilenet_m2", "num_classes": 10, "in_channels": 1, "binary": True,
             "act_quantizer": "approx_sign", "weight_quantizer": "xnor", "width_mult": 0.25,
             "small_input": True}
    assert sn.build_kwargs == {"supernet": "mobilenet_m2", "max_groups": None,
                               "width_choices": None, "model": model}
    capped = supernet.build("mobilenet_m2", max_groups=4, num_classes=10, in_channels=1,
                            **SMALL["mobilenet_m2"])
    assert capped.build_kwargs["max_groups"] == 4 and capped.build_kwargs != sn.build_kwargs
    vgg = supernet.build("vgg_small", width_choices=(4, 1, 0.5), max_groups=8, width_mult=0.0625)
    assert vgg.build_kwargs["width_choices"] == [0.5, 1.0, 4.0] and vgg.build_kwargs["max_groups"] is None
    assert vgg.build_kwargs["model"]["act_quantizer"] == "dorefa"
    assert "expansion" not in vgg.build_kwargs["model"]
    for kwargs in (sn.build_kwargs, vgg.build_kwargs):
        assert json.loads(json.dumps(kwargs)) == kwargs


def test_extracted_models_carry_build_kwargs():
    sn = _supernet("mobilenet_m1")
    genome = sn.sample(np.random.default_rng(0))
    static = sn.extract(genome)
    assert static.build_kwargs == models.build("mobilenet_m1", **sn.model_kwargs(genome)).build_kwargs
    assert static.build_kwargs["groups"] == list(genome)
    assert static.build_kwargs["act_quantizer"] == "approx_sign"


# ---- BN recalibration ------------------------------------------------------------------------

def test_recalibration_gives_the_cumulative_mean_and_variance_of_the_subset():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 3, 3, bias=False)
    bn = nn.BatchNorm2d(3)
    model = nn.Sequential(conv, bn).eval()
    data = _data(64)
    recalibrate_bn(model, data, num_images=32, batch_size=8, seed=3)
    xs = torch.stack([data[i][0] for i in fixed_subset(data, 32, 3).indices])
    with torch.no_grad():
        feats = conv(xs)
    assert torch.allclose(bn.running_mean, feats.mean(dim=(0, 2, 3)), atol=1e-5)
    # cumulative average of per-batch unbiased variances, batch by batch
    per_batch = torch.stack([conv(xs[i:i + 8]).detach().transpose(0, 1).reshape(3, -1).var(1) for i in range(0, 32, 8)])
    assert torch.allclose(bn.running_var, per_batch.mean(0), atol=1e-5)
    assert bn.momentum == 0.1 and not model.training


def test_group_conv_mode_decides_within_its_block_whatever_the_environment(monkeypatch):
    import bnnlib.dynamic as dynamic

    seen = []  # the groups of every conv the model runs
    conv2d = dynamic.F.conv2d
    monkeypatch.setattr(dynamic.F, "conv2d", lambda *a: seen.append(a[6]) or conv2d(*a))
    sn = _supernet("mobilenet_m1")
    genome = sn.sample(np.random.default_rng(3))
    sn.set_genome(genome)
    sn.eval()
    x = torch.randn(2, 1, 28, 28)
    monkeypatch.setenv("BNNLIB_DENSE_GROUPS", "1")
    with dynamic.group_conv("grouped"):
        sn(x)
        assert max(seen) == max(genome) > 1
        seen.clear()
        with dynamic.group_conv("dense"):
            sn(x)
            assert set(seen) == {1}
        seen.clear()
        sn(x)  # the outer block's mode is back
        assert max(seen) == max(genome)
    monkeypatch.delenv("BNNLIB_DENSE_GROUPS")
    seen.clear()
    with dynamic.group_conv("dense"):
        sn(x)
    assert set(seen) == {1}
    seen.clear()
    sn(x)  # outside any block the environment decides again: grouped
    assert max(seen) == max(genome)
    with pytest.raises(ValueError, match=r"group_conv='sparse'; valid: grouped, dense"):
        with dynamic.group_conv("sparse"):
            pass


def test_one_shot_scores_with_dense_convolutions_equal_the_grouped_ones(monkeypatch):
    """The evaluator's group_conv runs the candidates' grouped convolutions densely while it
    scores (and only then), with the same recalibrated statistics and the same top-1."""
    import bnnlib.dynamic as dynamic

    torch.manual_seed(0)
    sn = _supernet("mobilenet_m1")
    data = _data(96)
    genomes = [sn.sample(np.random.default_rng(i)) for i in range(3)]
    assert all(max(g) > 1 for g in genomes)
    grouped = OneShotEvaluator(sn, data, data, calib_images=32, val_images=64, batch_size=16)
    dense = OneShotEvaluator(sn, data, data, calib_images=32, val_images=64, batch_size=16,
                             group_conv="dense")
    seen = []
    conv2d = dynamic.F.conv2d
    monkeypatch.setattr(dynamic.F, "conv2d", lambda *a: seen.append(a[6]) or conv2d(*a))
    for g in genomes:
        seen.clear()
        score = grouped(g)
        stats = [m.running_var.clone() for m in sn.modules() if isinstance(m, nn.BatchNorm2d)]
        assert max(seen) == max(g)
        seen.clear()
        assert dense(g) == score
        assert set(seen) == {1}
        again = [m.running_var for m in sn.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(stats, again, strict=True))
    seen.clear()
    sn(torch.randn(2, 1, 28, 28))  # after scoring: grouped again
    assert max(seen) == max(genomes[-1])
    with pytest.raises(ValueError, match=r"group_conv='blocks'; valid: grouped, dense"):
        OneShotEvaluator(sn, data, data, group_conv="blocks")


def test_one_shot_scores_do_not_depend_on_what_was_scored_before():
    torch.manual_seed(0)
    sn = _supernet("mobilenet_m1")
    data = _data(96)
    ev = OneShotEvaluator(sn, data, data, calib_images=32, val_images=48, batch_size=16)
    g1, g2 = sn.sample(np.random.default_rng(0)), sn.sample(np.random.default_rng(1))
    first = ev(g1)
    ev(g2)
    assert ev(g1) == first and ev.evaluations == 3


def test_finetune_evaluator_trains_the_extracted_candidate_only():
    torch.manual_seed(0)
    sn = _supernet("vgg_small")
    before = {k: v.clone() for k, v in sn.state_dict().items()}
    ev = FinetuneEvaluator(sn, _data(32), _data(32, 1), epochs=1, batch_size=16, calib_images=16)
    acc = ev((0.25, 0.5, 1.0, 1.0, 2.0, 4.0))
    assert 0.0 <= acc <= 1.0
    assert all(torch.equal(before[k], v) for k, v in sn.state_dict().items())
    assert FinetuneEvaluator(sn, _data(32), _data(32, 1), epochs=0, calib_images=16)((1.0,) * 6) >= 0


# ---- supernet training -----------------------------------------------------------------------

def test_supernet_training_samples_a_genome_per_step_and_is_reproducible(tmp_path):
    runs = []
    for run in range(2):
        torch.manual_seed(0)
        sn = _supernet("mobilenet_m3")
        seen = []
        orig = sn.set_genome
        sn.set_genome = lambda g, orig=orig, seen=seen: (seen.append(tuple(g)), orig(g))[1]
        supernet.train_supernet(sn, _data(64), _data(32, 1), seed=7,
                                recipe=Recipe(epochs=1, batch_size=16),
                                progress=False, out_dir=tmp_path / f"r{run}", log_metrics=False)
        runs.append((seen, {k: v.clone() for k, v in sn.state_dict().items()}))
        assert sn.eval_genome is None
    seen = runs[0][0]
    sampled = [g for g in seen if g != _supernet("mobilenet_m3").largest]
    assert len(set(sampled)) >= 3  # a new random genome at (almost) every one of the 4 steps
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


@pytest.mark.parametrize("name, kwargs, size", [
    ("mobilenet_m1", {"width_mult": 0.25}, (1, 28, 28)),
    ("mobilenet_m2", {"width_mult": 0.25, "small_input": True}, (1, 28, 28)),
    ("mobilenet_m3", {"width_mult": 0.25}, (3, 32, 32)),
    ("vgg_small", {"width_mult": 0.0625}, (1, 28, 28)),
    ("resnet18", {"width_mult": 0.0625, "small_input": True}, (1, 28, 28)),
    ("resnet18", {"width_mult": 0.0625}, (3, 64, 64)),
])
def test_fast_ops_equal_a_full_count_for_random_genomes(name, kwargs, size):
    """Supernet.ops and static_ops count one model with hooks, then every other genome from
    its layers' configurations: the OPs equal a hooked count of each static model exactly."""
    from bnnlib.supernet import _meta_model, static_ops

    sn = supernet.build(name, num_classes=10, in_channels=size[0], **kwargs)
    rng = np.random.default_rng(7)
    genomes = [sn.sample(rng) for _ in range(12)]
    genomes += [[c[0] for c in sn.choices], [c[-1] for c in sn.choices]]  # both ends
    for genome in genomes:
        expected = flops.count(_meta_model(name, **sn.model_kwargs(genome)), size).ops
        assert sn.ops(genome, size) == expected, genome
        assert static_ops(name, size, **sn.model_kwargs(genome)) == expected, genome
    assert len(sn._shapes[tuple(size)]) > 0


def test_static_ops_share_counts_only_within_a_layout():
    """Models that differ in genome or binary share one hooked count; a stem (small_input), a
    width or an input size of its own is a layout of its own: each equals a hooked count."""
    from bnnlib.supernet import _LAYOUT_SHAPES, _meta_model, static_ops

    cases = [("resnet18", (1, 32, 32), {"width_mult": 0.0625, "small_input": s, "expansion": e,
                                        "binary": b})
             for s in (True, False) for e in (1.0, 2.0) for b in (True, False)]
    cases += [("mobilenet_m1", size, {"width_mult": w, "groups": g, "binary": b})
              for size in ((1, 28, 28), (1, 32, 32)) for w in (0.25, 0.5) for g in (1, 4)
              for b in (True, False)]
    _LAYOUT_SHAPES.clear()
    for name, size, kwargs in cases:
        expected = flops.count(_meta_model(name, num_classes=10, in_channels=1, **kwargs), size).ops
        assert static_ops(name, size, num_classes=10, in_channels=1, **kwargs) == expected, kwargs
    assert len(_LAYOUT_SHAPES) == 2 + 4  # resnet18: 2 stems; M1: 2 sizes x 2 widths
