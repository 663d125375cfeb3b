"""`dvc repro` with each stage's wall time recorded, beside its projection where rates are given.

    python bench/timed_repro.py OUT.json [--rates bench/results_gpu/rates_h200.json] [-- DVC ARGS]

Runs ``dvc repro`` (extra arguments after ``--`` are passed on, e.g. ``-- tables``), echoes its
output, and times each stage from its ``Running stage 'NAME':`` line to the next stage's line
(or to the end): the notebook, DVC's hashing of the stage's outputs and the lock-file update
are inside a stage's time (DVC's check of the next stage's dependencies too). Stages DVC skips
(``didn't change``) or restores from its run cache are listed with no time.
Writes ``OUT.json`` after every stage (the device, the profile of ``params.yaml``, its ``jobs``,
the rc, and one row per stage), and ``OUT.md`` at the end: the table that docs/pipeline.md
shows for a measured profile. With ``--rates`` each family stage's projected seconds
(:func:`bnnlib.cost.project` of the same ``params.yaml``) and measured / projected are added;
the projection counts what it says it counts (docs/gpu.md), so the ratio shows what it left
out (process start-up, checkpoint and DVC I/O).

Disk use is sampled too (``--disk-every`` seconds, 10 by default; 0: not at all): the bytes
on disk of ``runs/`` and of DVC's cache (``.dvc/cache``; DVC copies every output there unless
the filesystem can share blocks), each file counted once, and the free space of the
filesystem. Each stage row gets the sizes when it ended (``disk_gb``), and the record the peaks
of the samples (``disk``): a profile whose checkpoints outgrow the device's disk shows it
before it fails there.

This is how the issue's "per-stage times, measured where a device was lent" is filled in for a
whole profile: ``make profile P=gpu && python bench/timed_repro.py reports/stage_times.json
--rates bench/results_gpu/rates_h200.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

RUNNING = re.compile(r"^Running stage '([^']+)':")
SKIPPED = re.compile(r"^Stage '([^']+)' didn't change, skipping")
RESTORED = re.compile(r"^Stage '([^']+)' is cached - skipping run")  # DVC's run cache
#: dvc stage name -> (stage, family) for the per-family stages (``uniform_groups@mobilenet_m1``)
FAMILY_STAGE = re.compile(r"^(?P<stage>[a-z]+)_(?:groups|widths)@(?P<family>[A-Za-z0-9_]+)$")


class StageClock:
    """Stage rows from ``dvc repro`` output lines, fed one at a time with their times."""

    def __init__(self):
        self.rows: list[dict] = []
        self._open: dict | None = None

    def feed(self, line: str, now: float) -> bool:
        """Take one output line seen at ``now`` (seconds); True when a row was closed or added."""
        line = line.strip()
        running = RUNNING.match(line)
        if running:
            self.close(now, "ran")
            self._open = {"dvc_stage": running.group(1), "began": now}
            return True
        for pattern, status in ((SKIPPED, "skipped"), (RESTORED, "restored")):
            found = pattern.match(line)
            if found:
                self.close(now, "ran")
                self.rows.append(_row(found.group(1), None, status))
                return True
        return False

    def close(self, now: float, status: str) -> bool:
        """End the stage that is running (``status``: ``ran``, or ``failed`` at a bad exit)."""
        if self._open is None:
            return False
        self.rows.append(_row(self._open["dvc_stage"], now - self._open["began"], status))
        self._open = None
        return True


def _row(dvc_stage: str, seconds: float | None, status: str) -> dict:
    m = FAMILY_STAGE.match(dvc_stage)
    return {"dvc_stage": dvc_stage, "stage": m.group("stage") if m else dvc_stage,
            "family": m.group("family") if m else None, "status": status,
            "seconds": None if seconds is None else round(seconds, 2)}


def clock_lines(lines: Iterable[str], clock=time.perf_counter, echo=None,
                on_row=None) -> StageClock:
    """Time the stages of an output stream (the last one stays open: see `StageClock.close`);
    ``on_row(stages)`` after each stage that starts or is skipped."""
    stages = StageClock()
    for line in lines:
        if echo is not None:
            echo(line)
        if stages.feed(line, clock()) and on_row is not None:
            on_row(stages)
    return stages


#: what the disk samples measure (name -> path under the repository root)
DISK_PATHS = {"runs": "runs", "cache": ".dvc/cache"}


def bytes_on_disk(roots: Iterable[str | os.PathLike]) -> int:
    """Bytes the files under ``roots`` take on disk, each file (inode) counted once, however
    many links or roots reach it; a missing root counts 0, a file that vanishes meanwhile too."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                try:
                    st = os.lstat(os.path.join(folder, name))
                except FileNotFoundError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def disk_sample(paths: dict[str, str] = DISK_PATHS, where: str = ".") -> dict[str, float]:
    """GB on disk of each of ``paths``, of all of them together (a file two of them share
    counted once) and free on the filesystem of ``where``."""
    gb = 1e9
    sample = {name: round(bytes_on_disk([path]) / gb, 3) for name, path in paths.items()}
    sample["together"] = round(bytes_on_disk(paths.values()) / gb, 3)
    sample["free"] = round(shutil.disk_usage(where).free / gb, 3)
    return sample


class DiskWatch:
    """Samples :func:`disk_sample` every ``every`` seconds in a thread, keeping the peaks (the
    least free space) and the latest sample."""

    def __init__(self, every: float, sample=disk_sample):
        self.every, self._sample = every, sample
        self.latest: dict[str, float] | None = None
        self.peak: dict[str, float] = {}
        self.samples = 0
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def take(self) -> dict[str, float]:
        """One sample now, counted in the peaks."""
        s = self._sample()
        with self._lock:
            self.latest, self.samples = s, self.samples + 1
            for key, value in s.items():
                worse = min if key == "free" else max
                self.peak[key] = worse(self.peak.get(key, value), value)
        return s

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.take()

    def __enter__(self) -> DiskWatch:
        self.take()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.take()

    def summary(self) -> dict:
        with self._lock:
            return {"every_s": self.every, "samples": self.samples, "paths": DISK_PATHS,
                    "peak_gb": {k: v for k, v in self.peak.items() if k != "free"},
                    "least_free_gb": self.peak.get("free"), "end_gb": self.latest}


def with_projection(rows: list[dict], projection) -> list[dict]:
    """``rows`` with ``projected_s`` and ``measured_over_projected`` where the projection has
    the row's (family, stage)."""
    hours = {(r["family"], r["stage"]): r["hours"] for r in projection.to_dict(orient="records")}
    out = []
    for row in rows:
        row = dict(row)
        h = hours.get((row["family"], row["stage"]))
        row["projected_s"] = None if h is None else round(h * 3600, 2)
        row["measured_over_projected"] = (round(row["seconds"] / (h * 3600), 2)
                                          if h and row["seconds"] is not None else None)
        out.append(row)
    return out


def same_device(run_device: str, rates_device: str | None) -> bool:
    """Whether the run's device (``cuda (NVIDIA H200)``) is the rates' (``NVIDIA H200``), as
    ``make_rates`` compares them; False without rates."""
    from make_rates import same_device as same  # bench/, beside this script

    return bool(rates_device) and same(run_device, rates_device)


def markdown(record: dict) -> str:
    """The stage table of a record, as docs/pipeline.md shows it."""
    projected = any("projected_s" in r for r in record["stages"])
    disk = any("disk_gb" in r for r in record["stages"])
    head = ["dvc stage", "status", "measured s"] + (["projected s", "measured / projected"]
                                                    if projected else [])
    head += ["runs/ GB", "cache GB"] if disk else []
    lines = [f"`dvc repro` of profile `{record['profile']}` (jobs {record['jobs']}) on "
             f"{record['device']}: {record['total_s']:.0f} s in all, rc {record['rc']}"
             + (f"; projected with {record['rates']} ({record['rates_device']})" if projected else ""),
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(v, fmt):
        return "" if v is None else format(v, fmt)

    for r in record["stages"]:
        cells = [r["dvc_stage"], r["status"], cell(r["seconds"], ".1f")]
        if projected:
            cells += [cell(r.get("projected_s"), ".1f"), cell(r.get("measured_over_projected"), ".2f")]
        if disk:
            d = r.get("disk_gb") or {}
            cells += [cell(d.get("runs"), ".2f"), cell(d.get("cache"), ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    count = {k: sum(r["status"] == k for r in record["stages"])
             for k in ("ran", "failed", "skipped", "restored")}
    seconds = sum(r["seconds"] for r in record["stages"] if r["seconds"] is not None)
    lines += ["", f"{count['ran']} stages ran and {count['failed']} failed ({seconds:.0f} s); "
              f"{count['skipped']} skipped as unchanged, {count['restored']} restored from DVC's "
              f"run cache."]
    if record.get("projected_total_s") is not None:
        lines[-1] += f" The projection of the whole profile: {record['projected_total_s']:.0f} s."
        if not same_device(record["device"], record["rates_device"]):
            lines[-1] += (f" The rates were measured on {record['rates_device']}, not on this run's "
                          f"device: the ratios compare two devices, not the projection with "
                          f"its run.")
    summary = record.get("disk")
    if summary and summary.get("samples"):
        peak = summary["peak_gb"]
        lines += ["", f"Disk (sampled every {summary['every_s']:g} s, {summary['samples']} "
                  f"samples): at the peak `runs/` {peak['runs']:.2f} GB, DVC's cache "
                  f"{peak['cache']:.2f} GB, {peak['together']:.2f} GB together; the least free "
                  f"space {summary['least_free_gb']:.2f} GB."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    dvc_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="JSON file to write (and OUT.md beside it)")
    parser.add_argument("--rates", default=None, help="rates JSON: add each stage's projection")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dvc", default=None, help="the dvc command (default: python -m dvc)")
    parser.add_argument("--disk-every", type=float, default=10.0,
                        help="seconds between disk samples of runs/ and .dvc/cache (0: none)")
    args = parser.parse_args(argv)

    from bnnlib import cost, settings
    from bnnlib.stages.common import device_description
    from bnnlib.utils import write_json

    params = settings.load(args.params)  # a bad file fails here, before anything runs
    projection = rates = None
    if args.rates:
        rates = cost.load_rates(args.rates)
        projection = cost.project(params, rates)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = (args.dvc.split() if args.dvc else [sys.executable, "-m", "dvc"]) + ["repro", *dvc_args]
    record = {"command": " ".join(command), "device": device_description(),
              "profile": params.profile, "jobs": params.jobs, "params": args.params,
              "rates": args.rates, "rates_device": rates.device if rates else None,
              "projected_total_s": (None if projection is None else round(
                  float(projection[projection["family"] == "all"]["hours"].iloc[0]) * 3600, 1)),
              "began": time.strftime("%Y-%m-%dT%H:%M:%S"), "rc": None, "total_s": None,
              "stages": []}
    t0 = time.perf_counter()
    watch = DiskWatch(args.disk_every) if args.disk_every > 0 else None

    def save(stages: StageClock) -> None:
        rows = stages.rows
        if watch is not None:
            sample = None
            for row in rows:  # rows that ended since the last save: the sizes now
                if "disk_gb" not in row:
                    row["disk_gb"] = sample = sample or watch.take()
            record["disk"] = watch.summary()
        record["stages"] = with_projection(rows, projection) if projection is not None else rows
        write_json(out, record)  # atomic: a killed run leaves the last stage's record

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    with watch if watch is not None else contextlib.nullcontext():
        try:
            stages = clock_lines(proc.stdout, echo=lambda s: print(s, end="", flush=True),
                                 on_row=save)
        except BaseException:
            proc.terminate()  # never leave dvc running unrecorded (Ctrl-C reaches it anyway)
            proc.wait()
            raise
        rc = proc.wait()
    stages.close(time.perf_counter(), "ran" if rc == 0 else "failed")
    record.update(rc=rc, total_s=round(time.perf_counter() - t0, 1))
    save(stages)
    out.with_suffix(".md").write_text(markdown(record), encoding="utf-8")
    print(f"\nstage times: {out} and {out.with_suffix('.md')}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
