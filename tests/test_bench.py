"""The benchmark scripts run end to end on tiny settings and time the profile's model sizes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_checkpoint_memory  # noqa: E402
import bench_fit  # noqa: E402
import bench_jobs  # noqa: E402
import bench_supernet  # noqa: E402
import bench_train  # noqa: E402
import derive_params  # noqa: E402
from sizes import profile_input, profile_kwargs  # noqa: E402


def test_profile_kwargs_reads_the_profiles():
    assert profile_kwargs("vgg_small", "cpu") == {"width_mult": 0.0625}
    assert profile_kwargs("resnet18", "cpu") == {"width_mult": 0.0625, "small_input": True}
    assert profile_kwargs("resnet18", "smoke")["small_input"] is False
    assert profile_kwargs("mobilenet_m2", "cpu") == {"width_mult": 0.5, "small_input": False}
    assert profile_kwargs("mobilenet_m1", "paper")["width_mult"] == 1.0
    assert profile_kwargs("mobilenet_m3", "gpu") == {"width_mult": 1.0, "small_input": True}
    assert profile_kwargs("resnet18", "gpu") == {"width_mult": 1.0, "small_input": True}


def test_profile_input_is_the_profiles_dataset_and_batch():
    assert profile_input("vgg_small", "gpu") == {"shape": (1, 28, 28), "classes": 10,
                                                 "batch_size": 512, "dataset": "fashion_mnist"}
    assert profile_input("vgg_small", "paper")["shape"] == (3, 32, 32)
    paper = profile_input("mobilenet_m1", "paper")
    assert paper["shape"] == (3, 224, 224) and paper["classes"] == 1000 and paper["batch_size"] == 512


def test_profile_kwargs_bad_input():
    with pytest.raises(ValueError, match=r"unknown profile 'tpu'.*'cpu'.*'gpu'.*'paper'.*'smoke'"):
        profile_kwargs("vgg_small", "tpu")
    with pytest.raises(ValueError, match=r"family 'alexnet' is not in profile 'cpu'.*mobilenet_m1"):
        profile_kwargs("alexnet", "cpu")


def test_bench_train_runs(tmp_path):
    out = tmp_path / "train.json"
    rows = bench_train.main(["--models", "vgg_small", "mobilenet_m3", "--batch-size", "8",
                             "--steps", "1", "--rounds", "1", "--warmup", "1",
                             "--json", str(out)])
    assert [r["model"] for r in rows] == ["vgg_small", "mobilenet_m3"]
    assert rows[0]["kwargs"]["width_mult"] == 0.0625 and rows[0]["kwargs"]["expansion"] == 4.0
    assert all(r["binary_ms"] > 0 and r["real_ms"] > 0 and r["ratio"] > 0 for r in rows)
    assert rows[0]["input"] == [1, 28, 28] and rows[0]["batch"] == 8
    # TFLOP/s = 6 x MACs x batch / step time, MACs of the model counted as real ones
    r = rows[0]
    assert r["binary_tflops"] == pytest.approx(6 * r["macs"] * 8 / (r["binary_ms"] / 1e3) / 1e12)
    assert json.loads(out.read_text())["rows"] == rows  # the file holds what was printed


def test_bench_supernet_runs(tmp_path):
    out = tmp_path / "supernet.json"
    rows = bench_supernet.main(["--families", "mobilenet_m1", "vgg_small", "--genomes", "1",
                                "--steps", "1", "--batch", "8", "--calib", "16", "--val", "16",
                                "--evals", "1", "--group-conv", "grouped", "dense",
                                "--json", str(out)])
    assert [r["family"] for r in rows] == ["mobilenet_m1", "vgg_small"]
    for r in rows:
        assert r["supernet_step_ms"] > 0 and r["static_step_ms"] > 0
        assert r["evaluations_per_min"] > 0
    assert rows[0]["candidates"].startswith("within MaxFLOPs") and rows[1]["candidates"] == "uniform"
    # dense scoring timed for the groups study only (the widths supernets have no groups)
    assert list(rows[0]["evaluations_per_min_by_setting"]) == ["autotune0_batch256",
                                                               "autotune0_batch256_dense"]
    assert list(rows[1]["evaluations_per_min_by_setting"]) == ["autotune0_batch256"]
    meta = json.loads(out.read_text())["meta"]
    assert meta["group_conv"] == ["grouped", "dense"] and meta["BNNLIB_DENSE_GROUPS"] == "0"


def test_bench_candidates_are_drawn_as_the_search_draws_them():
    """Groups study: within the profile's MaxFLOPs (M1's budget sits near its groups = 16 end,
    which uniform draws rarely reach); widths study and --unconstrained: uniform."""
    import numpy as np

    from bnnlib import supernet
    from bnnlib.stages.search import budget

    inp = profile_input("mobilenet_m1", "cpu")
    sn = supernet.build("mobilenet_m1", num_classes=10, in_channels=1,
                        **profile_kwargs("mobilenet_m1", "cpu"))
    view = bench_supernet.settings.view("search", "mobilenet_m1", bench_supernet.PROFILES / "cpu.yaml",
                                        root=bench_supernet.PROFILES.parent)
    max_ops = budget(view, sn)
    drawn, how = bench_supernet.search_candidates("mobilenet_m1", sn, inp["shape"], "cpu",
                                                  np.random.default_rng(0), 8)
    assert how == f"within MaxFLOPs {max_ops:.4g}" and len(set(drawn)) == 8
    assert all(sn.ops(g, inp["shape"]) <= max_ops for g in drawn)
    free, how = bench_supernet.search_candidates("mobilenet_m1", sn, inp["shape"], "cpu",
                                                 np.random.default_rng(0), 8, unconstrained=True)
    assert how == "uniform" and any(sn.ops(g, inp["shape"]) > max_ops for g in free)


def test_bench_train_one_row_per_size_at_paper_input():
    rows = bench_train.main(["--models", "vgg_small", "--sizes", "paper", "--width-mult", "0.0625",
                             "--expansion", "1", "2", "--batch-size", "2", "--steps", "1",
                             "--rounds", "1", "--warmup", "1"])
    assert [r["kwargs"]["expansion"] for r in rows] == [1.0, 2.0]
    assert rows[0]["input"] == [3, 32, 32]
    assert rows[1]["macs"] > 3.5 * rows[0]["macs"]  # twice the widths: about 4x the MACs


def test_bench_fit_runs(tmp_path):
    rows = bench_fit.main(["--families", "vgg_small", "--images", "64", "--epochs", "2",
                           "--batch", "16", "--json", str(tmp_path / "fit.json")])
    assert rows[0]["fit_img_s"] > 0 and rows[0]["bare_img_s"] > 0
    assert rows[0]["fit_over_bare"] == pytest.approx(rows[0]["fit_img_s"] / rows[0]["bare_img_s"])


def test_bench_jobs_times_the_same_trainings_one_after_another_and_at_once(tmp_path):
    rows = bench_jobs.main(["--families", "vgg_small", "--images", "32", "--epochs", "1",
                            "--batch", "16", "--trainings", "2", "--jobs", "2",
                            "--json", str(tmp_path / "jobs.json")])
    (row,) = rows
    assert row["trainings"] == 2 and row["images"] == 64 and set(row["jobs"]) == {"2"}
    assert row["jobs"]["2"]["speedup"] == pytest.approx(row["serial_s"] / row["jobs"]["2"]["wall_s"])
    assert json.loads((tmp_path / "jobs.json").read_text())["rows"] == rows


def test_steady_speedup_is_the_serial_seconds_over_the_span_at_once():
    serial = [{"seconds": 10.0}, {"seconds": 10.0}, {"seconds": 10.0}]
    # three at once, started 2 s apart: 14 s from the first start to the last end
    shared = [{"seconds": 10.0, "began": 100.0 + 2 * i, "ended": 110.0 + 2 * i} for i in range(3)]
    out = bench_jobs.steady(serial, shared)
    assert out["span_s"] == pytest.approx(14.0)
    assert out["steady_speedup"] == pytest.approx(30.0 / 14.0)  # not 3 x 10 / 10 = 3
    assert out["training_s"] == pytest.approx(10.0)
    # one after another in three processes: no gain
    chain = [{"seconds": 10.0, "began": 10.0 * i, "ended": 10.0 * i + 10.0} for i in range(3)]
    assert bench_jobs.steady(serial, chain)["steady_speedup"] == pytest.approx(1.0)


def test_derive_params_changes_only_what_it_says(tmp_path):
    import yaml

    from bnnlib import settings

    src = Path(__file__).resolve().parent.parent / "profiles" / "gpu.yaml"
    raw = yaml.safe_load(src.read_text())
    one = derive_params.derive(raw, seeds=[0])
    assert one["seeds"] == [0] and {k: v for k, v in one.items() if k != "seeds"} == {
        k: v for k, v in raw.items() if k != "seeds"}
    tiny = derive_params.derive(raw, tiny=True)
    assert tiny["widths"]["families"]["resnet18"]["epochs"]["retrain"] == 1
    assert settings.unspelled(tiny) == {}  # dvc repro runs on it: no key left to a default
    assert tiny["groups"]["epochs"]["fig5"] is None
    assert tiny["groups"]["epochs"]["uniform"] == 1 and tiny["data"]["train_subset"] == 256
    settings.from_dict(tiny)
    from bnnlib.models import build
    from bnnlib.stages.uniform import VARIANTS, variant_kwargs

    for variant in VARIANTS["groups"]:  # every uniform row of the groups study builds at toy width
        build("mobilenet_m1", **variant_kwargs("mobilenet_m1", "groups", variant,
                                               tiny["groups"]["model"]["width_mult"]))
    wide = derive_params.derive(raw, tiny=True, keep_widths=True)  # toy sizes, the gpu widths
    assert wide["groups"]["model"] == raw["groups"]["model"]
    assert wide["widths"]["families"]["vgg_small"]["width_mult"] == 1.0
    assert wide["data"] == tiny["data"] and wide["groups"]["search"] == tiny["groups"]["search"]
    with pytest.raises(ValueError, match="keep_widths only qualifies tiny"):
        derive_params.derive(raw, keep_widths=True)
    with pytest.raises(settings.SettingsError, match="seeds"):
        derive_params.derive(raw, seeds=[-1])
    one_job = derive_params.derive(raw, top={"jobs": 1})  # any stage's params may hold it
    assert one_job["jobs"] == 1 and one_job["groups"] == raw["groups"]
    with pytest.raises(settings.SettingsError, match="--set groups: not a top-level setting"):
        derive_params.derive(raw, top={"groups": 1})
    with pytest.raises(settings.SettingsError, match="jobs"):
        derive_params.derive(raw, top={"jobs": 0})


def test_make_rates_from_benchmark_outputs(tmp_path):
    import make_rates

    from bnnlib import cost

    train = {"device": "GPU X", "torch": "2.11", "rows": [
        {"model": "vgg_small", "ops": 2e6, "binary_img_s": 1000.0},
        {"model": "vgg_small", "ops": 1e6, "binary_img_s": 3000.0}]}
    supernet = {"meta": {"calib_images": 500, "val_images": 1000}, "rows": [
        {"family": "vgg_small", "ratio_median": 1.2, "evaluations_per_min": 60.0,
         "evaluations_per_min_by_setting": {"autotune0_batch256": 60.0, "autotune0_batch1000": 120.0,
                                            "autotune1_batch1000": 240.0}}]}
    fit = {"rows": [{"family": "vgg_small", "fit_over_bare": 0.5}]}
    jobs = {"rows": [{"family": "vgg_small", "jobs": {"2": {"steady_speedup": 1.6, "speedup": 1.1},
                                                      "3": {"steady_speedup": 2.1, "speedup": 1.4}}}]}
    rates = make_rates.build({"gpu": train}, {"gpu": supernet}, {"gpu": fit}, "test", {"gpu": jobs})
    fam = rates["profiles"]["gpu"]["vgg_small"]
    assert fam["jobs_speedup"] == {"2": 1.6, "3": 2.1}  # the steady speedups
    assert fam["train"] == [{"ops": 1e6, "img_s": 1500.0}, {"ops": 2e6, "img_s": 500.0}]
    assert fam["supernet_over_static"] == 1.2
    # the faster batch with autotuning off, as the search scores (not the autotuned 240 / min)
    assert fam["candidate_s"] == 0.5 and fam["candidate_images"] == 1500
    assert rates["device"] == "GPU X"
    path = tmp_path / "rates.json"
    path.write_text(json.dumps(rates))
    assert cost.load_rates(path).profile("gpu")["vgg_small"].speedup(3) == 2.1  # valid for the projection

    # a later session re-measured the one-shot rate at other image counts: its row replaces
    again = {"meta": {"calib_images": 1000, "val_images": 5000}, "rows": [
        {"family": "vgg_small", "ratio_median": 1.05, "evaluations_per_min": 300.0}]}
    fam = make_rates.build({"gpu": train}, {"gpu": [supernet, again]})["profiles"]["gpu"]["vgg_small"]
    assert fam["candidate_s"] == 0.2 and fam["candidate_images"] == 6000
    assert fam["supernet_over_static"] == 1.05


def test_warmups_are_the_mean_first_epoch_excess_per_family():
    import make_rates

    def history(*seconds):
        return [{"epoch": i + 1, "seconds": s} for i, s in enumerate(seconds)]

    runs = {"uniform/vgg_small/fp/seed0": history(12.0, 2.0, 3.0, 2.0),   # 12 - median 2 = 10
            "uniform/vgg_small/uniform1x/seed0": history(12.0, 2.0, 2.0), # 10
            "retrain/vgg_small/auto_a/seed0": history(6.0, 2.0, 2.0),     # 4
            "supernet/vgg_small": history(40.0, 5.0, 4.0, 3.0),           # 36
            "uniform/vgg_small/fp/seed0 (result)": {"test_top1": 0.9},    # not a history
            "uniform/resnet18/uniform1x/seed0": history(5.0)}             # one epoch: no excess
    assert make_rates.warmups([runs]) == {
        "vgg_small": {"warmup_s": 7.0, "fp_warmup_s": 10.0, "supernet_warmup_s": 36.0}}
    train = {"device": "GPU X", "rows": [{"model": "vgg_small", "ops": 1e6, "binary_img_s": 3000.0},
                                         {"model": "resnet18", "ops": 1e6, "binary_img_s": 3000.0}]}
    rates = make_rates.build({"gpu": train}, warmup={"gpu": [runs]})["profiles"]["gpu"]
    assert rates["vgg_small"]["warmup_s"] == 7.0 and "warmup_s" not in rates["resnet18"]


def test_warmup_histories_are_read_from_a_stages_runs_folder(tmp_path):
    import make_rates

    runs = tmp_path / "runs"
    for name, seconds in (("uniform/vgg_small/uniform1x/seed0", [9.0, 1.0, 1.0]),
                          ("supernet/vgg_small", [30.0, 2.0, 2.0])):
        (runs / name).mkdir(parents=True)
        (runs / name / "history.json").write_text(json.dumps([{"seconds": x} for x in seconds]))
        (runs / name / "result.json").write_text(json.dumps({"device": "cuda (GPU X)"}))
    found = make_rates.histories(runs)
    names = {"uniform/vgg_small/uniform1x/seed0", "supernet/vgg_small"}
    assert set(found) == names | {f"{n} (result)" for n in names}  # results: the device
    assert make_rates.warmups([found]) == {"vgg_small": {"warmup_s": 8.0, "supernet_warmup_s": 28.0}}
    (tmp_path / "train.json").write_text(json.dumps(
        {"device": "GPU X", "rows": [{"model": "vgg_small", "ops": 1e6, "binary_img_s": 3000.0}]}))
    out = tmp_path / "rates.json"
    make_rates.main([str(out), "--train", f"gpu={tmp_path / 'train.json'}", "--warmup", f"gpu={runs}"])
    assert json.loads(out.read_text())["profiles"]["gpu"]["vgg_small"]["warmup_s"] == 8.0

    # histories of stages run on another device make no rates file of GPU X
    (runs / "supernet/vgg_small/result.json").write_text(json.dumps({"device": "cpu (2 cores, x86_64)"}))
    with pytest.raises(SystemExit, match=r"--warmup gpu=.*runs: stages run on 'cpu \(2 cores, "
                                         r"x86_64\)', not 'GPU X'"):
        make_rates.main([str(tmp_path / "other.json"), "--train", f"gpu={tmp_path / 'train.json'}",
                         "--warmup", f"gpu={runs}"])
    assert not (tmp_path / "other.json").exists()


def test_make_rates_refuses_files_of_other_devices_or_sizes(tmp_path):
    import make_rates

    assert make_rates.same_device("NVIDIA H200", "cuda (NVIDIA H200)")
    assert make_rates.same_device("x86_64, 2 threads", "cpu (2 cores, x86_64)")
    assert not make_rates.same_device("NVIDIA H200", "cuda (NVIDIA H100 80GB HBM3)")
    assert not make_rates.same_device("NVIDIA H200", "x86_64, 16 threads")

    train = {"device": "NVIDIA H200", "sizes": "gpu", "rows": []}
    paper = {"device": "NVIDIA H200", "sizes": "paper", "rows": []}
    rehearsal = {"meta": {"machine": "x86_64, 2 threads", "profile": "cpu"}, "rows": []}
    h100 = {"device": "NVIDIA H100 80GB HBM3", "sizes": "gpu", "rows": []}
    old = {"rows": []}  # records neither: not checked
    assert make_rates.mismatches([("t", "gpu", train), ("p", "paper", paper), ("o", "gpu", old)]) == []
    assert make_rates.mismatches([("t", "gpu", train), ("s", "gpu", rehearsal), ("j", "gpu", h100),
                                  ("q", "gpu", paper)]) == [
        "s: measured on 'x86_64, 2 threads', not 'NVIDIA H200'",
        "s: measured at the 'cpu' sizes, given for profile 'gpu'",
        "j: measured on 'NVIDIA H100 80GB HBM3', not 'NVIDIA H200'",
        "q: measured at the 'paper' sizes, given for profile 'gpu'"]
    runs = {"uniform/m/x/seed0": [], "uniform/m/x/seed0 (result)": {"device": "cuda (NVIDIA H200)"}}
    assert make_rates.mismatches([("t", "gpu", train)], [("w", runs)]) == []

    for name, bench in (("train.json", train), ("supernet.json", rehearsal)):
        (tmp_path / name).write_text(json.dumps(bench))
    with pytest.raises(SystemExit, match=r"--supernet gpu=\S*supernet.json: measured on 'x86_64"):
        make_rates.main([str(tmp_path / "rates.json"), "--train", f"gpu={tmp_path / 'train.json'}",
                         "--supernet", f"gpu={tmp_path / 'supernet.json'}"])
    assert not (tmp_path / "rates.json").exists()

    # the H200 rates file in the repository is what its own files give, unchanged by the check
    results = ROOT / "bench" / "results_gpu"
    saved = json.loads((results / "rates_h200.json").read_text())
    out = tmp_path / "again.json"
    make_rates.main([str(out), "--train", f"gpu={results / 'train_gpu_h200.json'}",
                     f"paper={results / 'train_paper_h200.json'}",
                     "--supernet", *(f"gpu={results / f'supernet_gpu_h200_{run}.json'}"
                                     for run in ("run2", "run3", "run4", "run5_grouped", "run5_dense")),
                     f"paper={results / 'supernet_paper_h200.json'}",
                     "--fit", f"gpu={results / 'fit_gpu_h200.json'}",
                     f"gpu={results / 'fit_gpu_h200_run2.json'}",
                     "--jobs", f"gpu={results / 'jobs_gpu_h200.json'}",
                     f"gpu={results / 'jobs_gpu_h200_run2.json'}",
                     "--warmup", f"gpu={results / 'stage_histories_h200.json'}",
                     f"gpu={results / 'stage_uniform_m1_jobs1_h200.json'}", "--source", saved["source"]])
    assert json.loads(out.read_text()) == saved


def test_make_rates_keeps_dense_scoring_apart_and_no_step_ratio_of_dense_steps():
    """bench_supernet's keys ending in _dense give candidate_s_dense (grouped keys candidate_s),
    a later file replaces only the modes it measured, and a file whose steps ran with
    BNNLIB_DENSE_GROUPS=1 gives no supernet/static ratio (supernet training runs grouped)."""
    import make_rates

    train = {"device": "GPU X", "torch": "2.11", "rows": [
        {"model": "mobilenet_m1", "ops": 1e6, "binary_img_s": 3000.0}]}
    grouped = {"meta": {"calib_images": 1000, "val_images": 5000}, "rows": [
        {"family": "mobilenet_m1", "ratio_median": 1.1, "evaluations_per_min": 300.0,
         "evaluations_per_min_by_setting": {"autotune0_batch1000": 200.0,
                                            "autotune0_batch5000": 300.0,
                                            "autotune1_batch5000": 600.0}}]}
    dense = {"meta": {"calib_images": 500, "val_images": 1000, "BNNLIB_DENSE_GROUPS": "1"},
             "rows": [{"family": "mobilenet_m1", "ratio_median": 0.9, "evaluations_per_min": 1200.0,
                       "evaluations_per_min_by_setting": {"autotune0_batch5000_dense": 1200.0}}]}
    fam = make_rates.build({"gpu": train}, {"gpu": [grouped, dense]})["profiles"]["gpu"]["mobilenet_m1"]
    assert fam["supernet_over_static"] == 1.1  # not the dense file's 0.9
    assert fam["candidate_s"] == pytest.approx(60 / 300) and fam["candidate_images"] == 6000
    assert fam["candidate_s_dense"] == pytest.approx(60 / 1200) and fam["candidate_images_dense"] == 1500
    both = {"meta": {"calib_images": 1000, "val_images": 5000}, "rows": [
        {"family": "mobilenet_m1", "ratio_median": 1.2, "evaluations_per_min": 400.0,
         "evaluations_per_min_by_setting": {"autotune0_batch5000": 400.0,
                                            "autotune0_batch5000_dense": 1000.0}}]}
    fam = make_rates.build({"gpu": train}, {"gpu": [grouped, dense, both]})["profiles"]["gpu"]["mobilenet_m1"]
    assert (fam["supernet_over_static"], fam["candidate_s"], fam["candidate_s_dense"]) == (
        1.2, pytest.approx(60 / 400), pytest.approx(60 / 1000))
    assert fam["candidate_images_dense"] == 6000


def test_make_rates_cli_merges_supernet_files_and_refuses_two_train_files(tmp_path):
    import make_rates

    train = {"device": "GPU X", "torch": "2.11", "rows": [
        {"model": "vgg_small", "ops": 1e6, "binary_img_s": 3000.0}]}
    first = {"meta": {"calib_images": 500, "val_images": 1000}, "rows": [
        {"family": "vgg_small", "ratio_median": 1.2, "evaluations_per_min": 60.0}]}
    second = {"meta": {"calib_images": 1000, "val_images": 5000}, "rows": []}
    for name, data in (("t", train), ("s1", first), ("s2", second)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    out = tmp_path / "rates.json"
    make_rates.main([str(out), "--train", f"gpu={tmp_path / 't.json'}", "--supernet",
                     f"gpu={tmp_path / 's1.json'}", f"gpu={tmp_path / 's2.json'}"])
    fam = json.loads(out.read_text())["profiles"]["gpu"]["vgg_small"]
    assert fam["candidate_s"] == 1.0 and fam["candidate_images"] == 1500  # s2 has no row for it
    with pytest.raises(SystemExit, match="named twice"):
        make_rates.main([str(out), "--train", f"gpu={tmp_path / 't.json'}",
                         f"gpu={tmp_path / 't.json'}"])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux /proc)")
def test_checkpoint_chunks_use_less_memory_than_a_joined_copy():
    """save_checksummed writes no joined copy of the payload: with a 128 MB run state the
    joined write peaks about one payload copy higher (a memory count, not a time)."""
    joined = bench_checkpoint_memory.peak_mb(128, "joined")
    chunks = bench_checkpoint_memory.peak_mb(128, "chunks")
    assert joined >= chunks + 96, (joined, chunks)


def test_timed_repro_times_each_stage_from_its_line_to_the_next():
    import timed_repro

    lines = ["Running stage 'params':", "> python -m bnnlib.settings params.yaml",
             "Stage 'data' didn't change, skipping",
             "Running stage 'uniform_groups@mobilenet_m1':", "epoch 1 ...",
             "Stage 'supernet_widths@vgg_small' is cached - skipping run, checking out outputs",
             "Running stage 'tables':"]
    ticks = iter([0.0, 1.0, 3.0, 4.0, 10.0, 25.0, 26.0])
    seen = []
    stages = timed_repro.clock_lines(lines, clock=lambda: next(ticks),
                                     on_row=lambda c: seen.append(len(c.rows)))
    stages.close(30.0, "failed")
    rows = stages.rows
    assert [(r["dvc_stage"], r["status"], r["seconds"]) for r in rows] == [
        ("params", "ran", 3.0), ("data", "skipped", None),
        ("uniform_groups@mobilenet_m1", "ran", 21.0),
        ("supernet_widths@vgg_small", "restored", None), ("tables", "failed", 4.0)]
    assert (rows[2]["stage"], rows[2]["family"]) == ("uniform", "mobilenet_m1")
    assert (rows[0]["stage"], rows[0]["family"]) == ("params", None)
    assert seen == [0, 2, 2, 4, 4]  # a row saved as each stage starts or is skipped


def test_timed_repro_writes_the_stage_table_beside_the_projection(tmp_path):
    import timed_repro

    from bnnlib import cost, settings

    fake = tmp_path / "fake_dvc.py"  # prints what dvc repro prints, then fails at the end
    fake.write_text("import sys, time\nassert sys.argv[1:] == ['repro', 'tables']\n"
                    "print(\"Running stage 'params':\")\n"
                    "print(\"Running stage 'uniform_groups@mobilenet_m1':\")\ntime.sleep(0.2)\n"
                    "print(\"Running stage 'search_widths@vgg_small':\")\nsys.exit(3)\n")
    out = tmp_path / "times.json"
    gpu = ROOT / "profiles" / "gpu.yaml"
    rates = ROOT / "bench" / "results_gpu" / "rates_h200.json"
    rc = timed_repro.main([str(out), "--params", str(gpu), "--rates", str(rates),
                           "--dvc", f"{sys.executable} {fake}", "--disk-every", "0", "--", "tables"])
    assert rc == 3
    record = json.loads(out.read_text())
    assert record["rc"] == 3 and record["profile"] == "gpu" and record["jobs"] == 3
    rows = {r["dvc_stage"]: r for r in record["stages"]}
    assert list(rows) == ["params", "uniform_groups@mobilenet_m1", "search_widths@vgg_small"]
    assert rows["search_widths@vgg_small"]["status"] == "failed"
    uniform = rows["uniform_groups@mobilenet_m1"]
    # a number, not a timing: the clock's arithmetic is tested above with a fake clock (CI ran
    # this with sleep(0.2) and measured 0.15 s, the reader thread seeing the first line late)
    assert isinstance(uniform["seconds"], float) and uniform["seconds"] >= 0
    assert rows["params"]["projected_s"] is None
    projection = cost.project(settings.load(gpu), cost.load_rates(rates))
    hours = projection.set_index(["family", "stage"])["hours"]
    assert uniform["projected_s"] == pytest.approx(hours["mobilenet_m1", "uniform"] * 3600, abs=0.1)
    assert uniform["measured_over_projected"] == pytest.approx(
        uniform["seconds"] / uniform["projected_s"], abs=0.01)
    assert record["projected_total_s"] == pytest.approx(hours["all", "total"] * 3600, abs=0.1)
    table = out.with_suffix(".md").read_text()
    assert "| uniform_groups@mobilenet_m1 | ran |" in table and "rc 3" in table
    assert "2 stages ran and 1 failed" in table
    on_gpu = "H200" in record["device"]
    assert ("the ratios compare two devices" in table) is not on_gpu
    assert timed_repro.same_device("cuda (NVIDIA H200)", "NVIDIA H200")
    assert not timed_repro.same_device("cpu (2 cores, x86_64)", "NVIDIA H200")


def test_timed_repro_samples_the_disk_of_runs_and_the_cache(tmp_path, monkeypatch):
    import timed_repro

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / ".dvc" / "cache").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "last.pt").write_bytes(os.urandom(3 << 20))
    os.link(tmp_path / "runs" / "a" / "last.pt", tmp_path / "runs" / "a" / "twin.pt")
    (tmp_path / ".dvc" / "cache" / "x").write_bytes(os.urandom(1 << 20))
    os.link(tmp_path / ".dvc" / "cache" / "x", tmp_path / "runs" / "shared")  # a hardlink cache
    mb = 1 << 20
    # a file reached twice (two links; two roots) counts once
    assert timed_repro.bytes_on_disk(["runs"]) == pytest.approx(4 * mb, rel=0.01)
    assert timed_repro.bytes_on_disk(["runs", ".dvc/cache", "missing"]) == pytest.approx(
        4 * mb, rel=0.01)
    sample = timed_repro.disk_sample()
    assert sample["runs"] == pytest.approx(4 * mb / 1e9, abs=2e-3)
    assert sample["cache"] == pytest.approx(mb / 1e9, abs=2e-3)
    assert sample["together"] == pytest.approx(4 * mb / 1e9, abs=2e-3) and sample["free"] > 0

    fake = tmp_path / "fake_dvc.py"  # writes a checkpoint during its second stage
    fake.write_text("import os, time\nprint(\"Running stage 'params':\")\n"
                    "print(\"Running stage 'uniform_widths@vgg_small':\", flush=True)\n"
                    "open('runs/a/big.pt', 'wb').write(os.urandom(8 << 20))\ntime.sleep(1.0)\n"
                    "os.remove('runs/a/big.pt')\n")
    out = tmp_path / "times.json"
    rc = timed_repro.main([str(out), "--params", str(ROOT / "profiles" / "gpu.yaml"),
                           "--disk-every", "0.05", "--dvc", f"{sys.executable} {fake}"])
    assert rc == 0
    record = json.loads(out.read_text())
    rows = {r["dvc_stage"]: r for r in record["stages"]}
    assert rows["params"]["disk_gb"]["runs"] == pytest.approx(4 * mb / 1e9, abs=2e-3)
    assert rows["uniform_widths@vgg_small"]["disk_gb"]["runs"] == pytest.approx(
        4 * mb / 1e9, abs=2e-3)  # big.pt removed before the stage ended...
    disk = record["disk"]  # ...but a sample saw it
    assert disk["peak_gb"]["runs"] == pytest.approx(12 * mb / 1e9, abs=2e-3)
    assert disk["samples"] >= 3 and disk["least_free_gb"] > 0
    table = out.with_suffix(".md").read_text()
    assert "| runs/ GB | cache GB |" in table and "at the peak `runs/` 0.01 GB" in table
    assert "| uniform_widths@vgg_small | ran |" in table

    counts = iter([{"runs": 1.0, "cache": 0.5, "together": 1.5, "free": 9.0},
                   {"runs": 3.0, "cache": 0.2, "together": 3.2, "free": 7.0},
                   {"runs": 2.0, "cache": 2.0, "together": 4.0, "free": 8.0}])
    watch = timed_repro.DiskWatch(60, sample=lambda: next(counts))
    for _ in range(3):
        watch.take()
    summary = watch.summary()
    assert summary["peak_gb"] == {"runs": 3.0, "cache": 2.0, "together": 4.0}
    assert summary["least_free_gb"] == 7.0 and summary["end_gb"]["runs"] == 2.0


def test_timed_repro_compares_with_projections_that_round_to_zero_seconds():
    import pandas as pd
    import timed_repro

    projection = pd.DataFrame([{"family": "vgg_small", "stage": "uniform", "hours": 1e-6},
                               {"family": "vgg_small", "stage": "search", "hours": 0.0}])
    rows = [timed_repro._row("uniform_widths@vgg_small", 0.36, "ran"),
            timed_repro._row("search_widths@vgg_small", 2.0, "ran"),
            timed_repro._row("tables", 5.0, "ran")]
    out = timed_repro.with_projection(rows, projection)
    assert out[0]["projected_s"] == 0.0 and out[0]["measured_over_projected"] == pytest.approx(100.0)
    assert out[1]["measured_over_projected"] is None  # nothing projected: no ratio
    assert out[2]["projected_s"] is None and "projected_s" not in rows[2]  # rows stay as they were


def test_prefix_reuse_counts_the_shared_blocks_of_each_scorer():
    import numpy as np
    import sim_prefix_reuse as sim

    assert sim.shared((1, 2, 3), (1, 2, 4), 3) == 2 and sim.shared((1, 2), (1, 2), 2) == 2
    # three blocks of unit cost; a population of 2, then one child per generation
    order = [(2, 1, 1), (1, 1, 1), (1, 1, 2), (2, 1, 2)]
    unit = lambda g: (np.ones(3), 2 * np.ones(3))  # noqa: E731
    shares = sim.reuse(order, first=2, generation=1, cost=unit, genes=3)
    # search order: 0 + 0 + 2 + 0 shared blocks of 12
    assert shares["search order"] == {"macs": pytest.approx(2 / 12), "activations": pytest.approx(2 / 12)}
    # sorted per generation: (1,1,1) (2,1,1) | (1,1,2) | (2,1,2): 0 + 0 + 0 + 0
    assert shares["sorted per generation"]["macs"] == 0.0
    # any earlier: 0, 0, 2 (with (1,1,1)), 2 (with (2,1,1)) of 12
    assert shares["any earlier candidate"]["macs"] == pytest.approx(4 / 12)
    kwargs = {"width_mult": 1.0, "small_input": True, "num_classes": 10, "in_channels": 1}
    choices = [[1, 2]] * 13
    table = sim.block_table("mobilenet_m1", kwargs, (1, 28, 28), choices)
    macs, acts = sim.block_costs([1] * 13, table)
    assert len(macs) == 13 and macs[0] == 28 * 28 * (32 * 32 * 9 + 32 * 64 * 2)
    # block 1 with groups 2: the 3x3 conv's MACs halve; input 32 and output 64 maps of 28x28
    assert table[0, 2] == (28 * 28 * (32 * 16 * 9 + 32 * 64 * 2), 28 * 28 * (32 + 64))


def test_profile_ops_kinds_busy_fraction_and_launches_from_profiler_events():
    from types import SimpleNamespace as Event

    import profile_ops

    assert profile_ops.kind_of("aten::cudnn_convolution") == "conv/matmul"
    assert profile_ops.kind_of("sm90_xmma_fprop_implicit_gemm_bf16") == "conv/matmul"
    assert profile_ops.kind_of("cudnn::bn_fw_inf_1C11_kernel_NHWC") == "batch norm"  # not conv
    assert profile_ops.kind_of("fwd_0d1d2d") == "quantizer"  # bnnlib.fused's Triton kernel
    # a cuDNN convolution with "unsigned" among its template arguments (read as a quantizer in
    # the H200 profile of session 6 before the fix)
    assert profile_ops.kind_of("void convolve_common_engine_float_NHWC<__nv_bfloat16, 128, true>"
                               "(int, conv_kernel_common_params, unsigned long long)") == "conv/matmul"
    assert profile_ops.kind_of("aten::sign") == "quantizer"
    assert profile_ops.kind_of("void at::native::vectorized_elementwise_kernel<MulFunctor>") \
        == "elementwise"
    assert profile_ops.kind_of("aten::max_pool2d_with_indices") == "pooling"
    assert profile_ops.kind_of("something_else") == "other"
    cuda = "DeviceType.CUDA"
    events = [  # 2 items: operators (CPU) and their kernels (device), times in microseconds
        Event(key="aten::conv2d", count=4, device_type="DeviceType.CPU",
              self_cpu_time_total=900.0, self_device_time_total=0.0),
        Event(key="cudaLaunchKernel", count=10, device_type="DeviceType.CPU",
              self_cpu_time_total=100.0, self_device_time_total=0.0),
        Event(key="implicit_gemm_kernel", count=4, device_type=cuda,
              self_cpu_time_total=0.0, self_device_time_total=3000.0),
        Event(key="vectorized_elementwise_kernel", count=6, device_type=cuda,
              self_cpu_time_total=0.0, self_device_time_total=1000.0),
    ]
    out = profile_ops.summarize(events, wall_s=0.008, count=2, device=torch.device("cuda"))
    assert out["time_basis"] == "device kernels"
    assert out["shares"]["conv/matmul"] == pytest.approx(0.75)
    assert out["shares"]["elementwise"] == pytest.approx(0.25)
    assert sum(out["shares"].values()) == pytest.approx(1.0)
    assert out["busy_fraction"] == pytest.approx(0.004 / 0.008)  # 4 ms of kernels in 8 ms
    assert out["launches_per_item"] == 5
    assert out["op_s_per_item"] == pytest.approx(0.002)
    assert [t["name"] for t in out["top"]] == ["implicit_gemm_kernel", "vectorized_elementwise_kernel"]
    assert out["top"][1]["calls_per_item"] == 3
    cpu = profile_ops.summarize(events, wall_s=0.008, count=2, device=torch.device("cpu"))
    assert cpu["shares"]["conv/matmul"] == pytest.approx(0.9) and "busy_fraction" not in cpu


def test_profile_ops_runs_the_stages_code_on_the_cpu(tmp_path):
    import profile_ops

    out = tmp_path / "prof.json"
    rows = profile_ops.main(["--what", "oneshot", "step", "--families", "vgg_small",
                             "--calib", "16", "--val", "16", "--eval-batch", "16", "--evals", "1",
                             "--steps", "1", "--batch", "8", "--json", str(out)])
    assert [(r["what"], r.get("binary")) for r in rows] == [
        ("oneshot", None), ("step", True), ("step", False)]
    for r in rows:
        assert sum(r["shares"].values()) == pytest.approx(1.0)
        assert r["shares"]["conv/matmul"] > 0 and r["plain_s_per_item"] > 0
    assert rows[0]["images_per_s"] == pytest.approx(32 / rows[0]["plain_s_per_item"])
    assert rows[1]["shares"]["quantizer"] > 0 and rows[2]["shares"]["quantizer"] == 0
    assert json.loads(out.read_text())["rows"][0]["family"] == "vgg_small"
    # the groups study's scoring with grouped kernels and with dense block-diagonal ones
    m1 = profile_ops.main(["--what", "oneshot", "--families", "mobilenet_m1", "vgg_small",
                           "--group-conv", "grouped", "dense", "--calib", "16", "--val", "16",
                           "--eval-batch", "16", "--evals", "1"])
    assert [(r["family"], r["group_conv"]) for r in m1] == [
        ("mobilenet_m1", "grouped"), ("mobilenet_m1", "dense"), ("vgg_small", "grouped")]
    assert m1[0]["candidates"].startswith("within MaxFLOPs")
    assert "BNNLIB_DENSE_GROUPS" not in os.environ  # restored
