"""Run one numbered notebook the way a DVC stage does: papermill, then HTML, in one process.

    python -m bnnlib.notebook notebooks/01_uniform_baselines.ipynb \\
        reports/executed/01_uniform_baselines_vgg_small.ipynb --html-dir reports/notebooks \\
        -p family vgg_small -p epochs 2 ...

is ``papermill IN OUT -p ...`` followed by ``jupyter nbconvert --to html``, with papermill's
own parsing of ``-p`` values (ints, floats, True/False/None; DVC's lower-case ``true``/
``false``/``null`` are read back by ``bnnlib.study.Settings``). Doing both in one process saves
a Python start and the nbconvert import per stage (about 3 s each, 21 stages).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run(notebook: str, output: str, parameters: dict, html_dir: str | None = None,
        kernel: str = "python3") -> Path | None:
    """Execute ``notebook`` into ``output`` with ``parameters``; render HTML into ``html_dir``."""
    import papermill

    Path(output).parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=kernel,
                               log_output=True, progress_bar=False)
    if html_dir is None:
        return None
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(output, as_version=4))
    html = Path(html_dir) / (Path(output).stem + ".html")
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    return html


def main(argv=None) -> None:
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
    html = run(args.notebook, args.output, params, args.html_dir, args.kernel)
    print(f"executed {args.output}" + (f", rendered {html}" if html else ""))


if __name__ == "__main__":
    main()
