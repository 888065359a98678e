"""What a newcomer runs first: the README's install gives `import lightning.pytorch` (the docs'
first line), the quick start's code runs as it is, and the README's "Use" lines are that code's."""
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from scaling_callback import read_scalars

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _code_blocks(page):
    with open(os.path.join(ROOT, page)) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.DOTALL)


def _quickstart_code():
    (code,) = [block for block in _code_blocks("docs/quickstart.md") if "trainer.fit(" in block]
    return code


def _dependencies():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    return [re.match(r"[A-Za-z0-9_.\-]+", req).group(0) for req in project["dependencies"]]


def test_the_core_install_provides_lightning_pytorch():
    """README, quickstart.md and callback.md begin with `import lightning.pytorch as pl`: a
    distribution named in [project] dependencies (not an extra) must ship that package. Checked
    on the installed distributions' file lists, so no fresh environment is needed."""
    provided = set()
    for name in _dependencies():
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        provided |= {str(f).replace("\\", "/") for f in files}
    assert "lightning/pytorch/__init__.py" in provided, sorted(_dependencies())
    assert "pytorch_lightning/__init__.py" in provided  # and the other namespace, which the example uses


def test_the_readme_use_lines_are_the_quickstarts_runnable_code():
    def lines(code):
        return [line.split("  #")[0].rstrip() for line in code.splitlines() if line.strip()]

    readme = next(block for block in _code_blocks("README.md") if "trainer.fit(" in block)
    quickstart = lines(_quickstart_code())
    missing = [line for line in lines(readme) if line not in quickstart]
    assert not missing, f"README lines not in docs/quickstart.md's runnable example: {missing}"


def test_the_quickstart_code_runs_as_it_is_and_prints_the_summary_callback_md_shows(tmp_path):
    """One run (about half a minute) serves both: docs/make_samples.py's quickstart-summary sample,
    whose command is this code, is checked here rather than run a second time."""
    out = subprocess.run([sys.executable, "-c", _quickstart_code()], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "scaling-callback: N = 2,112 non-embedding parameters" in out.stdout + out.stderr
    logged = read_scalars(str(tmp_path / "lightning_logs"))
    assert logged["scaling/tokens"][1][-1] > 0 and (logged["forecast/ok"][1] == 1).sum() >= 5
    samples = make_samples()
    page = open(os.path.join(ROOT, "docs", "callback.md")).read()
    start, end = samples.block_span(page, "quickstart-summary")
    printed = samples.summary_of(out.stdout + "\n" + out.stderr).strip("\n") + "\n"
    assert samples.TIMING.sub("<s>", printed) == samples.TIMING.sub("<s>", page[start:end]), (
        "docs/callback.md's summary differs from what the quick start prints: python3 docs/make_samples.py")


def make_samples():
    """docs/make_samples.py as a module."""
    spec = importlib.util.spec_from_file_location("make_samples", os.path.join(ROOT, "docs", "make_samples.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
