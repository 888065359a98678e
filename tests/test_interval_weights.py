"""benchmarks/interval_weights.py's rule: honest first (every source, cutoff and kind of forecast
above its bar), then the narrowest on the public sources."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from interval_weights import CANDIDATES, choose  # noqa: E402


def test_the_narrowest_candidate_that_covers_every_source_cutoff_and_kind_is_chosen():
    sources = ("cpu_gpt", "lr_scheduling")
    narrow, wide = CANDIDATES[:2]
    # (coverage, worst cutoff, median width %, worst kind of forecast)
    table = {(w, s): (0.85, 0.80, 10.0, 0.80) for w in CANDIDATES for s in sources}
    table[(narrow, "lr_scheduling")] = (0.82, 0.72, 1.0, 0.68)  # its forecasts after the decay began: 0.68
    table[(wide, "lr_scheduling")] = (0.85, 0.80, 2.0, 0.80)
    assert choose(table, sources) == wide
    table[(narrow, "lr_scheduling")] = (0.82, 0.72, 1.0, 0.76)
    assert choose(table, sources) == narrow
    table[(narrow, "cpu_gpt")] = (0.80, 0.69, 1.0, 0.80)  # a cutoff below 0.70
    assert choose(table, sources) == wide
    for w in CANDIDATES:
        table[(w, "cpu_gpt")] = (0.70, 0.60, 1.0, 0.70)
    assert choose(table, sources) is None
