"""Every model builds and runs on 1x28x28, 3x32x32 and 3x224x224; bad genomes fail clearly."""

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
