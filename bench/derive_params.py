"""A params file derived from a profile: other training seeds, or toy sizes (a script rehearsal).

    python bench/derive_params.py profiles/gpu.yaml OUT.yaml --seeds "[0]" [--tiny [--keep-widths]] [--set jobs=1]

Used by ``bench/gpu_session.sh`` to run one family's stages of a profile within a short GPU
session (one training seed instead of three), and to rehearse that script on a CPU (``--tiny``:
256 training images, one epoch per stage, searches of 4, narrow models; with ``--keep-widths``
the profile's own model widths, so that a CPU run builds, trains, searches and counts the
operations of the very architectures a GPU run of the profile will). The result is
validated by :mod:`bnnlib.settings` before it is written. ``--set KEY=VALUE`` changes a
top-level setting (``jobs``, ``devices``, ``checkpoint_interval``, ...; the value read as YAML):
in the params file every stage may hold it, whether or not it reads it, unlike the stages'
``--set``, which refuses a setting the stage does not read.
"""

from __future__ import annotations

import argparse

import yaml

from bnnlib import settings


def derive(raw: dict, seeds: list[int] | None = None, tiny: bool = False,
           top: dict | None = None, keep_widths: bool = False) -> dict:
    raw = yaml.safe_load(yaml.safe_dump(raw))  # a deep copy
    if seeds is not None:
        raw["seeds"] = list(seeds)
    for key, value in (top or {}).items():
        if key not in raw or isinstance(raw[key], dict):
            valid = [k for k, v in raw.items() if not isinstance(v, dict)]
            raise settings.SettingsError(f"--set {key}: not a top-level setting of the profile; "
                                         f"top-level settings: {', '.join(valid)}")
        raw[key] = value
    if tiny:
        raw["data"].update(train_subset=256, val_subset=128, test_subset=128)
        # the groups study has one recipe, each widths family its own
        sections = [raw["groups"]] + list(raw["widths"]["families"].values())
        for s in sections:
            s["epochs"].update(uniform=1, supernet=1, retrain=1)  # the groups study's fig5 stays
            s["train"]["batch_size"] = 64
        for study in ("groups", "widths"):
            s = raw[study]
            s["search"].update(population=4, topk=2, crossovers=2, mutations=2, iterations=2,
                               calib_images=64, val_images=None)
            s["proxy"].update(genomes=3, epochs=1, train_images=128, test_images=128)
        if not keep_widths:
            raw["groups"]["model"]["width_mult"] = 0.5  # 16 channels in block 1: groups 16 divides them
            for family in raw["widths"]["families"].values():
                family["width_mult"] = 0.0625
    elif keep_widths:
        raise ValueError("keep_widths only qualifies tiny (the profile's widths are kept otherwise)")
    params = settings.from_dict(raw, "derived params")  # SettingsError names any bad value
    missing = settings.unspelled(raw, params)  # dvc repro needs every key its stages read
    if missing:
        raise settings.SettingsError(f"derived params leave out {', '.join(missing)}")
    return raw


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--seeds", default=None, help='YAML list, e.g. "[0]"')
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--keep-widths", action="store_true",
                        help="with --tiny: the profile's model widths, not narrow ones")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a top-level setting, e.g. jobs=1")
    args = parser.parse_args(argv)
    top = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: write KEY=VALUE, e.g. jobs=1")
        top[key] = yaml.safe_load(value)
    with open(args.source) as fh:
        raw = yaml.safe_load(fh)
    seeds = yaml.safe_load(args.seeds) if args.seeds else None
    if args.keep_widths and not args.tiny:
        parser.error("--keep-widths qualifies --tiny (without --tiny every width is kept)")
    with open(args.target, "w") as fh:
        yaml.safe_dump(derive(raw, seeds, args.tiny, top, args.keep_widths), fh, sort_keys=False)


if __name__ == "__main__":
    main()
