"""tools/ makes the shipped constants and data: its scripts run without sys.path inserts, and
tools/learn_priors.py prints DEFAULT_PRIORS in exactly the form priors.py holds."""
import importlib.util
import inspect
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(*path):
    spec = importlib.util.spec_from_file_location(os.path.splitext(path[-1])[0], os.path.join(ROOT, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_printed_literal_is_the_one_in_priors_py_and_means_the_same_priors():
    from scaling_callback.core.forecast import DEFAULT_PRIORS, DropPrior, ForecastPriors, priors

    literal = _load("tools", "learn_priors.py").priors_literal(DEFAULT_PRIORS)
    assert literal in inspect.getsource(priors)
    namespace = {"ForecastPriors": ForecastPriors, "DropPrior": DropPrior}
    exec(literal, namespace)
    assert namespace["DEFAULT_PRIORS"] == DEFAULT_PRIORS


def test_the_tools_run_as_scripts_without_sys_path_inserts():
    for script in ("learn_priors.py", "make_cpu_curves.py"):
        path = os.path.join(ROOT, "tools", script)
        assert "sys.path.insert" not in open(path).read()
        out = subprocess.run([sys.executable, path, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert out.returncode == 0 and "usage" in out.stdout, out.stderr


def test_benchmarks_insert_no_path_but_the_examples_and_one_study_the_benchmarks():
    """A benchmark imports the installed package and its sibling modules (its own folder is on
    sys.path when run as a script); overhead.py reaches examples/ for the example's model, and the
    sparse-validation and interval-score studies benchmarks/ for forecast_accuracy's scoring and record."""
    inserts = {}
    for folder, _, names in os.walk(os.path.join(ROOT, "benchmarks")):
        for name in names:
            if name.endswith(".py"):
                n = open(os.path.join(folder, name)).read().count("sys.path.insert")
                if n:
                    inserts[name] = n
    assert inserts == {"overhead.py": 1, "sparse_validation.py": 1, "interval_score.py": 1}


def test_the_gpu_command_lists_every_gpu_check():
    assert tuple(_load("benchmarks", "gpu_checks.py").CHECKS) == tuple(_load("tests", "gpu", "checks.py").CHECKS)
