"""Several trainings at once (``bnnlib.jobs``): same results, in order, every log line, errors
that name the failed call."""

from __future__ import annotations

import os

import pytest

from bnnlib.jobs import JobError, process_map, threads_per_job


def square_and_say(x: int) -> tuple[int, int]:
    print(f"call {x} in {os.getpid()}")
    return x * x, os.getpid()


def fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"two is bad ({x})")
    return x


def test_calls_run_in_other_processes_and_come_back_in_order_with_their_output():
    said: list[str] = []
    results = process_map(square_and_say, [(x,) for x in range(5)], jobs=2, echo=said.append)
    assert [r for r, _ in results] == [0, 1, 4, 9, 16]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # each call's output arrives once, whole, whatever order the calls ended in
    assert sorted(said) == sorted(f"call {x} in {pid}\n" for x, (_, pid) in enumerate(results))


def test_one_job_runs_here_and_prints_as_it_goes(capsys):
    results = process_map(square_and_say, [(3,), (4,)], jobs=1)
    assert [r for r, _ in results] == [9, 16] and {pid for _, pid in results} == {os.getpid()}
    assert capsys.readouterr().out == f"call 3 in {os.getpid()}\ncall 4 in {os.getpid()}\n"


def test_a_failed_call_is_named_and_stops_the_others():
    with pytest.raises(JobError, match=r"call 2 failed in its process \(ValueError: two is bad") as info:
        process_map(fail_on_two, [(x,) for x in range(4)], jobs=2, name=lambda c: f"call {c[0]}",
                    echo=lambda text: None)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True, "2"])
def test_bad_jobs_are_refused_with_what_is_valid(jobs):
    with pytest.raises(ValueError, match=rf"jobs={jobs!r} is not valid: use a positive integer"):
        process_map(square_and_say, [(1,)], jobs=jobs)


def test_threads_are_shared_among_the_jobs():
    assert threads_per_job(2, threads=8) == 4
    assert threads_per_job(3, threads=8) == 2
    assert threads_per_job(4, threads=2) == 1


def test_from_a_notebook_kernel_the_processes_logs_reach_the_notebook(tmp_path):
    """A stage runs inside a Jupyter kernel (papermill): spawned processes start from it, and
    what they print reaches the executed notebook's output, not only the kernel's terminal."""
    nbformat = pytest.importorskip("nbformat")
    papermill = pytest.importorskip("papermill")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("jobs = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import os\nfrom bnnlib.jobs import process_map\n"
        "said = \"import os; print('said in process', os.getpid())\"\n"
        "process_map(exec, [(said,), (said,)], jobs)\n"
        "print('parent', os.getpid())")]
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    papermill.execute_notebook(str(src), str(out), parameters={"jobs": 2}, progress_bar=False,
                               kernel_name="python3", language="python")
    text = "".join(o.get("text", "") for cell in nbformat.read(out, as_version=4).cells
                   if cell.cell_type == "code" for o in cell.get("outputs", []))
    parent = text.split("parent ")[1].split()[0]
    children = [line.split()[-1] for line in text.splitlines() if line.startswith("said in process")]
    assert len(children) == 2 and parent not in children  # two calls, run in other processes
