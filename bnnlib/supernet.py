"""Weight-sharing supernets for the two studies (the OFA-style interface).

``build(name, **model_kwargs)`` returns a ``Supernet`` for any model of ``bnnlib.models``:

- groups supernets (``mobilenet_m1/m2/m3``, Phan et al. sec. 3.2.3): the model built with
  groups = 1 everywhere; every searchable conv becomes a ``DynamicGroupConv2d`` holding one
  full weight, and a candidate uses its block-diagonal crop. Genome: 13 group counts (+5 real
  1x1 group counts for M2, in ``models.gene_names`` order). Choices per gene: the divisors of
  the conv's input channels, optionally capped by ``max_groups`` (the paper uses all divisors).
- widths supernets (``vgg_small``, ``resnet18``, Shen et al. "Initialization"): the model
  uniformly widened by the largest ratio (4x); every conv, BN and the FC become dynamic, and a
  candidate uses the first channels of every layer (prefix slice). Genome: one expansion ratio
  per gene, choices {0.25, 0.5, 1, 2, 3, 4}.

Interface:
    ``choices`` list of candidate values per gene;  ``gene_names``;
    ``sample(rng)`` a uniformly random genome (``numpy.random.Generator``);
    ``set_genome(genome)`` the active candidate for the next forward passes;
    ``extract(genome)`` a standalone static model (weights copied) equal to the supernet under
        that genome in eval mode, whose FLOPs equal ``models.build(name, **model_kwargs_of(genome))``;
    ``model_kwargs(genome)`` the keywords of ``models.build`` for that candidate;
    ``build_kwargs`` the full construction keywords of ``build`` (JSON values, defaults filled),
        which fingerprint the supernet: ``{"supernet": name, "max_groups", "width_choices",
        "model": models.construction_kwargs of the base model minus the genome keys}``.

Which layer a gene controls is found by probing the static builder once (build with one gene
changed, see which convs change), so the supernet needs no per-family wiring and always agrees
with ``bnnlib.models``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from . import flops, models, train
from .checks import is_int, is_positive_number, is_scalar
from .dynamic import (
    DynamicBatchNorm2d,
    DynamicGroupConv2d,
    DynamicLinear,
    DynamicWidthConv2d,
    block_diagonal_crop,
)
from .genome import random_genome
from .models.common import divisors

WIDTH_CHOICES = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0)
GENOME_KEYS = ("groups", "real_groups", "expansion")


def _meta_model(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return models.build(name, **kwargs)


#: (family, input shape, the build kwargs that can change spatial sizes) -> {layer: output
#: shape}: the shapes :func:`static_ops` has counted, shared by every genome of that layout
_LAYOUT_SHAPES: dict[tuple, dict[str, tuple]] = {}


def _ops_from_layout(model: nn.Module, input_size: tuple, shapes: dict[str, tuple]) -> float:
    """OPs of ``model`` from the output ``shapes`` of its layout (:func:`flops.ops_from_shapes`);
    where they do not cover its layers (the first model of a layout, or a layer not seen yet,
    e.g. a projection shortcut), one hooked count, whose shapes are added to ``shapes``."""
    ops = flops.ops_from_shapes(model, shapes) if shapes else None
    if ops is None:
        report = flops.count(model, input_size)
        shapes.update(flops.out_shapes(report))
        ops = report.ops
    return ops


def static_ops(name: str, input_size, **kwargs) -> float:
    """OPs of ``models.build(name, **kwargs)`` on ``input_size`` (built on the meta device).

    Genomes (``groups``, ``real_groups``, ``expansion``) and ``binary`` change channels, group
    counts and quantizers, never spatial sizes, so models that differ only in them share one
    hooked count per layout; each further model costs a meta build, not a forward pass (the
    random draws of stage 04 and the cost projection count hundreds).
    """
    size = flops.input_shape(input_size)
    layout = {k: v for k, v in kwargs.items() if k not in (*GENOME_KEYS, "binary")}
    key = (name, size, json.dumps(layout, sort_keys=True, default=repr))
    return _ops_from_layout(_meta_model(name, **kwargs), size, _LAYOUT_SHAPES.setdefault(key, {}))


def state_bytes(module: nn.Module) -> int:
    """Bytes of the tensors of ``module.state_dict()`` (parameters and buffers): what a
    checkpoint of its weights stores, give or take a few kilobytes of pickling."""
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def static_state_bytes(name: str, **kwargs) -> int:
    """:func:`state_bytes` of ``models.build(name, **kwargs)`` (built on the meta device)."""
    return state_bytes(_meta_model(name, **kwargs))


def _convs(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, attr, new)


class Supernet(nn.Module):
    """A model whose searchable layers are dynamic; see the module docstring."""

    def __init__(self, name: str, net: nn.Module, kind: str, choices: list[list],
                 bindings: list[tuple[str, int, int]], model_kwargs: dict,
                 build_kwargs: dict | None = None):
        super().__init__()
        self.name, self.kind, self.net = name, kind, net
        #: the full keywords of ``build`` (see the module docstring); None if built by hand
        self.build_kwargs = build_kwargs
        self.choices = choices
        self.gene_names = models.gene_names(name, model_kwargs.get("width_mult", 1.0))
        self.base_kwargs = dict(model_kwargs)
        # (module name, gene index, base width) -- base width unused for groups genes
        self._bindings = bindings
        self._ops_cache: dict[tuple, float] = {}
        self._shapes: dict[tuple, dict] = {}  # input size -> {layer: output shape}
        #: the candidate with every weight in use (groups 1 / the widest ratios)
        self.largest: tuple = tuple(c[-1] if kind == "widths" else c[0] for c in choices)
        #: when set, eval-mode forwards use this genome (validation during supernet training)
        self.eval_genome: tuple | None = None
        self.genome: tuple = self.largest
        self.set_genome(self.genome)

    # -- genomes -------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> tuple:
        """A uniformly random genome: each gene drawn uniformly from its choices."""
        return random_genome(self.choices, rng)

    def check_genome(self, genome: Sequence) -> tuple:
        genome = tuple(genome)
        if len(genome) != len(self.choices):
            raise ValueError(f"{self.name} supernet: genome needs {len(self.choices)} genes, "
                             f"got {len(genome)}")
        for i, (g, c) in enumerate(zip(genome, self.choices, strict=True)):
            if g not in c:
                raise ValueError(f"{self.name} supernet: gene {i} ({self.gene_names[i]}) = {g!r} "
                                 f"is not a candidate; valid: {list(c)}")
        return genome

    def set_genome(self, genome: Sequence) -> None:
        """Make ``genome`` the active candidate of the next forward passes."""
        genome = self.check_genome(genome)
        for module_name, gene, base in self._bindings:
            module = self.net.get_submodule(module_name)
            if self.kind == "groups":
                module.active_groups = int(genome[gene])
            else:
                module.active_out = max(1, int(round(base * genome[gene])))
        self.genome = genome

    def model_kwargs(self, genome: Sequence) -> dict:
        """Keywords of ``models.build(self.name, ...)`` for the static model of ``genome``."""
        return {**self.base_kwargs, **models.genome_kwargs(self.name, self.check_genome(genome))}

    def ops(self, genome: Sequence, input_size) -> float:
        """OPs of the static model of ``genome`` (counted on the meta device, cached)."""
        key = (self.check_genome(genome), tuple(input_size))
        if key not in self._ops_cache:
            self._ops_cache[key] = self._count_ops(key[0], key[1])
        return self._ops_cache[key]

    def _count_ops(self, genome: Sequence, input_size: tuple) -> float:
        """One hooked count per input size and layer layout, then each genome's OPs from its
        layers' configurations (:func:`bnnlib.flops.ops_from_shapes`): the one-shot search
        checks every candidate's OPs, and a hooked forward on the meta device costs 0.1-0.3 s
        of CPU per candidate (more than scoring it on a GPU)."""
        model = _meta_model(self.name, **self.model_kwargs(genome))
        return _ops_from_layout(model, input_size, self._shapes.setdefault(input_size, {}))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and self.eval_genome is not None and self.genome != self.eval_genome:
            self.set_genome(self.eval_genome)
        return self.net(x)

    # -- extraction ----------------------------------------------------------------------
    def extract(self, genome: Sequence | None = None) -> nn.Module:
        """A static ``models.build`` model of ``genome`` holding this supernet's weights."""
        genome = self.genome if genome is None else self.check_genome(genome)
        previous = self.genome
        static = models.build(self.name, **self.model_kwargs(genome))
        device = next(self.parameters()).device
        static.to(device)
        dyn = dict(self.net.named_modules())
        with torch.no_grad():
            for name, m in static.named_modules():
                src = dyn[name]
                if isinstance(m, nn.Conv2d):
                    if isinstance(src, DynamicGroupConv2d):
                        w = block_diagonal_crop(src.weight, m.groups)
                    elif isinstance(src, DynamicWidthConv2d):
                        w = src.weight[: m.out_channels, : m.in_channels]
                    else:
                        w = src.weight
                    m.weight.copy_(w)
                elif isinstance(m, nn.Linear):
                    m.weight.copy_(src.weight[:, : m.in_features])
                    if m.bias is not None:
                        m.bias.copy_(src.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    c = m.num_features
                    for attr in ("weight", "bias", "running_mean", "running_var"):
                        getattr(m, attr).copy_(getattr(src, attr)[:c])
                    m.num_batches_tracked.copy_(src.num_batches_tracked)
        self.set_genome(previous)
        return static


def _probe_bindings(name: str, kind: str, kwargs: dict, base: list,
                    probes: list) -> list[tuple[str, int, int]]:
    """Which conv each gene controls: build static models with gene i set to ``probes[i]``.

    Returns (conv name, gene, reference value) with the reference value the conv's out width
    under ``base`` (widths) or its groups (groups).
    """
    attr = "groups" if kind == "groups" else "out_channels"
    def meta(genome):
        return _convs(_meta_model(name, **kwargs, **models.genome_kwargs(name, genome)))

    ref = {k: getattr(c, attr) for k, c in meta(base).items()}
    bindings = []
    for gene, value in enumerate(probes):
        probe = list(base)
        probe[gene] = value
        bindings += [(k, gene, ref[k]) for k, c in meta(probe).items() if getattr(c, attr) != ref[k]]
    return bindings


def _check_max_groups(name: str, max_groups) -> int | None:
    """``max_groups`` as an int, or ValueError unless it is an int >= 1 or None."""
    if max_groups is None:
        return None
    if not is_int(max_groups) or max_groups < 1:
        raise ValueError(f"supernet.build({name!r}): max_groups must be an int >= 1 or None "
                         f"(None = every divisor), got {max_groups!r}")
    return int(max_groups)


def _check_width_choices(name: str, width_choices) -> list[float]:
    """``width_choices`` sorted as floats, or ValueError naming the bad value.

    Valid: a non-empty list of distinct finite numbers > 0.
    """
    values = None if is_scalar(width_choices) else list(width_choices)
    problem = _width_choices_problem(values)
    if problem:
        raise ValueError(f"supernet.build({name!r}): width_choices must be a non-empty list of "
                         f"distinct finite numbers > 0 ({problem}), got {width_choices!r}")
    return sorted(float(v) for v in values)


def _width_choices_problem(values: list | None) -> str | None:
    """What is wrong with a list of width choices (None: not a list), or None if nothing."""
    if values is None:
        return "not a list"
    if not values:
        return "the list is empty"
    bad = [v for v in values if not is_positive_number(v)]
    if bad:
        return f"{bad[0]!r} is not a finite number > 0"
    repeated = sorted({float(v) for v in values if values.count(v) > 1})
    return f"{repeated} repeated" if repeated else None


def _build_kwargs(name: str, kind: str, max_groups, ratios: list[float], model_kwargs) -> dict:
    """The supernet's full construction keywords (JSON values, defaults filled)."""
    model = models.construction_kwargs(name, **model_kwargs)
    return {
        "supernet": name,
        "max_groups": max_groups if kind == "groups" else None,
        "width_choices": ratios if kind == "widths" else None,
        "model": {k: v for k, v in model.items() if k not in GENOME_KEYS},
    }


def build(name: str, max_groups: int | None = None,
          width_choices: Sequence[float] = WIDTH_CHOICES, **model_kwargs) -> Supernet:
    """The supernet of model ``name``; ``model_kwargs`` as for ``models.build`` minus the genome.

    Args:
        max_groups: groups supernets only: cap the group choices at this value (None = every
            divisor of the input channels, as in the paper).
        width_choices: widths supernets only: the expansion ratios (Shen et al. eq. 2).
    """
    models.check_name(name)
    for key in GENOME_KEYS:
        if key in model_kwargs:
            raise ValueError(f"supernet.build({name!r}): {key} is searched, do not pass it")
    max_groups = _check_max_groups(name, max_groups)
    ratios = _check_width_choices(name, width_choices)
    kind = models.study_of(name)
    if kind == "groups":
        in_ch = models.mobilenet.gene_channels(name.split("_")[1], model_kwargs.get("width_mult", 1.0))
        choices = [[d for d in divisors(c) if max_groups is None or d <= max_groups] for c in in_ch]
        net = models.build(name, **{**model_kwargs, **models.genome_kwargs(name, [1] * len(choices))})
        probes = [min(d for d in divisors(c) if d > 1) for c in in_ch]
        bindings = _probe_bindings(name, kind, model_kwargs, [1] * len(in_ch), probes)
        for module_name, _, _ in bindings:
            old = net.get_submodule(module_name)
            _replace(net, module_name, DynamicGroupConv2d.from_conv(old))
    else:
        choices = [list(ratios) for _ in models.gene_names(name)]
        widest = max(choices[0])
        net = models.build(name, **{**model_kwargs, **models.genome_kwargs(name, [widest] * len(choices))})
        bindings = _probe_bindings(name, kind, model_kwargs, [1.0] * len(choices),
                                   [2.0] * len(choices))
        for module_name, module in list(net.named_modules()):
            if isinstance(module, nn.Conv2d):
                _replace(net, module_name, DynamicWidthConv2d.from_conv(module))
            elif isinstance(module, nn.BatchNorm2d):
                _replace(net, module_name, DynamicBatchNorm2d.from_bn(module))
            elif isinstance(module, nn.Linear):
                _replace(net, module_name, DynamicLinear.from_linear(module))
    return Supernet(name, net, kind, choices, bindings, model_kwargs,
                    _build_kwargs(name, kind, max_groups, ratios, model_kwargs))


def train_supernet(supernet: Supernet, train_data, val_data=None, *, seed: int = 0,
                   eval_genome: Sequence | None = None, **fit_kwargs) -> train.FitResult:
    """Train a supernet with a new uniformly random genome every step (Phan et al. Alg. 2).

    The genome of step ``t`` is ``supernet.sample(numpy.random.default_rng([seed, t]))``: a
    pure function of (seed, step), so a resumed run samples exactly the genomes an
    uninterrupted one would. Validation during training (``val_data``) scores
    ``eval_genome`` (default: the largest candidate) in eval mode. Everything else (the
    ``recipe=`` :class:`bnnlib.train.Recipe`, checkpoints, resume, metrics, progress) is
    ``bnnlib.train.fit``'s, through ``fit_kwargs``.
    """
    def before_step(model: Supernet, step: int) -> None:
        model.set_genome(model.sample(np.random.default_rng([seed, step])))

    supernet.eval_genome = supernet.largest if eval_genome is None else supernet.check_genome(eval_genome)
    fit_kwargs.setdefault("model_name", f"supernet_{supernet.name}")
    try:
        return train.fit(supernet, train_data, val_data, seed=seed, before_step=before_step,
                         **fit_kwargs)
    finally:
        supernet.eval_genome = None
