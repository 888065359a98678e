"""The benchmark tables in docs/forecast.md and docs/crossrun.md are written by the benchmarks
(`--write-docs`) between markers, from results they record in docs/data/*.json. Here each
benchmark's `--check-docs` renders the tables again from its record and compares them with the
docs, and recomputes a few of the recorded numbers (forecasts, a gate replay, fits without
bootstrap, one extrapolation configuration with its recorded resamples, one ladder cut at 40%
without bootstrap) with the code as it is now: neither the tables nor the record can drift from
the code."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("script", ["forecast_accuracy.py", "crossrun_fit.py", "extrapolation.py", "ladder_early.py",
                                    "whatif_accuracy.py", "pruning_replay.py"])
def test_the_docs_tables_are_what_the_benchmark_renders_and_computes(script):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), "--check-docs"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]


def test_the_gate_replay_was_recorded_at_forecast_early_stoppings_defaults():
    import inspect
    import json

    from scaling_callback import ForecastEarlyStopping

    with open(os.path.join(ROOT, "docs", "data", "forecast_accuracy.json")) as f:
        recorded = json.load(f)["gate_defaults"]
    sig = inspect.signature(ForecastEarlyStopping.__init__).parameters
    assert recorded == {name: sig[name].default for name in recorded}
    assert set(recorded) == {"min_delta", "patience", "min_steps"}


def test_a_block_is_replaced_between_its_markers_only(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("doc_tables", os.path.join(ROOT, "benchmarks", "doc_tables.py"))
    doc_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc_tables)
    monkeypatch.setattr(doc_tables, "DOCS", str(tmp_path))
    (tmp_path / "page.md").write_text("before\n<!-- t -->\n| old |\n<!-- /t -->\nafter\n")
    doc_tables.write_block("page.md", "t", "| a |\n| b |")
    assert (tmp_path / "page.md").read_text() == "before\n<!-- t -->\n| a |\n| b |\n<!-- /t -->\nafter\n"
    assert doc_tables.read_block("page.md", "t") == "| a |\n| b |\n"
    assert doc_tables.check_blocks("page.md", {"t": "| a |\n| b |"}) == []
    assert doc_tables.check_blocks("page.md", {"t": "| a |"}) == ["t"]
    with pytest.raises(KeyError):
        doc_tables.read_block("page.md", "missing")


def test_a_recomputed_result_that_moved_is_named(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("doc_tables", os.path.join(ROOT, "benchmarks", "doc_tables.py"))
    doc_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc_tables)
    recorded = {"runs": 8, "points": {"low": [1.0, None]}, "n_opt": 2.0}
    assert doc_tables.differences("x", recorded, {"runs": 8, "points": {"low": [1.0 + 1e-12, None]}, "n_opt": 2.0},
                                  1e-6) == []
    moved = {"runs": 7, "points": {"low": [1.1, 0.5]}, "n_opt": 2.0}
    assert doc_tables.differences("x", recorded, moved, 1e-6) == [
        "x runs: recorded 8, now 7", "x points low[0]: recorded 1.0, now 1.1", "x points low[1]: recorded None, now 0.5"]
