"""The state file of a search (``state.json``): writing it, reading it back, checking it matches.

`bnnlib.search` writes the state (history, the queued batch, RNG state, iteration) as JSON
atomically (temporary file + ``os.replace``, `bnnlib.utils.atomic_write_bytes`) after each batch
is drawn and after each evaluation, so re-running with the same arguments evaluates only what
is missing and ends with exactly the result of an uninterrupted run (given a deterministic
fitness).

The search arguments cannot tell whether the *fitness* changed (other supernet weights, another
budget, another evaluator), so the caller may pass ``context``, a JSON-able dict of everything
else the fitness depends on; it is stored in the state and compared on resume (after JSON
normalisation, `check_context`). A state written with other arguments or another context (its
format ``version`` included) is refused with `StateMismatchError`, which lists each differing
(dotted) key as ``key now != saved in state``; ``iterations`` may be raised to extend a run. A
state file that is cut short or not a search state raises ``bnnlib.utils.CorruptFileError``.
Either way, deleting the file starts the search over.

Format (``version`` 1), one JSON object::

    {"version": 1, "config": {search arguments}, "context": {...} | null, "iteration": int,
     "rng": {numpy bit generator state}, "pending": [[[gene indices], source], ...],
     "notes": [str], "exhausted": bool,
     "history": [{"genome": [values], "fitness", "iteration", "source", "extras"}, ...]}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from .fingerprint import canonical, describe
from .utils import CorruptFileError, atomic_write_bytes

__all__ = ["STATE_VERSION", "StateMismatchError", "StateFile", "check_context",
           "context_diff", "check_match", "load_state", "jsonable", "type_name", "record",
           "trim_log"]

STATE_VERSION = 1

#: the keys of a state and their JSON types
STATE_TYPES = {"version": int, "config": dict, "iteration": int, "rng": dict, "pending": list,
               "notes": list, "exhausted": bool, "history": list}


class StateMismatchError(ValueError):
    """A state file was written by a search with other arguments, context or format version.

    Resuming it would mix two different searches; delete the file to start over. ``detail``
    lists what differs (``population 4 != 16 in state``), for a caller that starts over.
    """

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail or message


def jsonable(value: Any) -> Any:
    """``value`` normalised through a JSON round trip (numpy/torch scalars become numbers)."""

    def default(obj):
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if hasattr(obj, "item"):
            return obj.item()
        if isinstance(obj, tuple | set):
            return list(obj)
        return str(obj)

    return json.loads(json.dumps(value, default=default))


def type_name(value: Any) -> str:
    """``float``, ``numpy.bool``, ``torch.Tensor``: the type as an error message shows it."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def check_context(context: Any) -> dict | None:
    """``context`` normalised to plain JSON (what a state file stores), or ``None``."""
    if context is None:
        return None
    if not isinstance(context, dict):
        raise ValueError(f"context must be None or a JSON-able dict, got "
                         f"{type_name(context)}: {context!r}")
    try:
        plain = canonical(context)
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"context must be a JSON-able dict (finite numbers, strings, lists, "
                         f"dicts): {err}") from err
    return plain


def context_diff(saved: Any, now: Any) -> str:
    """``"key now != saved in state"`` for each differing leaf of two contexts ("" if equal)."""
    if isinstance(saved, dict) and isinstance(now, dict) and saved and now:
        return describe(saved, now, "state", limit=50)
    if saved == now or (not saved and not now):
        return ""
    return describe({"context": json.dumps(saved)}, {"context": json.dumps(now)}, "state")


def check_match(path: str, state: dict, config: dict, context: dict | None,
                iterations: int) -> None:
    """Refuse a state written with other arguments (``config``) or context, or beyond
    ``iterations``, with a `StateMismatchError` naming ``path`` and each difference."""
    saved, now = state["config"], jsonable(config)
    keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    problems, details = [], []
    if keys:
        diff = describe(saved, now, "state", limit=50)
        problems.append(f"other arguments ({', '.join(keys)} differ: {diff})")
        details.append(diff)
    diff = context_diff(state.get("context"), context)
    if diff:
        problems.append(f"another context ({diff})")
        details.append(diff)
    if problems:
        raise StateMismatchError(f"{path} was written by a search with "
                                 f"{' and '.join(problems)}; delete it to start over, or "
                                 "pass the same arguments and context", "; ".join(details))
    if state["iteration"] > iterations - 1:
        raise StateMismatchError(f"{path} is at iteration {state['iteration']}, "
                                 f"beyond iterations={iterations}; pass iterations >= "
                                 f"{state['iteration'] + 1}")


def load_state(path: str) -> dict:
    """The parsed state file, checked for version, keys and their types.

    Raises `StateMismatchError` for another format version and ``CorruptFileError`` for a
    file that is cut short or not a search state, both naming the file.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise CorruptFileError(f"{path} is not valid JSON (cut short or altered?): {err}. "
                               "Delete it to start the search over.") from err
    if not isinstance(state, dict) or "version" not in state:
        what = type(state).__name__ if not isinstance(state, dict) else "object without version"
        raise CorruptFileError(f"{path} is not a search state (a JSON {what}). Delete it to "
                               "start the search over.")
    if state["version"] != STATE_VERSION:
        raise StateMismatchError(f"{path}: state version {state['version']!r}, expected "
                                 f"{STATE_VERSION}; delete it to start the search over")
    problems = [f"{key} missing" if key not in state else
                f"{key} is {type(state[key]).__name__}, not {kind.__name__}"
                for key, kind in STATE_TYPES.items()
                if key not in state or not isinstance(state[key], kind)
                or (kind is int and isinstance(state[key], bool))]
    if not problems and state["iteration"] < 0:
        problems.append(f"iteration {state['iteration']} < 0")
    if problems:
        raise CorruptFileError(f"{path} is not a valid search state ({'; '.join(problems)}). "
                               "Delete it to start the search over.")
    return state


def record(evaluation) -> dict:
    """A `bnnlib.search.Evaluation` as the state and the log store it (genome as a list)."""
    out = asdict(evaluation)
    out["genome"] = list(evaluation.genome)
    return out


class StateFile:
    """Writes a search's state to ``path``; keeps each history record's JSON once made.

    The history is spliced in from per-record JSON kept since each evaluation, so a save costs
    a string join, not a re-serialisation of every record (quadratic over a run).
    """

    def __init__(self, path: str):
        self.path = path
        self._history_json: list[str] = []

    def save(self, meta: dict, history: list) -> None:
        """Write ``meta`` (every key but ``history``) and ``history`` (Evaluations)."""
        text = json.dumps({"version": STATE_VERSION, **meta})
        if len(self._history_json) < len(history):
            self._history_json += [json.dumps(record(ev))
                                   for ev in history[len(self._history_json):]]
        text = text[:-1] + ',"history":[' + ",".join(self._history_json) + "]}"
        # no fsync: the rename is atomic against a crash; fsync would cost every evaluation
        atomic_write_bytes(self.path, text.encode("utf-8"), fsync=False)

    def corrupt(self, err: Exception) -> CorruptFileError:
        """The error for a state whose content cannot be restored (``err`` says why)."""
        return CorruptFileError(f"{self.path} is not a valid search state (bad "
                                f"{type(err).__name__}: {err}). Delete it to start the "
                                "search over.")


def trim_log(log_path: str, genomes: set[tuple]) -> None:
    """Keep one line per genome of ``genomes`` in the JSON-lines log (the first occurrence).

    A crash between a log write and the state write leaves an extra line; a torn line is
    dropped.
    """
    kept, done = [], set()
    with open(log_path, encoding="utf-8") as fh:
        for line in fh:
            try:
                genome = tuple(json.loads(line)["genome"])
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash
            if genome in genomes and genome not in done:
                kept.append(line if line.endswith("\n") else line + "\n")
                done.add(genome)
    atomic_write_bytes(log_path, "".join(kept).encode("utf-8"), fsync=False)


def logged_seconds(log_path: str | os.PathLike) -> float:
    """Seconds spent scoring the candidates of a JSON-lines search log (the sum of its lines'
    ``seconds``; a torn line counts nothing).

    A search's cost: unlike the wall time of the call that finished it, it keeps the
    evaluations of earlier calls that a resumed search read back from its state (a stage rerun
    after an unrelated change, or after an interruption, reports the whole search, not the
    seconds of its last call). Under torchrun each line holds the seconds of the rank that
    scored it, so the sum is device-seconds.
    """
    total = 0.0
    with open(log_path, encoding="utf-8") as fh:
        for line in fh:
            try:
                total += float(json.loads(line).get("seconds") or 0.0)
            except (ValueError, AttributeError, TypeError):
                continue
    return total
