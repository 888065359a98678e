"""Every Python example in the docs and the README that shows its output ("prints", then a text
block) is run, and must print exactly that: numbers in the docs cannot drift from the code."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(
    os.path.join(ROOT, "docs", n) for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md"))
EXAMPLE = re.compile(r"```python\n((?:(?!```).)*)```\s*\n+prints:?\s*\n+```text\n(.*?)```", re.DOTALL)


def _examples():
    for page in PAGES:
        text = open(page).read()
        for i, match in enumerate(EXAMPLE.finditer(text)):
            yield pytest.param(match.group(1), match.group(2), id=f"{os.path.basename(page)}-{i}")


EXAMPLES = list(_examples())


def test_the_docs_have_examples_with_their_output():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("code, expected", EXAMPLES)
def test_doc_example_prints_what_the_docs_say(code, expected):
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected.strip()
