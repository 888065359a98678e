"""Every script in benchmarks/ runs, with its smallest arguments, so that none can rot unnoticed
(overhead.py crashed for a release on a private hook the refactor removed). What they measure is
read from their tables by people; here only that they run to the end and print their table."""
import ast
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")

# script -> (smallest arguments, a line its output must hold)
SMALLEST = {
    "crossrun_fit.py": (["--bootstrap", "2", "--repeats", "1", "--skip-second"], "E"),
    "example_intervals.py": (["--runs", "1", "--max-steps", "64"], "the 50% interval held the final loss"),
    "extrapolation.py": (["--bootstrap", "2", "--skip-gadre", "--only", "owt2 tuned/short warmup"], "owt2 tuned"),
    "forecast_accuracy.py": (["--sources", "gemstones", "--max-runs", "3", "--no-loso", "--no-gate", "--family",
                              "--family-size", "1"], "| gemstones | family |"),
    "forecast_memory.py": (["--targets", "1000", "--full-max", "1000", "--repeats", "1"], "1e+03"),
    "gate_replay.py": (["--sources", "gemstones", "--max-runs", "2", "--family"], "wrong stops in all"),
    "ladder_early.py": (["--cutoffs", "0.4", "--bootstrap", "5", "--ladders", "lr_scheduling owt2"], "at 40%: median"),
    "gpu_checks.py": ([], "|"),
    "pruning_replay.py": (["--curves", os.path.join(ROOT, "data", "curves", "multipower_law.csv"), "--orders", "1",
                           "--max-studies", "1"], "| forecast |"),
    "overhead.py": (["--steps", "24", "--val-every", "8", "--repeats", "1", "--assess-repeats", "1"],
                    "callback share of the step time"),
    "schedule_speed.py": (["--steps", "100", "--repeats", "1"], "|"),
    "whatif_accuracy.py": (["--sources", "multipower_law", "--max-branches", "2"], "| multipower_law | 100% of d | family |"),
}


def _scripts():
    """The runnable scripts of benchmarks/ (a module with a `__main__` block), studies apart."""
    names = []
    for name in sorted(os.listdir(BENCHMARKS)):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(BENCHMARKS, name)).read())
            if any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body):
                names.append(name)
    return names


def test_every_benchmark_script_has_its_smallest_arguments_here():
    assert sorted(_scripts()) == sorted(SMALLEST), "a benchmark script without a smoke run (or a stale entry)"


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_benchmark_script_runs_with_its_smallest_arguments(script):
    args, expected = SMALLEST[script]
    with tempfile.TemporaryDirectory() as cwd:  # scripts that write (runs/, logs) write here
        extra = ["--logdir", os.path.join(cwd, "logs")] if script == "overhead.py" else []
        out = subprocess.run([sys.executable, os.path.join(BENCHMARKS, script), *args, *extra], cwd=cwd,
                             capture_output=True, text=True, timeout=600,
                             env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert out.returncode == 0, f"{script} {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert expected in out.stdout, f"{script} printed no table:\n{out.stdout[-3000:]}"
