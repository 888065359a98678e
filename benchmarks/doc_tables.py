"""Tables a benchmark writes into the docs between markers, so that no copy is typed by hand.

A block in a markdown page is

    <!-- NAME -->
    | the table ... |
    <!-- /NAME -->

`write_block` replaces what lies between the markers; `read_block` returns it (to compare with
what the code renders now, as tests/test_doc_tables.py does).
"""
from __future__ import annotations

import json
import math
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
DATA = os.path.join(DOCS, "data")  # the per-case results the tables are rendered from


def _pattern(name: str):
    return re.compile(rf"(<!-- {re.escape(name)} -->\n)(.*?)(<!-- /{re.escape(name)} -->)", re.DOTALL)


def read_block(page: str, name: str) -> str:
    """The text between the markers of block `name` in docs/<page> (KeyError when absent)."""
    with open(os.path.join(DOCS, page)) as f:
        found = _pattern(name).search(f.read())
    if found is None:
        raise KeyError(f"docs/{page} has no block {name!r}")
    return found.group(2)


def write_block(page: str, name: str, table: str) -> None:
    """Replace the text between the markers of block `name` in docs/<page> by `table`."""
    path = os.path.join(DOCS, page)
    with open(path) as f:
        text = f.read()
    if not _pattern(name).search(text):
        raise KeyError(f"docs/{page} has no block {name!r}")
    text = _pattern(name).sub(lambda m: m.group(1) + table.rstrip("\n") + "\n" + m.group(3), text)
    with open(path, "w") as f:
        f.write(text)


def _no_nan(value):
    """JSON without NaN: a NaN is written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    return value


def dumps(data: dict) -> str:
    """JSON of a dict with each element of a list value on a line of its own (a diff shows which
    case changed), floats as repr writes them (exactly)."""
    parts = []
    for key, value in _no_nan(data).items():
        if isinstance(value, list):
            body = ",\n".join(json.dumps(item, ensure_ascii=False) for item in value)
            parts.append(f"{json.dumps(key)}: [\n{body}\n]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_data(name: str, data: dict) -> str:
    """docs/data/<name>.json; returns its path."""
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, name + ".json")
    with open(path, "w") as f:
        f.write(dumps(data))
    return path


def read_data(name: str) -> dict:
    with open(os.path.join(DATA, name + ".json")) as f:
        return json.load(f)


def check_blocks(page: str, rendered: dict) -> list:
    """The names of the blocks of docs/<page> that differ from `rendered` ({name: table})."""
    return [name for name, table in rendered.items() if read_block(page, name).rstrip("\n") != table.rstrip("\n")]


def stale_blocks(page: str, rendered: dict) -> list:
    """One line for each block of docs/<page> that differs from `rendered` ({name: table})."""
    return [f"docs/{page}: block {name} differs from the recorded results" for name in check_blocks(page, rendered)]


def report_check(wrong: list, script: str) -> int:
    """Print what `--check-docs` found wrong and how to mend it; the exit status (0: nothing)."""
    for line in wrong:
        print(line)
    if wrong:
        print(f"re-run `python3 benchmarks/{script} --write-docs`")
    return 1 if wrong else 0


def differences(what: str, recorded, now, rtol: float) -> list:
    """One line for each place a recomputed result differs from the recorded one (both as the JSON
    holds them): numbers beyond `rtol`, anything else (counts, names, flags, nulls) at all."""
    if isinstance(recorded, dict) and isinstance(now, dict) and recorded.keys() == now.keys():
        return [d for k in recorded for d in differences(f"{what} {k}", recorded[k], now[k], rtol)]
    if isinstance(recorded, list) and isinstance(now, list) and len(recorded) == len(now):
        return [d for i, (a, b) in enumerate(zip(recorded, now)) for d in differences(f"{what}[{i}]", a, b, rtol)]
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (recorded, now)):
        return [] if np.isclose(recorded, now, rtol=rtol, atol=0) else [f"{what}: recorded {recorded}, now {now}"]
    return [] if recorded == now else [f"{what}: recorded {recorded!r}, now {now!r}"]
