"""The layers the folder tree shows: core/ is numpy/scipy only, tracking/ uses torch but no
training framework, and every logged tag is spelled in core/tags.py alone."""
import ast
import os
import pkgutil
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "scaling_callback")
FRAMEWORKS = ("lightning", "pytorch_lightning", "transformers")


def _modules(subpackage: str):
    path = os.path.join(PACKAGE, subpackage)
    return [f"scaling_callback.{subpackage}.{m.name}" for m in pkgutil.iter_modules([path])]


def _imported_after(modules) -> set:
    """Top-level package names in sys.modules after importing `modules` in a fresh interpreter."""
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True)
    return set(out.stdout.split())


def test_core_and_the_command_line_import_no_torch_and_no_framework():
    modules = _modules("core") + _modules("cli") + ["scaling_callback.io", "scaling_callback.cli"]
    assert len(modules) > 10
    loaded = _imported_after(modules)
    assert not loaded & {"torch", *FRAMEWORKS}, sorted(loaded & {"torch", *FRAMEWORKS})


def test_tracking_imports_no_training_framework():
    loaded = _imported_after(_modules("tracking"))
    assert "torch" in loaded
    assert not loaded & set(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))


def test_core_source_names_no_torch_or_framework_import():
    """Also what a lazy import inside a function would bring in, which the run above cannot see."""
    files = [os.path.join(folder, name) for folder, _, names in os.walk(os.path.join(PACKAGE, "core"))
             for name in names if name.endswith(".py")]
    assert any(os.sep + "forecast" + os.sep in f for f in files)  # the engine's package is walked too
    for name in files:
        tree = ast.parse(open(name).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            assert not set(roots) & {"torch", "matplotlib", "tensorboard", *FRAMEWORKS}, (name, roots)


TAG = re.compile(r"""["'](scaling|forecast|advice|gate|throughput)/[A-Za-z_]""")


@pytest.mark.parametrize("path", sorted(
    os.path.join(d, f) for d, _, files in os.walk(PACKAGE) for f in files if f.endswith(".py")))
def test_tags_are_spelled_only_in_tags_py(path):
    if path.endswith(os.path.join("core", "tags.py")):
        return
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not _is_docstring(node, path):
            assert not TAG.match(repr(node.value)), f"{os.path.relpath(path, ROOT)}:{node.lineno} spells {node.value!r}"


def _is_docstring(node, path) -> bool:
    """Docstrings and comments may name a tag for the reader."""
    return "\n" in node.value or " " in node.value.strip()


def test_tests_and_benchmarks_read_the_repository_data_not_a_folder_beside_it():
    """A fresh clone has no ../shared: what the tests and benchmarks read is under data/."""
    pattern = re.compile(r"""["']\.\.["']\s*,\s*["']shared["']|\.\./shared|/\s*["']\.\.["']\s*/\s*["']shared""")
    for folder in ("tests", "benchmarks"):
        for name in os.listdir(os.path.join(ROOT, folder)):
            if name.endswith(".py") and name != os.path.basename(__file__):
                text = open(os.path.join(ROOT, folder, name)).read()
                code = re.sub(r'""".*?"""|#[^\n]*', "", text, flags=re.DOTALL)  # docstrings and comments may cite it
                assert not pattern.search(code), f"{folder}/{name} reads ../shared"
    assert os.path.isfile(os.path.join(ROOT, "data", "curves", "runs.csv"))
    assert os.path.isfile(os.path.join(ROOT, "data", "scaling", "chinchilla_svg_extracted.csv"))


def test_old_import_paths_work_with_a_deprecation_warning():
    code = ("import warnings, importlib\n"
            "warnings.simplefilter('error', DeprecationWarning)\n"
            "import scaling_callback\n"
            "for old, name in [('forecasting', 'forecast'), ('curves', 'read_curves'), ('crossrun', 'fit_scaling_law')]:\n"
            "    try:\n"
            "        importlib.import_module('scaling_callback.' + old)\n"
            "    except DeprecationWarning as w:\n"
            "        assert 'moved to scaling_callback.' in str(w), w\n"
            "    else:\n"
            "        raise AssertionError(old + ' did not warn')\n"
            "warnings.simplefilter('ignore', DeprecationWarning)\n"
            "from scaling_callback.forecasting import forecast\n"
            "from scaling_callback.core.forecast import forecast as new\n"
            "assert forecast is new and new.__module__ == 'scaling_callback.core.forecast'\n"
            "import scaling_callback.core.forecast as m; assert m.__spec__.name == 'scaling_callback.core.forecast'\n"
            "assert scaling_callback.huber_fit.__module__ == 'scaling_callback.core.robust'\n"
            "try:\n"
            "    scaling_callback.no_such_name\n"
            "except AttributeError:\n"
            "    pass\n"
            "else:\n"
            "    raise AssertionError('no AttributeError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
