"""Every number of every table of the two papers, typed in once.

Papers (``../shared/papers`` of the study):

- **Phan et al.** 2020, "Binarizing MobileNet via Evolution-based Searching" (CVPR): the groups
  study, Tables 1-4. ImageNet, input 3x224x224.
- **Shen et al.** 2019, "Searching for Accurate Binary Neural Architectures": the widths study,
  Table 1 (VGG-small, CIFAR-10, 3x32x32) and Table 2 (ResNet-18, ImageNet, 3x224x224).

Values are kept as the *text the paper prints* (``"64.0"`` stays ``"64.0"``, ``"60.90"`` keeps
its zero), so that the rendered tables show the papers' numbers exactly; :func:`number` turns a
cell into a float. A dash (``"-"``, no value printed) and a bound (``"> 1.54"``) are NaN as
numbers. Units are those of the paper column and are named in ``*_UNITS``.

Each :class:`Row` has a ``key``: for rows the study re-runs, the ``variant`` (or metric) name used
in ``runs/`` (see ``docs/results_schema.md``); for rows that report *other papers'* results,
a unique row id, with ``cited`` naming the work (these are cited, not run here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .registry import GROUP_MODELS


@dataclass(frozen=True)
class Row:
    """One printed row of a paper table.

    label:  the row label exactly as printed.
    key:    our variant / metric name (rows we run) or a unique id (cited rows).
    values: column name -> number as printed (``"-"`` where the paper prints a dash).
    cited:  for rows reporting another paper's result, that paper; ``None`` for the paper's
            own rows (which this study re-runs).
    """

    label: str
    key: str
    values: Mapping[str, str] = field(default_factory=dict)
    cited: str | None = None


def number(text: str | None) -> float:
    """The float a printed cell stands for; NaN for a dash, a missing cell or a bound ("> x")."""
    if text is None:
        return math.nan
    text = text.strip()
    if text in ("", "-") or text.startswith((">", "<")):
        return math.nan
    return float(text)


# --------------------------------------------------------------------------------------------
# Phan et al. 2020 (groups study, ImageNet)
# --------------------------------------------------------------------------------------------

PHAN_DATASET = "ImageNet, 3x224x224"
PHAN_MODULES = GROUP_MODELS  # the groups study's families are Phan et al.'s modules M1, M2, M3
PHAN_MODULE_LABELS = {"mobilenet_m1": "M1", "mobilenet_m2": "M2", "mobilenet_m3": "M3"}

# Table 1 columns: Top-1 (%), Top-5 (%), FLOPs (x10^8).
PHAN_TABLE1_UNITS = {"top1": "%", "top5": "%", "flops": "x1e8"}
PHAN_TABLE1: dict[str, tuple[Row, ...]] = {
    "mobilenet_m1": (
        Row("Groups = 1", "groups1", {"top1": "64.51", "top5": "85.14", "flops": "2.13"}),     # Table 1, #Groups (M1), Groups = 1
        Row("Groups = 4", "groups4", {"top1": "60.89", "top5": "82.54", "flops": "1.63"}),     # Table 1, #Groups (M1), Groups = 4
        Row("Groups = 16", "groups16", {"top1": "58.49", "top5": "80.66", "flops": "1.50"}),   # Table 1, #Groups (M1), Groups = 16
        Row("Random Group", "random", {"top1": "59.05", "top5": "81.22", "flops": "1.58"}),    # Table 1, #Groups (M1), Random Group
        Row("Ours", "searched", {"top1": "60.90", "top5": "82.60", "flops": "1.54"}),          # Table 1, #Groups (M1), Ours
    ),
    "mobilenet_m2": (
        Row("Groups = 1", "groups1", {"top1": "64.51", "top5": "85.14", "flops": "2.13"}),     # Table 1, #Groups (M2), Groups = 1
        Row("Groups = 4", "groups4", {"top1": "59.59", "top5": "81.67", "flops": "0.67"}),     # Table 1, #Groups (M2), Groups = 4
        Row("Groups = 16", "groups16", {"top1": "54.23", "top5": "77.04", "flops": "0.30"}),   # Table 1, #Groups (M2), Groups = 16
        Row("Random Group", "random", {"top1": "58.13", "top5": "80.42", "flops": "0.75"}),    # Table 1, #Groups (M2), Random Group
        Row("Ours", "searched", {"top1": "59.30", "top5": "81.00", "flops": "0.62"}),          # Table 1, #Groups (M2), Ours
    ),
    "mobilenet_m3": (
        Row("Groups = 1", "groups1", {"top1": "57.56", "top5": "79.85", "flops": "0.87"}),     # Table 1, #Groups (M3), Groups = 1
        Row("Groups = 4", "groups4", {"top1": "49.90", "top5": "73.15", "flops": "0.37"}),     # Table 1, #Groups (M3), Groups = 4
        Row("Groups = 16", "groups16", {"top1": "45.29", "top5": "69.38", "flops": "0.24"}),   # Table 1, #Groups (M3), Groups = 16
        Row("Random Group", "random", {"top1": "50.07", "top5": "74.11", "flops": "0.38"}),    # Table 1, #Groups (M3), Random Group
        Row("Ours", "searched", {"top1": "51.06", "top5": "74.18", "flops": "0.33"}),          # Table 1, #Groups (M3), Ours
    ),
}

# Table 2 is printed transposed: one row per metric, one column per module (M1, M2, M3).
# Units: Top-1/Top-5 in %, FLOPs and MaxFLOPs in x10^8, #GPU-hours of searching.
PHAN_TABLE2: tuple[Row, ...] = (
    Row("Top-1 (%)", "top1", {"mobilenet_m1": "60.9", "mobilenet_m2": "59.3", "mobilenet_m3": "51.1"}),          # Table 2, row Top-1 (%)
    Row("Top-5 (%)", "top5", {"mobilenet_m1": "82.6", "mobilenet_m2": "81.0", "mobilenet_m3": "74.2"}),          # Table 2, row Top-5 (%)
    Row("FLOPs", "flops", {"mobilenet_m1": "1.54", "mobilenet_m2": "0.62", "mobilenet_m3": "0.33"}),             # Table 2, row FLOPs (x10^8)
    Row("MaxFLOPs", "max_flops", {"mobilenet_m1": "1.55", "mobilenet_m2": "0.80", "mobilenet_m3": "0.50"}),      # Table 2, row MaxFLOPs (x10^8)
    Row("#GPU-hours", "search_hours", {"mobilenet_m1": "30", "mobilenet_m2": "32", "mobilenet_m3": "26"}),       # Table 2, row #GPU-hours
)
PHAN_TABLE2_UNITS = {"top1": "%", "top5": "%", "flops": "x1e8", "max_flops": "x1e8",
                     "search_hours": "GPU-hours (one GPU; training on four RTX 2080 Ti)"}

# Table 3 columns: W/A (weight / activation bits), Top-1, Top-5 (%). Rows in printed order.
PHAN_TABLE3_UNITS = {"top1": "%", "top5": "%"}
PHAN_TABLE3: tuple[Row, ...] = (
    Row("Binary Connect [8]", "binary_connect", {"w_a": "1/32", "top1": "35.40", "top5": "61.00"},
        cited="Courbariaux et al. 2015, BinaryConnect"),                  # Table 3, row Binary Connect [8]
    Row("BWN [39]", "bwn", {"w_a": "1/32", "top1": "56.80", "top5": "79.40"},
        cited="Rastegari et al. 2016, XNOR-Net (BWN)"),                   # Table 3, row BWN [39]
    Row("BNNs [19]", "bnns", {"w_a": "1/1", "top1": "42.20", "top5": "67.10"},
        cited="Hubara et al. 2016, Binarized Neural Networks"),           # Table 3, row BNNs [19]
    Row("ABC-Net [26]", "abc_net", {"w_a": "1/1", "top1": "42.70", "top5": "67.60"},
        cited="Lin et al. 2017, ABC-Net"),                                # Table 3, row ABC-Net [26]
    Row("DoReFa-Net [53]", "dorefa_net", {"w_a": "1/1", "top1": "43.60", "top5": "-"},
        cited="Zhou et al. 2016, DoReFa-Net"),                            # Table 3, row DoReFa-Net [53] (Top-5 printed "-")
    Row("SQ-BWN [10]", "sq_bwn", {"w_a": "1/1", "top1": "45.50", "top5": "70.60"},
        cited="Dong et al., stochastic quantization (SQ-BWN)"),           # Table 3, row SQ-BWN [10]
    Row("XNOR-AlexNet [39]", "xnor_alexnet", {"w_a": "1/1", "top1": "44.20", "top5": "69.20"},
        cited="Rastegari et al. 2016, XNOR-Net"),                         # Table 3, row XNOR-AlexNet [39]
    Row("XNOR-ResNet-18 [39]", "xnor_resnet18", {"w_a": "1/1", "top1": "51.20", "top5": "73.20"},
        cited="Rastegari et al. 2016, XNOR-Net"),                         # Table 3, row XNOR-ResNet-18 [39]
    Row("MoBiNet [38]", "mobinet", {"w_a": "1/1", "top1": "54.40", "top5": "77.50"},
        cited="Phan et al. 2020, MoBiNet"),                               # Table 3, row MoBiNet [38]
    Row("Bi-RealNet-18 [32]", "bireal18", {"w_a": "1/1", "top1": "56.40", "top5": "79.50"},
        cited="Liu et al. 2018, Bi-Real Net"),                            # Table 3, row Bi-RealNet-18 [32]
    Row("CI-BCNN-18 [45]", "ci_bcnn18", {"w_a": "1/1", "top1": "56.73", "top5": "80.12"},
        cited="Wang et al. 2019, CI-BCNN"),                               # Table 3, row CI-BCNN-18 [45]
    Row("CI-BCNN-18 (add) [45]", "ci_bcnn18_add", {"w_a": "1/1", "top1": "59.90", "top5": "84.18"},
        cited="Wang et al. 2019, CI-BCNN"),                               # Table 3, row CI-BCNN-18 (add) [45]
    Row("Ours (M3)", "mobilenet_m3", {"w_a": "1/1", "top1": "51.06", "top5": "74.18"}),   # Table 3, row Ours (M3)
    Row("Ours (M2)", "mobilenet_m2", {"w_a": "1/1", "top1": "59.30", "top5": "81.00"}),   # Table 3, row Ours (M2)
    Row("Ours (M1)", "mobilenet_m1", {"w_a": "1/1", "top1": "60.90", "top5": "82.60"}),   # Table 3, row Ours (M1)
)

# Table 4 column: FLOPs (x10^8). CI-BCNN (add) is printed as a bound, "> 1.54x10^8".
PHAN_TABLE4_UNITS = {"flops": "x1e8"}
PHAN_TABLE4: tuple[Row, ...] = (
    Row("XNOR-AlexNet [39]", "xnor_alexnet", {"flops": "1.38"},
        cited="Rastegari et al. 2016, XNOR-Net"),                         # Table 4, row XNOR-AlexNet [39]
    Row("XNOR-ResNet-18 [39]", "xnor_resnet18", {"flops": "1.67"},
        cited="Rastegari et al. 2016, XNOR-Net"),                         # Table 4, row XNOR-ResNet-18 [39]
    Row("Bi-RealNet-18 [32]", "bireal18", {"flops": "1.63"},
        cited="Liu et al. 2018, Bi-Real Net"),                            # Table 4, row Bi-RealNet-18 [32]
    Row("CI-BCNN-18 [45]", "ci_bcnn18", {"flops": "1.54"},
        cited="Wang et al. 2019, CI-BCNN"),                               # Table 4, row CI-BCNN-18 [45]
    Row("CI-BCNN-18 (add) [45]", "ci_bcnn18_add", {"flops": "> 1.54"},
        cited="Wang et al. 2019, CI-BCNN"),                               # Table 4, row CI-BCNN-18 (add) [45]: "> 1.54x10^8"
    Row("MoBiNet [38]", "mobinet", {"flops": "0.52"},
        cited="Phan et al. 2020, MoBiNet"),                               # Table 4, row MoBiNet [38]
    Row("Ours (M3)", "mobilenet_m3", {"flops": "0.33"}),                  # Table 4, row Ours (M3)
    Row("Ours (M2)", "mobilenet_m2", {"flops": "0.62"}),                  # Table 4, row Ours (M2)
    Row("Ours (M1)", "mobilenet_m1", {"flops": "1.54"}),                  # Table 4, row Ours (M1)
)

# --------------------------------------------------------------------------------------------
# Shen et al. 2019 (widths study)
# --------------------------------------------------------------------------------------------

SHEN_TABLE1_DATASET = "CIFAR-10, 3x32x32"
SHEN_TABLE2_DATASET = "ImageNet, 3x224x224"

# Table 1 (VGG-small, CIFAR-10) columns: FLOPs (M), Speedup (x), Memory (M; megabits: 32 bits
# per real weight, 1 per binary weight), Top-1 (%). The paper prints "-" as the FP speedup.
SHEN_TABLE1_UNITS = {"flops": "M", "speedup": "x", "memory": "Mbit", "top1": "%"}
SHEN_TABLE1: tuple[Row, ...] = (
    Row("Full-Precision", "fp", {"flops": "608", "speedup": "-", "memory": "149", "top1": "93.48"}),             # Table 1, row Full-Precision
    Row("Uniform-1x", "uniform1x", {"flops": "13.2", "speedup": "46.1", "memory": "7.3", "top1": "90.24"}),      # Table 1, row Uniform-1x
    Row("Uniform-2x", "uniform2x", {"flops": "45.3", "speedup": "13.4", "memory": "23.7", "top1": "91.65"}),     # Table 1, row Uniform-2x
    Row("Uniform-3x", "uniform3x", {"flops": "96.2", "speedup": "6.3", "memory": "49.3", "top1": "91.87"}),      # Table 1, row Uniform-3x
    Row("Uniform-4x", "uniform4x", {"flops": "166", "speedup": "3.7", "memory": "84.1", "top1": "92.56"}),       # Table 1, row Uniform-4x
    Row("VGG-Auto-A", "auto_a", {"flops": "11.3", "speedup": "53.6", "memory": "5.1", "top1": "92.17"}),         # Table 1, row VGG-Auto-A
    Row("VGG-Auto-B", "auto_b", {"flops": "59.3", "speedup": "10.3", "memory": "23.4", "top1": "93.06"}),        # Table 1, row VGG-Auto-B
)

# Table 2 (ResNet-18, ImageNet) columns: FLOPs (M), Speedup (x), Top-1 (%), Top-5 (%).
# The two ABC-Net rows share the printed label "ABC{5/3}" (5 weight bases, 3 activation bases).
SHEN_TABLE2_UNITS = {"flops": "M", "speedup": "x", "top1": "%", "top5": "%"}
SHEN_TABLE2: tuple[Row, ...] = (
    Row("Full-Precision", "fp", {"flops": "1820", "speedup": "-", "top1": "69.6", "top5": "89.2"}),              # Table 2, row Full-Precision
    Row("PCNN", "pcnn", {"flops": "169", "speedup": "10.8", "top1": "57.3", "top5": "80.0"},
        cited="Gu et al. 2019, PCNN"),                                                                          # Table 2, row PCNN
    Row("ABC{5/3}", "abc_5_3_520m", {"flops": "520", "speedup": "3.5", "top1": "62.5", "top5": "84.2"},
        cited="Lin et al. 2017, ABC-Net"),                                                                      # Table 2, first row ABC{5/3}
    Row("ABC{5/3}", "abc_5_3_785m", {"flops": "785", "speedup": "2.3", "top1": "65.0", "top5": "85.9"},
        cited="Lin et al. 2017, ABC-Net"),                                                                      # Table 2, second row ABC{5/3}
    Row("Uniform-1x", "uniform1x", {"flops": "149", "speedup": "12.2", "top1": "52.77", "top5": "76.85"}),      # Table 2, row Uniform-1x
    Row("Uniform-2x", "uniform2x", {"flops": "352", "speedup": "5.2", "top1": "64.0", "top5": "85.45"}),        # Table 2, row Uniform-2x
    Row("Uniform-3x", "uniform3x", {"flops": "607", "speedup": "3.0", "top1": "68.51", "top5": "88.25"}),       # Table 2, row Uniform-3x
    Row("Uniform-4x", "uniform4x", {"flops": "915", "speedup": "2.0", "top1": "70.35", "top5": "89.27"}),       # Table 2, row Uniform-4x
    Row("Res18-Auto-A", "auto_a", {"flops": "495", "speedup": "3.7", "top1": "68.64", "top5": "88.46"}),        # Table 2, row Res18-Auto-A
    Row("Res18-Auto-B", "auto_b", {"flops": "660", "speedup": "2.8", "top1": "69.65", "top5": "89.08"}),        # Table 2, row Res18-Auto-B
)


def rows_by_key(rows) -> dict[str, Row]:
    """``{row.key: row}`` of a table (keys are unique within a table)."""
    out = {r.key: r for r in rows}
    if len(out) != len(rows):
        raise ValueError("duplicate row keys")
    return out


def paper_value(rows, key: str, column: str) -> float:
    """The number a table prints in row ``key``, column ``column`` (NaN for a dash or bound)."""
    return number(rows_by_key(rows)[key].values.get(column))
