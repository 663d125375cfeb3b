"""A rates file for :mod:`bnnlib.cost` from benchmark outputs measured on one device.

    python bench/make_rates.py OUT.json --train gpu=bench_train_gpu.json paper=bench_train_paper.json \
        [--supernet gpu=bench_supernet_gpu.json [gpu=remeasured.json]] [--fit gpu=bench_fit_gpu.json] \
        [--jobs gpu=bench_jobs_gpu.json] [--warmup gpu=stage_histories.json ...]

Per profile and family:

- ``train``: the binary training-step rates of ``bench/bench_train.py`` at each measured size
  (``ops`` = the model's Bi-Real OPs, ``img_s`` = images/s), multiplied by ``fit / bare`` of
  ``bench/bench_fit.py`` for that family when given (what ``fit`` itself reaches, with its
  data pipeline and bookkeeping; several ``--fit`` files: the mean of their ratios, since two
  H200 sessions differed by up to 0.18);
- ``supernet_over_static``: the median supernet/static step ratio of ``bench/bench_supernet.py``;
- ``candidate_s``: seconds per one-shot candidate evaluation, the fastest evaluation batch
  measured by ``bench_supernet`` with cuDNN autotuning off, as the search stage scores
  (``OneShotEvaluator``'s default; a file without such settings: its fastest), with
  ``candidate_images`` the calibration + validation images it forwarded (:mod:`bnnlib.cost`
  scales to the profile's). Set the profile's ``eval_batch_size`` to that batch;
  ``candidate_s_dense`` / ``candidate_images_dense`` the same from the settings scored with
  dense convolutions (keys ending in ``_dense``: ``bench_supernet.py --group-conv dense``), for
  profiles whose groups search has ``group_conv: dense``; a file whose steps ran with
  ``BNNLIB_DENSE_GROUPS=1`` gives no ``supernet_over_static`` (supernet training runs grouped);
- ``jobs_speedup``: per ``jobs`` value, the steady speedup of ``bench/bench_jobs.py`` (that
  many trainings at once against one after another, process start excluded);
- ``warmup_s`` / ``fp_warmup_s`` / ``supernet_warmup_s``: from per-epoch histories of stages run on the device
  (``--warmup``: a stages' runs folder, whose ``STAGE/FAMILY/.../history.json`` files are
  read, or a JSON file mapping such ``stage/family/...`` run names to history lists, as
  ``bench/results_gpu/stage_*.json``; other entries are skipped), the mean over the family's
  binary models trained (uniform, retrain, proxy), its real-valued ``fp`` rows, or its
  supernets of the first epoch's seconds minus the
  median of its later epochs' (:func:`warmups`). Use runs of one training at a time (``jobs:
  1``): trainings at once slow each other's epochs, which the jobs speedup already counts.

Every input must come from one device at the sizes of the profile it is given for: a
benchmark's ``device`` (``meta.machine`` for ``bench_supernet``) must equal the first
``--train`` file's, its ``sizes`` (``meta.profile``) the ``PROFILE`` it is named with, and the
stages' results beside the ``--warmup`` histories must name the same device. Anything else
stops with the files and values that differ (:func:`mismatches`): a CPU rehearsal's outputs
or another GPU's rows would otherwise flow silently into a file labelled with one device.

``--supernet``, ``--jobs`` and ``--warmup`` may name a profile more than once (sessions that re-measured some
families): a later file's rows replace an earlier one's for the families it has, each with its
own image counts; ``--fit`` files are averaged. ``--train`` takes one file per profile.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path


def _pairs(values: list[str] | None, what: str, several: bool = False) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values or []:
        profile, sep, path = v.partition("=")
        if not sep:
            raise SystemExit(f"{what} {v!r}: write PROFILE=FILE, e.g. gpu=bench_train_gpu.json")
        if profile in out and not several:
            raise SystemExit(f"{what}: profile {profile!r} named twice ({out[profile][0]}, {path}); "
                             f"{what} takes one file per profile")
        out.setdefault(profile, []).append(path)
    return out


def _files(value: dict | list[dict]) -> list[dict]:
    return value if isinstance(value, list) else [value]


def histories(path: str | Path) -> dict:
    """Run name -> per-epoch history: from a JSON file of them, or from every
    ``history.json`` under a stages' runs folder (name: its folder relative to ``path``)."""
    path = Path(path)
    if path.is_dir():
        found = {}
        for f in sorted(path.rglob("history.json")):
            name = f.parent.relative_to(path).as_posix()
            found[name] = json.loads(f.read_text())
            if (f.parent / "result.json").exists():  # its device, for mismatches(); as the JSONs
                found[f"{name} (result)"] = json.loads((f.parent / "result.json").read_text())
        return found
    return json.loads(path.read_text())


def _device(bench: dict) -> str | None:
    """The device a benchmark output names (``device``, or ``meta.machine``)."""
    return bench.get("device") or bench.get("meta", {}).get("machine")


def _sizes(bench: dict) -> str | None:
    """The profile sizes a benchmark output was measured at (``sizes`` or ``meta.profile``)."""
    sizes = bench.get("sizes")
    return sizes if isinstance(sizes, str) else bench.get("meta", {}).get("profile")


def same_device(a: str, b: str) -> bool:
    """Whether two device names are one device: the benchmarks' ``NVIDIA H200`` or ``x86_64, 2
    threads`` against the stages' ``cuda (NVIDIA H200)`` or ``cpu (2 cores, x86_64)`` (any CPU is
    one CPU here: the stages do not record its model)."""
    def plain(name: str) -> str:
        cuda = re.fullmatch(r"cuda \((.*)\)", name.strip())
        if cuda:
            return cuda[1].lower()
        if name.startswith("cpu") or re.search(r"\d+ threads?$", name):
            return "cpu"
        return name.strip().lower()
    return plain(a) == plain(b)


def mismatches(inputs: list[tuple[str, str, dict]], runs: list[tuple[str, dict]] = ()) -> list[str]:
    """What keeps these files out of one rates file: ``inputs`` are ``(label, profile, bench)``
    of benchmark outputs, the first a ``--train`` file whose device the others must name, with
    sizes equal to their profile; ``runs`` are ``(label, histories)`` whose ``(result)`` entries
    must name that device. Files that record no device or sizes are not checked for them."""
    problems = []
    device = next((_device(b) for _, _, b in inputs if _device(b)), None)
    for label, profile, bench in inputs:
        if _device(bench) and device and not same_device(_device(bench), device):
            problems.append(f"{label}: measured on {_device(bench)!r}, not {device!r}")
        if _sizes(bench) and _sizes(bench) != profile:
            problems.append(f"{label}: measured at the {_sizes(bench)!r} sizes, given for profile "
                            f"{profile!r}")
    for label, found in runs:
        seen = sorted({r["device"] for k, r in found.items()
                       if k.endswith(" (result)") and isinstance(r, dict) and r.get("device")})
        other = [d for d in seen if device and not same_device(d, device)]
        if other:
            problems.append(f"{label}: stages run on {', '.join(map(repr, other))}, not {device!r}")
    return problems


def _fastest(row: dict, group_conv: str = "grouped") -> float | None:
    """Evaluations per minute of the fastest autotuning-off setting of a bench_supernet row
    scored with ``group_conv`` (keys ending in ``_dense`` for dense; its fastest setting where
    none is off; for grouped, its one rate where it has no settings; None: not measured)."""
    by_setting = row.get("evaluations_per_min_by_setting")
    if not by_setting:
        return row["evaluations_per_min"] if group_conv == "grouped" else None
    settings = {k: v for k, v in by_setting.items() if k.endswith("_dense") == (group_conv == "dense")}
    off = [v for k, v in settings.items() if k.startswith("autotune0")]
    return max(off or settings.values(), default=None)


def warmups(histories: list[dict]) -> dict[str, dict[str, float]]:
    """Per family, ``warmup_s`` (binary models trained), ``fp_warmup_s`` (the real-valued ``fp``
    rows) and ``supernet_warmup_s`` (supernets): the mean first-epoch excess over the median
    later epoch, from run name -> per-epoch history (``stage/family/variant/...``)."""
    excess: dict[tuple[str, str], list[float]] = defaultdict(list)
    for runs in histories:
        for name, history in runs.items():
            parts = name.split("/")
            if not isinstance(history, list) or len(history) < 2 or len(parts) < 2:
                continue  # results, notes, one-epoch runs: nothing to compare the first with
            key = ("supernet_warmup_s" if parts[0] == "supernet"
                   else "fp_warmup_s" if parts[2:3] == ["fp"] else "warmup_s")
            later = statistics.median(float(e["seconds"]) for e in history[1:])
            excess[(parts[1], key)].append(max(0.0, float(history[0]["seconds"]) - later))
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (family, key), values in excess.items():
        out[family][key] = sum(values) / len(values)
    return dict(out)


def build(train: dict[str, dict], supernet: dict[str, dict | list[dict]] | None = None,
          fit: dict[str, dict | list[dict]] | None = None, source: str = "",
          jobs: dict[str, dict | list[dict]] | None = None,
          warmup: dict[str, dict | list[dict]] | None = None) -> dict:
    """The rates dict from loaded benchmark JSONs, keyed by profile. ``supernet``, ``jobs`` and
    ``warmup`` may hold a list of JSONs per profile: later supernet and jobs rows replace earlier
    ones family by family; warm-ups are averaged over all the histories given."""
    supernet, fit, jobs, warmup = supernet or {}, fit or {}, jobs or {}, warmup or {}
    profiles: dict[str, dict] = {}
    device = torch_version = None
    for profile, bench in train.items():
        device, torch_version = bench.get("device"), bench.get("torch")
        # fit / bare: the mean over the files that measured the family (sessions disagree)
        ratios = defaultdict(list)
        for measured in _files(fit.get(profile, [])):
            for r in measured.get("rows", []):
                ratios[r["family"]].append(float(r["fit_over_bare"]))
        factor = {family: sum(v) / len(v) for family, v in ratios.items()}
        points = defaultdict(list)
        for r in bench["rows"]:
            points[r["model"]].append({"ops": float(r["ops"]),
                                       "img_s": float(r["binary_img_s"]) * factor.get(r["model"], 1.0)})
        fams = {}
        for family, pts in points.items():
            fams[family] = {"train": sorted(pts, key=lambda p: p["ops"])}
        for sn in _files(supernet.get(profile, [])):
            meta = sn.get("meta", {})
            images = meta.get("calib_images", 0) + meta.get("val_images", 0)
            for r in sn.get("rows", []):
                if r["family"] not in fams:
                    continue
                fam = fams[r["family"]]
                if meta.get("BNNLIB_DENSE_GROUPS", "0") != "1":  # supernet training runs grouped
                    fam["supernet_over_static"] = float(r["ratio_median"])
                # per scoring mode, the fastest measured batch of the search's evaluator, which
                # scores with autotuning off (bnnlib.cost scales it to the profile's images)
                for mode, suffix in (("grouped", ""), ("dense", "_dense")):
                    best = _fastest(r, mode)
                    if best is None:
                        continue
                    fam[f"candidate_s{suffix}"] = 60.0 / float(best)
                    fam.pop(f"candidate_images{suffix}", None)
                    if images:
                        fam[f"candidate_images{suffix}"] = int(images)
        for measured in _files(jobs.get(profile, [])):
            for r in measured.get("rows", []):
                if r["family"] in fams:
                    fams[r["family"]]["jobs_speedup"] = {
                        n: float(j["steady_speedup"]) for n, j in r["jobs"].items()}
        for family, values in warmups(_files(warmup.get(profile, []))).items():
            if family in fams:
                fams[family].update(values)
        profiles[profile] = fams
    return {"device": device, "torch": torch_version, "source": source, "profiles": profiles}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--train", nargs="+", required=True, metavar="PROFILE=FILE")
    parser.add_argument("--supernet", nargs="*", metavar="PROFILE=FILE")
    parser.add_argument("--fit", nargs="*", metavar="PROFILE=FILE")
    parser.add_argument("--jobs", nargs="*", metavar="PROFILE=FILE")
    parser.add_argument("--warmup", nargs="*", metavar="PROFILE=RUNS",
                        help="a stages' runs folder or a JSON of stage histories, of one training "
                             "at a time (jobs: 1)")
    parser.add_argument("--source", default="bench/gpu_session.sh")
    args = parser.parse_args(argv)

    def load(pairs):
        return {p: [json.load(open(path)) for path in paths] for p, paths in pairs.items()}

    named = {"--train": _pairs(args.train, "--train"),
             "--supernet": _pairs(args.supernet, "--supernet", several=True),
             "--fit": _pairs(args.fit, "--fit", several=True), "--jobs": _pairs(args.jobs, "--jobs", several=True)}
    loaded = {opt: load(pairs) for opt, pairs in named.items()}
    warmup = {p: [histories(path) for path in paths]
              for p, paths in _pairs(args.warmup, "--warmup", several=True).items()}
    problems = mismatches(
        [(f"{opt} {p}={path}", p, bench) for opt, pairs in named.items()
         for p, paths in pairs.items() for path, bench in zip(paths, loaded[opt][p], strict=True)],
        [(f"--warmup {p}={path}", found)
         for p, paths in _pairs(args.warmup, "--warmup", several=True).items()
         for path, found in zip(paths, warmup[p], strict=True)])
    if problems:
        raise SystemExit("make_rates: one rates file is one device at each profile's sizes:\n  "
                         + "\n  ".join(problems))
    rates = build({p: files[0] for p, files in loaded["--train"].items()}, loaded["--supernet"],
                  loaded["--fit"], args.source,
                  loaded["--jobs"], warmup)
    with open(args.out, "w") as fh:
        json.dump(rates, fh, indent=1)
    print(f"{args.out}: {rates['device']}, profiles {', '.join(rates['profiles'])}")


if __name__ == "__main__":
    main()
