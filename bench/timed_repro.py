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

This is how the issue's "per-stage times, measured where a device was lent" is filled in for a
whole profile: ``make profile P=gpu && python bench/timed_repro.py reports/stage_times.json
--rates bench/results_gpu/rates_h200.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
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
    """Whether the run's device (``cuda (NVIDIA H200)``) is the rates' (``NVIDIA H200``)."""
    return bool(rates_device) and rates_device.lower() in run_device.lower()


def markdown(record: dict) -> str:
    """The stage table of a record, as docs/pipeline.md shows it."""
    projected = any("projected_s" in r for r in record["stages"])
    head = ["dvc stage", "status", "measured s"] + (["projected s", "measured / projected"]
                                                    if projected else [])
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

    def save(stages: StageClock) -> None:
        rows = stages.rows
        record["stages"] = with_projection(rows, projection) if projection is not None else rows
        write_json(out, record)  # atomic: a killed run leaves the last stage's record

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        stages = clock_lines(proc.stdout, echo=lambda s: print(s, end="", flush=True), on_row=save)
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
