"""Fingerprints: what identifies a persisted result, and how two of them differ.

Every persisted item of the study (a training checkpoint, a supernet, a search state) records a
fingerprint: a JSON-able dict of everything that determines it (settings, data identity, model
construction keywords, upstream results, code). When an item is found on disk, its recorded
fingerprint is compared with the one the current run would write; any difference means the item
is stale, and :func:`differences` says which leaves differ in the form the logs print::

    starting over: fitness.max_ops 52323 != 56014 in state

Code identity (:func:`code_digest`) hashes each module's syntax tree with docstrings removed, so
comments, docstrings and formatting do not count as a change, while any change of what the code
does does. No torch import here: the settings check runs before anything heavy is loaded.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "bnnlib"
PACKAGE_DIR = Path(__file__).resolve().parent

__all__ = ["canonical", "digest", "flatten", "differences", "describe", "code_digest",
           "module_closure", "module_file"]


def canonical(obj: Any) -> Any:
    """``obj`` as plain JSON values: tuples become lists, numpy/torch scalars numbers, paths str."""
    if isinstance(obj, Mapping):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return canonical(obj.tolist())
    raise TypeError(f"cannot fingerprint a {type(obj).__name__}: {obj!r}")


def digest(obj: Any, length: int = 16) -> str:
    """Short SHA-256 of the canonical JSON of ``obj`` (keys sorted)."""
    text = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts keyed by dotted paths (lists are leaves)."""
    if isinstance(obj, Mapping) and obj:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: obj}


_ABSENT = "<absent>"


def _show(value: Any) -> str:
    if value is _ABSENT:
        return value
    if isinstance(value, float) and not math.isnan(value) and value == int(value) and abs(value) < 1e15:
        text = str(int(value))
    elif isinstance(value, float):
        text = f"{value:.10g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    return text if len(text) <= 48 else text[:45] + "..."


def differences(saved: Any, now: Any) -> list[str]:
    """``"key now != saved"`` for every leaf that differs (``<absent>`` where a side lacks it)."""
    a, b = flatten(canonical(saved)), flatten(canonical(now))
    lines = []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if old != new:
            lines.append(f"{key or 'value'} {_show(new)} != {_show(old)}")
    return lines


def describe(saved: Any, now: Any, where: str, limit: int = 6) -> str:
    """One line naming the differences, e.g. ``"max_ops 52323 != 56014 in state"``."""
    lines = differences(saved, now)
    if not lines:
        return ""
    more = f" (and {len(lines) - limit} more)" if len(lines) > limit else ""
    return "; ".join(lines[:limit]) + f" in {where}" + more


# ---- code identity --------------------------------------------------------------------------

def module_file(name: str) -> Path:
    """The source file of module ``name`` (``bnnlib.x.y``) of this package."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        raise ValueError(f"{name!r} is not a module of {PACKAGE}")
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    if base.is_dir():
        return base / "__init__.py"
    path = base.with_suffix(".py")
    if not path.is_file():
        raise ValueError(f"no module {name!r}: {path} does not exist")
    return path


def _package_of(name: str) -> str:
    return name if module_file(name).name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str) -> set[str]:
    """``bnnlib`` modules that module ``name`` imports anywhere in its body (static)."""
    tree = ast.parse(module_file(name).read_text(encoding="utf-8"))
    package = _package_of(name)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != PACKAGE:
                continue
            found.add(module)
            for alias in node.names:  # `from . import models` imports a submodule
                candidate = f"{module}.{alias.name}"
                try:
                    module_file(candidate)
                except ValueError:
                    continue
                found.add(candidate)
    # importing a.b.c runs a/__init__ and a/b/__init__ too
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return found | parents


def module_closure(roots: Iterable[str]) -> list[str]:
    """Every ``bnnlib`` module that importing ``roots`` can execute (static, transitive)."""
    roots = list(roots)
    todo = roots + [".".join(r.split(".")[:i]) for r in roots for i in range(1, r.count(".") + 1)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imports(name) - seen)
    return sorted(seen)


@cache
def _ast_digest(path: str, mtime_ns: int) -> str:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:16]


#: modules that identify results but never compute them: their code is no part of a result
NOT_RESULT_CODE = ("bnnlib.fingerprint",)


def code_digest(roots: Iterable[str]) -> dict[str, str]:
    """``{module: digest}`` over the import closure of ``roots``, docstrings and comments ignored
    (and without :data:`NOT_RESULT_CODE`: how a difference is worded changes no result)."""
    out = {}
    for name in module_closure(roots):
        if name in NOT_RESULT_CODE:
            continue
        path = module_file(name)
        out[name] = _ast_digest(str(path), path.stat().st_mtime_ns)
    return out
