"""dvc.yaml lists for every stage exactly the modules it executes and the settings it reads.

A stage's code dependencies are the static import closure of what it runs (the notebook runner
and its stage module; bnnlib.fingerprint.module_closure), so a change to a plot or table module
reruns only `tables`, and a change to the training engine reruns what trains. Its `params:` are
exactly bnnlib.settings.tracked_keys, so a setting a stage does not read never reruns it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bnnlib import dvc_yaml, fingerprint, settings

ROOT = Path(__file__).resolve().parents[1]
DVC = settings.read_yaml(ROOT / "dvc.yaml")["stages"]
PARAMS = settings.read_yaml(ROOT / "params.yaml")
NOTEBOOKS = {stage: f"notebooks/{stem}.ipynb" for stem, stage in settings.NOTEBOOKS.items()}


def code_files(roots) -> set[str]:
    """Repository paths of the closure of ``roots``; bnnlib.models as one folder, as DVC lists it."""
    out = set()
    for name in fingerprint.module_closure(roots):
        path = fingerprint.module_file(name).relative_to(ROOT).as_posix()
        out.add("bnnlib/models" if path.startswith("bnnlib/models/") else path)
    return out


def code_deps(stage: dict) -> set[str]:
    return {d for d in stage["deps"] if d.startswith("bnnlib/")}


def expand(entries, family: str) -> set[str]:
    """Leaf keys of params.yaml that DVC's ``params:`` entries cover for ``family``."""
    keys = set()
    for entry in entries:
        node = PARAMS
        entry = entry.replace("${key}", family)
        for part in entry.split("."):
            node = node[part]
        keys |= _leaves(node, entry)
    return keys


def _leaves(node, key):
    if isinstance(node, dict):
        return set().union(*(_leaves(v, f"{key}.{k}") for k, v in node.items()))
    return {key}


def test_dvc_yaml_is_the_generated_one():
    """A stage whose code gained an import must list it: regenerate with python -m bnnlib.dvc_yaml."""
    assert (ROOT / "dvc.yaml").read_text() == dvc_yaml.render()


def test_settings_check_runs_first_and_tracks_every_param():
    assert list(DVC)[0] == "params"
    assert DVC["params"]["params"] == [{"params.yaml": None}]
    assert code_deps(DVC["params"]) == code_files(["bnnlib.settings"])
    # the check and the notebook runner import no torch: a bad params.yaml fails in a second
    probe = "import sys, bnnlib.notebook, bnnlib.settings; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_data_stage_deps_and_params():
    assert code_deps(DVC["data"]) == code_files(["bnnlib.stages.data"])
    assert DVC["data"]["params"] == ["data.prepare"]


@pytest.mark.parametrize("stage", settings.STAGES)
@pytest.mark.parametrize("study", list(settings.STUDIES))
def test_family_stages_list_exactly_their_code_and_settings(stage, study):
    entry = DVC[f"{stage}_{study}"]
    assert entry["foreach"] == f"${{{study}.families}}"
    do = entry["do"]
    assert NOTEBOOKS[stage] in do["deps"]
    assert code_deps(do) == code_files(["bnnlib.notebook", f"bnnlib.stages.{stage}"])
    for family in settings.STUDIES[study]:
        assert expand(do["params"], family) == settings.tracked_keys(stage, family), family
    assert f"runs/{stage}/${{key}}" in [next(iter(o)) if isinstance(o, dict) else o for o in do["outs"]]


def test_the_settings_check_requires_exactly_the_keys_dvc_yaml_tracks():
    """settings.pipeline_keys (what the params stage refuses to see left out) is the union of
    every stage's params: list, expanded over params.yaml's families."""
    tracked = set(DVC["data"]["params"])
    for stage in settings.STAGES:
        for study in settings.STUDIES:
            for family in PARAMS[study]["families"]:
                tracked |= expand(DVC[f"{stage}_{study}"]["do"]["params"], family)
    assert settings.pipeline_keys(settings.from_dict(PARAMS)) == tracked


def test_tables_stage_does_not_depend_on_training_code_it_does_not_run():
    tables = DVC["tables"]
    assert code_deps(tables) == code_files(["bnnlib.notebook", "bnnlib.stages.tables"])
    for stage in settings.STAGES:
        assert "bnnlib/plots.py" not in code_files(["bnnlib.notebook", f"bnnlib.stages.{stage}"])
        assert "bnnlib/tables.py" not in code_files(["bnnlib.notebook", f"bnnlib.stages.{stage}"])
    assert "bnnlib/plots.py" in code_deps(tables)


def test_module_closure_follows_relative_and_lazy_imports():
    closure = fingerprint.module_closure(["bnnlib.stages.search"])
    assert {"bnnlib.search", "bnnlib.evaluators", "bnnlib.stages.supernet", "bnnlib.stages",
            "bnnlib.models.vgg", "bnnlib.registry"} <= set(closure)
    assert "bnnlib.plots" not in closure
    assert "bnnlib.stats" in fingerprint.module_closure(["bnnlib.tables"])
