"""Run one numbered notebook the way a DVC stage does: check, papermill, then HTML, in one process.

    python -m bnnlib.notebook notebooks/01_uniform_baselines.ipynb \\
        reports/executed/01_uniform_baselines_vgg_small.ipynb --html-dir reports/notebooks \\
        -p family vgg_small -p runs_dir runs -p metrics_dir metrics

is ``papermill IN OUT -p ...`` followed by ``jupyter nbconvert --to html``, with two additions:
before a kernel starts, every ``-p`` name is checked against the notebook's parameters cell
and the settings its stage reads (``-p epochs 10`` overrides a setting, ``-p populaton 4`` is
an error naming the valid names), and the whole settings file is validated
(:mod:`bnnlib.settings`), so a bad ``params.yaml`` stops a stage in seconds. Doing it all in one
process saves a Python start and the nbconvert import per stage (about 3 s each, 21 stages).

The runner also keeps ``jsonschema`` from importing ``rfc3987_syntax`` (:func:`_lean_imports`):
that package, when installed (``jupyter lab`` pulls it in), compiles a grammar at import, about
1 s of every stage's start on 2 cores, for the IRI formats of JSON Schema that no notebook
schema uses.
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
from pathlib import Path

from . import settings

#: imported by jsonschema when installed (module doc); no notebook or nbformat schema needs it
UNUSED_IMPORTS = ("rfc3987_syntax",)


def _lean_imports() -> None:
    """Make ``import`` of :data:`UNUSED_IMPORTS` fail fast in this process (jsonschema skips
    the format checkers that need them); a module already imported is left alone."""
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, None)


def parameter_names(notebook: str | Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return [t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)]
    raise settings.SettingsError(f"{notebook} has no cell tagged 'parameters'")


def check(notebook: str | Path, parameters: dict) -> None:
    """Refuse unknown ``-p`` names and invalid settings before anything runs."""
    declared = parameter_names(notebook)
    stage = settings.NOTEBOOKS.get(Path(notebook).stem)
    if stage in settings.STAGES:
        family = parameters.get("family")
        keys = settings.stage_keys(stage, family)
        overrides = dict(parameters.get("overrides") or {})
        for name, value in parameters.items():
            if name in declared:
                continue
            if name not in keys:
                raise settings.SettingsError(
                    f"unknown parameter {name!r} for {Path(notebook).name}"
                    f"{settings.closest(name, declared + list(keys))}; notebook parameters: "
                    f"{', '.join(declared)}; settings of stage {stage}: {', '.join(keys)}")
            overrides[name] = value
        settings.view(stage, family, parameters.get("params_file", "params.yaml"), overrides)
        return
    unknown = [n for n in parameters if n not in declared]
    if unknown:
        raise settings.SettingsError(f"unknown parameter {unknown[0]!r} for {Path(notebook).name}; "
                                     f"its parameters: {', '.join(declared)}")


def run(notebook: str, output: str, parameters: dict, html_dir: str | None = None,
        kernel: str = "python3") -> Path | None:
    """Execute ``notebook`` into ``output`` with ``parameters``; render HTML into ``html_dir``."""
    import papermill

    check(notebook, parameters)
    # the names were checked above; papermill's "Passed unknown parameter" would only confuse
    logging.getLogger("papermill").addFilter(
        lambda record: not record.getMessage().startswith("Passed unknown parameter"))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    # the kernel's prints (which item resumed, which started over and why) go to this
    # process's output, so `dvc repro` shows them
    papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=kernel,
                               progress_bar=False, stdout_file=sys.stdout,
                               stderr_file=sys.stderr)
    if html_dir is None:
        return None
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(output, as_version=4))
    html = Path(html_dir) / (Path(output).stem + ".html")
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    return html


def main(argv=None) -> int:
    _lean_imports()
    from papermill.cli import _resolve_type

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook")
    parser.add_argument("output")
    parser.add_argument("--html-dir", default=None, help="also render the executed notebook here")
    parser.add_argument("-k", "--kernel", default="python3")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="a notebook parameter (repeatable)")
    args = parser.parse_args(argv)
    params = {name: _resolve_type(value) for name, value in args.parameter}
    try:
        html = run(args.notebook, args.output, params, args.html_dir, args.kernel)
    except settings.SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"executed {args.output}" + (f", rendered {html}" if html else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
