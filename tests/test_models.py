"""Every model builds and runs on 1x28x28, 3x32x32 and 3x224x224; bad genomes fail clearly."""

import inspect
import json

import numpy as np
import pytest
import torch

from bnnlib import models
from bnnlib.layers import QuantConv2d

NAMES = list(models.MODELS)
SIZES = [(1, 28, 28), (3, 32, 32), (3, 224, 224)]


def _small(name):
    # reduced widths keep the 224x224 forward passes cheap on a CPU
    return {"expansion": 0.25} if name in models.EXPANSION_MODELS else {"width_mult": 0.25, "groups": 2}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "real"])
def test_forward_shapes(name, size, binary):
    model = models.build(name, num_classes=7, in_channels=size[0], binary=binary, **_small(name))
    out = model(torch.randn(2, *size))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_m1", "mobilenet_m2", "mobilenet_m3"])
@pytest.mark.parametrize("size", SIZES[:2], ids=lambda s: "x".join(map(str, s)))
def test_small_input_stem(name, size):
    model = models.build(name, num_classes=10, in_channels=size[0], small_input=True, **_small(name))
    assert model(torch.randn(2, *size)).shape == (2, 10)


def test_full_width_models_at_paper_input():
    for name in NAMES:
        size = 32 if name == "vgg_small" else 224
        model = models.build(name, num_classes=10)
        assert model(torch.randn(1, 3, size, size)).shape == (1, 10)


def test_backward_reaches_every_parameter():
    for name in NAMES:
        kw = _small(name) if name == "vgg_small" else {**_small(name), "small_input": True}
        model = models.build(name, num_classes=10, in_channels=1, **kw)
        model(torch.randn(4, 1, 28, 28)).logsumexp(1).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
        assert not missing, f"{name}: no gradient for {missing}"


def test_first_and_last_layers_stay_real_and_family_binarizers_are_used():
    vgg = models.build("vgg_small")
    convs = [m for m in vgg.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not isinstance(convs[0], QuantConv2d)
    assert all(c.input_quantizer == "dorefa" and c.kernel_quantizer == "dorefa" for c in convs[1:])
    m1 = models.build("mobilenet_m1")
    q = [m for m in m1.modules() if isinstance(m, QuantConv2d)]
    assert len(q) == 26 and all(c.input_quantizer == "approx_sign" and c.kernel_quantizer == "xnor" for c in q)
    real = [m for m in m1.modules() if type(m) is torch.nn.Conv2d]
    assert len(real) == 1 + 5  # stem + five real 1x1 convs
    m3 = models.build("mobilenet_m3")
    assert len([m for m in m3.modules() if type(m) is torch.nn.Conv2d]) == 1
    override = models.build("vgg_small", act_quantizer="ste_sign", weight_quantizer="xnor")
    assert all(c.input_quantizer == "ste_sign" for c in override.modules() if isinstance(c, QuantConv2d))


def test_genomes_set_the_layers():
    groups = [1, 2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 32, 64]
    m = models.build("mobilenet_m2", groups=groups, real_groups=[1, 2, 4, 8, 16])
    assert [b.conv3.groups for b in m.blocks] == groups
    assert [b.real1.groups for b in m.blocks if hasattr(b, "real1")] == [1, 2, 4, 8, 16]
    ratios = [0.25, 0.5, 1, 2, 3, 4]
    vgg = models.build("vgg_small", expansion=ratios)
    assert vgg.widths == [32, 64, 256, 512, 1536, 2048]
    r = models.build("resnet18", expansion=[0.5] + [1] * 11)
    assert r.blocks[0].conv2.out_channels == 32 and r.blocks[0].conv1.out_channels == 64
    assert r.blocks[2].conv1.in_channels == 32 and r.blocks[2].shortcut[0].in_channels == 32
    assert len(models.gene_names("resnet18")) == 12 and len(models.gene_names("mobilenet_m2")) == 18


# ---- bad input -----------------------------------------------------------------------------

def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError) as e:
        models.build("mobilenet_v2")
    for name in NAMES:
        assert name in str(e.value)


def test_group_count_not_dividing_names_layer_channels_and_divisors():
    groups = [1] * 13
    groups[4] = 3  # block 5 has 256 input channels
    with pytest.raises(ValueError) as e:
        models.build("mobilenet_m1", groups=groups)
    msg = str(e.value)
    assert "block 5" in msg and "256" in msg and "[1, 2, 4, 8, 16, 32, 64, 128, 256]" in msg
    with pytest.raises(ValueError, match=r"block 1 real 1x1 conv.*valid divisors"):
        models.build("mobilenet_m2", real_groups=[3, 1, 1, 1, 1])


@pytest.mark.parametrize("name,kw,n", [
    ("vgg_small", {"expansion": [1, 2, 3]}, 6),
    ("resnet18", {"expansion": [1] * 13}, 12),
    ("mobilenet_m1", {"groups": [1] * 12}, 13),
    ("mobilenet_m2", {"real_groups": [1] * 4}, 5),
])
def test_wrong_genome_length_states_expected_length_and_positions(name, kw, n):
    with pytest.raises(ValueError) as e:
        models.build(name, **kw)
    msg = str(e.value)
    assert f"needs {n} values" in msg and "[0]" in msg and f"[{n - 1}]" in msg


def test_other_bad_keywords():
    with pytest.raises(ValueError, match="only to mobilenet_m2"):
        models.build("mobilenet_m1", real_groups=2)
    with pytest.raises(ValueError, match="expansion"):
        models.build("vgg_small", groups=2)
    with pytest.raises(ValueError, match="groups"):
        models.build("mobilenet_m3", expansion=2)
    with pytest.raises(ValueError, match="> 0"):
        models.build("vgg_small", expansion=0)


BAD_GROUPS = [  # (model, keyword, value, the bad element, the layer it sets)
    ("mobilenet_m1", "groups", True, True, "block 1 binary 3x3 conv"),
    ("mobilenet_m1", "groups", "4", "4", "block 1 binary 3x3 conv"),
    ("mobilenet_m3", "groups", [1] * 12 + [True], True, "block 13 binary 3x3 conv"),
    ("mobilenet_m1", "groups", [1, "2"] + [1] * 11, "2", "block 2 binary 3x3 conv"),
    ("mobilenet_m2", "groups", [1] * 4 + [2.0] + [1] * 8, 2.0, "block 5 binary 3x3 conv"),
    ("mobilenet_m2", "real_groups", True, True, "block 1 real 1x1 conv"),
    ("mobilenet_m2", "real_groups", "4", "4", "block 1 real 1x1 conv"),
    ("mobilenet_m2", "real_groups", [1, 1, 4.0, 1, 1], 4.0, "block 4 real 1x1 conv"),
]


@pytest.mark.parametrize("name,key,value,bad,layer", BAD_GROUPS,
                         ids=[f"{t[0]}-{t[1]}={t[2]!r}" for t in BAD_GROUPS])
def test_group_count_of_wrong_type_names_parameter_layer_and_divisors(name, key, value, bad, layer):
    with pytest.raises(ValueError) as e:
        models.build(name, width_mult=0.25, **{key: value})
    msg = str(e.value)
    assert f"{layer}: {key}={bad!r} is not a positive int dividing" in msg
    assert "valid divisors: [1, 2, 4, 8" in msg


@pytest.mark.parametrize("name,expansion,gene,bad", [
    ("vgg_small", float("inf"), 0, "inf"),
    ("vgg_small", float("nan"), 0, "nan"),
    ("vgg_small", "1.0", 0, "'1.0'"),  # a str is one (bad) scalar, not three genes
    ("vgg_small", [1, 1, "2", 1, 1, 1], 2, "'2'"),
    ("vgg_small", True, 0, "True"),
    ("vgg_small", 0, 0, "0"),
    ("resnet18", -1, 0, "-1"),
    ("resnet18", [1.0] * 11 + [-0.5], 11, "-0.5"),
    ("resnet18", [1.0] * 5 + [float("inf")] + [1.0] * 6, 5, "inf"),
    ("resnet18", [1.0] * 3 + [None] + [1.0] * 8, 3, "None"),
])
def test_bad_expansion_names_parameter_gene_and_valid_range(name, expansion, gene, bad):
    genes = models.gene_names(name)
    with pytest.raises(ValueError) as e:
        models.build(name, expansion=expansion)
    msg = str(e.value)
    assert f"{name} {genes[gene]}: expansion must be a finite number > 0, got {bad}" in msg


BAD_SIZES = [("num_classes", v) for v in (0, -3, True, 10.0, "10", None)] + \
            [("in_channels", v) for v in (0, -1, False, 1.5, "3")]


@pytest.mark.parametrize("key,value", BAD_SIZES, ids=[f"{k}={v!r}" for k, v in BAD_SIZES])
@pytest.mark.parametrize("name", NAMES)
def test_bad_num_classes_or_in_channels_names_parameter_and_value(name, key, value):
    with pytest.raises(ValueError) as e:
        models.build(name, **{**_small(name), key: value})
    assert f"{name}: {key} must be a positive int, got {value!r}" in str(e.value)


BAD_WIDTHS = [True, "1", float("inf"), float("nan"), 0, -0.5]


@pytest.mark.parametrize("value", BAD_WIDTHS, ids=repr)
@pytest.mark.parametrize("name", NAMES)
def test_bad_width_mult_names_parameter_and_valid_range(name, value):
    with pytest.raises(ValueError) as e:
        models.build(name, width_mult=value)
    assert f"{name}: width_mult must be a finite number > 0, got {value!r}" in str(e.value)


# ---- build_kwargs ----------------------------------------------------------------------------

def test_build_kwargs_tell_apart_models_with_equal_shapes():
    a = models.build("vgg_small", expansion=0.25)
    b = models.build("vgg_small", expansion=0.25, act_quantizer="ste_sign")
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(a) == shapes(b)
    assert a.build_kwargs != b.build_kwargs
    assert (a.build_kwargs["act_quantizer"], b.build_kwargs["act_quantizer"]) == ("dorefa", "ste_sign")


def test_build_kwargs_fill_defaults_as_plain_json():
    m1 = models.build("mobilenet_m1", width_mult=0.25)
    assert m1.build_kwargs == {
        "name": "mobilenet_m1", "num_classes": 1000, "in_channels": 3, "binary": True,
        "groups": 1, "real_groups": None, "act_quantizer": "approx_sign",
        "weight_quantizer": "xnor", "width_mult": 0.25, "small_input": False,
    }
    vgg = models.build("vgg_small", expansion=(0.25, 0.5, 1, 2, 3, 4), num_classes=7)
    assert vgg.build_kwargs == {
        "name": "vgg_small", "num_classes": 7, "in_channels": 3, "binary": True,
        "expansion": [0.25, 0.5, 1, 2, 3, 4], "act_quantizer": "dorefa",
        "weight_quantizer": "dorefa", "width_mult": 1.0,
    }
    m2 = models.build("mobilenet_m2", width_mult=0.25, groups=4, real_groups=np.array([1, 2, 4, 8, 2]))
    assert m2.build_kwargs["groups"] == 4 and m2.build_kwargs["real_groups"] == [1, 2, 4, 8, 2]
    for name in NAMES:
        kwargs = models.build(name, **_small(name)).build_kwargs
        assert json.loads(json.dumps(kwargs)) == kwargs and kwargs["name"] == name
        assert "module" not in kwargs and len(kwargs) == 1 + len(inspect.signature(models.MODELS[name]).parameters)


@pytest.mark.parametrize("name", list(models.MODELS))
def test_genome_codec_round_trips_and_builds_the_genome(name):
    """genome_kwargs and genome_of are inverse, and the built model carries the genome's
    values: M2's genome is its 13 binary 3x3 group genes, then its 5 real 1x1 group genes."""
    n = len(models.gene_names(name))
    if models.study_of(name) == "widths":
        genome = [1.0 + 0.25 * (i % 3) for i in range(n)]
    else:
        genome = [[1, 2, 4, 8][i % 4] for i in range(n)]
    kwargs = models.genome_kwargs(name, genome)
    assert models.genome_of(name, kwargs) == genome
    built = models.build(name, num_classes=10, width_mult=0.25, **kwargs).build_kwargs
    assert models.genome_of(name, built) == genome


def test_genome_codec_expands_scalars_and_skips_real_models():
    assert models.genome_kwargs("mobilenet_m2", list(range(1, 19))) == {
        "groups": list(range(1, 14)), "real_groups": list(range(14, 19))}
    assert models.genome_of("mobilenet_m2", {"groups": 4, "real_groups": 4}) == [4] * 18
    assert models.genome_of("mobilenet_m1", {}) == [1] * 13
    assert models.genome_of("resnet18", {"expansion": 2.0}) == [2.0] * 12
    assert models.genome_of("vgg_small", {"binary": False, "expansion": 1.0}) is None
    with pytest.raises(ValueError, match=r"mobilenet_m2: a genome has 18 genes \(groups, real_groups\), got 13"):
        models.genome_kwargs("mobilenet_m2", [1] * 13)
    assert [models.study_of(f) for f in models.MODELS] == ["widths", "widths", "groups", "groups", "groups"]
