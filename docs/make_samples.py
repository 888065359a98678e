"""The terminal output shown in the docs, made by running the commands named beside it.

    python3 docs/make_samples.py            # run every sample's command, rewrite its block in the docs
    python3 docs/make_samples.py --check    # exit 1 when a block differs from what its command prints

A sample is the ```text block right after a line `<!-- sample: NAME ... -->` in a page of docs/.
`tests/test_doc_samples.py` runs `--check`, so the numbers cannot drift from the code. Timings
(seconds) differ from run to run: the check compares them as "<s>".
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TIMING = re.compile(r"\d+\.\d+ s\b")  # "time spent forecasting: 0.22 s"


class Sample(NamedTuple):
    page: str  # in docs/
    command: Callable[[], List[str]]  # argv, run in a scratch directory
    keep: Callable[[str], str]  # what of the output (stdout + stderr) the block shows


def quickstart_code() -> str:
    """The runnable example of docs/quickstart.md (section 2)."""
    text = (DOCS / "quickstart.md").read_text()
    (code,) = [c for c in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL) if "trainer.fit(" in c]
    return code


def summary_of(output: str) -> str:
    """The callback's summary at train end: its first line and the indented lines under it."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("scaling-callback: N = "))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    return "\n".join(lines[start:end])


def table_of(output: str) -> str:
    """The plain loop's printout without its last line (where the logs went: a scratch path)."""
    return "\n".join(line for line in output.splitlines() if not line.startswith("TensorBoard logs:"))


PLAIN_LOOP_ARGS = ["--steps", "80", "--eval-every", "10", "--batch-size", "4", "--n-ctx", "16", "--d-model", "16",
                   "--n-layer", "1", "--corpus-mb", "0.1"]
SAMPLES: Dict[str, Sample] = {
    "quickstart-summary": Sample("callback.md", lambda: [sys.executable, "-c", quickstart_code()], summary_of),
    "plain-loop": Sample("plain_loop.md", lambda: [sys.executable, str(ROOT / "examples" / "train_plain_loop.py"),
                                                   *PLAIN_LOOP_ARGS, "--logdir", "logs"], table_of),
}


def run(sample: Sample) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory(prefix="doc-sample-") as scratch:
        out = subprocess.run(sample.command(), cwd=scratch, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{sample.command()[:2]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return sample.keep(out.stdout + "\n" + out.stderr).strip("\n")


def block_span(text: str, name: str):
    """(start, end) of the text inside the ```text block after the marker of `name`."""
    marker = re.search(r"<!-- sample: " + re.escape(name) + r"\b.*?-->\n+```text\n", text)
    if marker is None:
        raise SystemExit(f"no '<!-- sample: {name} -->' followed by a ```text block")
    end = text.index("```", marker.end())
    return marker.end(), end


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare instead of rewriting; exit 1 on a difference")
    p.add_argument("names", nargs="*", choices=[[]] + sorted(SAMPLES), help="samples to make (default: all)")
    args = p.parse_args(argv)
    status = 0
    for name in args.names or sorted(SAMPLES):
        sample = SAMPLES[name]
        page = DOCS / sample.page
        text = page.read_text()
        start, end = block_span(text, name)
        made = run(sample) + "\n"
        if not args.check:
            page.write_text(text[:start] + made + text[end:])
            print(f"{sample.page}: {name} made")
        elif TIMING.sub("<s>", made) != TIMING.sub("<s>", text[start:end]):
            status = 1
            print(f"{sample.page}: {name} differs from what its command prints now "
                  f"(python3 docs/make_samples.py {name} remakes it):")
            print("".join(difflib.unified_diff(text[start:end].splitlines(True), made.splitlines(True),
                                               "in the docs", "printed now")))
    return status


if __name__ == "__main__":
    sys.exit(main())
