"""The iso-loss / compute-optimal frontier picture of a cross-run fit (matplotlib, optional)."""
from __future__ import annotations

import numpy as np

from .crossrun import ScalingLawError, ScalingLawFit

__all__ = ["plot_fit"]


def plot_fit(fit: ScalingLawFit, N, D, loss, path: str, holdout=None) -> None:
    """Save a two-panel figure of `fit` over the runs (N, D, loss) to `path`; `holdout`, an
    optional (N, D, loss) of runs kept out of the fit, is drawn as red crosses on both panels.

    Left: iso-loss contours of the law over compute C = 6ND and model size N, the runs coloured
    by loss, and the compute-optimal frontier N_opt(C) (as Hoffmann et al. 2022 Fig. 4, left).
    Right: loss against compute for the runs and along the frontier, with the bootstrap band.
    Raises ImportError with an install hint when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import Normalize
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'scaling-callback[plot]'") from None

    N, D, loss = (np.asarray(x, float) for x in (N, D, loss))
    C = 6.0 * N * D
    hN, hD, hL = (np.asarray(x, float) for x in (holdout if holdout is not None else ([], [], [])))
    hC = 6.0 * hN * hD
    c_all, n_all = np.concatenate([C, hC]), np.concatenate([N, hN])
    c_grid = np.logspace(np.log10(c_all.min()) - 0.5, np.log10(max(C.max() * 10 ** 1.5, c_all.max() * 3)), 60)
    n_grid = np.logspace(np.log10(n_all.min()) - 0.5, np.log10(n_all.max()) + 1.0, 200)
    CC, NN = np.meshgrid(c_grid, n_grid)
    surface = fit.law.loss(NN, CC / (6.0 * NN))
    try:
        frontier = [fit.compute_optimal(c) for c in c_grid]
    except ScalingLawError:  # an exponent is 0: no frontier to draw
        frontier = []

    def band(get):
        value = np.array([get(p).value for p in frontier])
        low = np.array([np.nan if get(p).low is None else get(p).low for p in frontier])
        high = np.array([np.nan if get(p).high is None else get(p).high for p in frontier])
        return value, low, high

    norm = Normalize(vmin=loss.min(), vmax=loss.max())
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    levels = np.quantile(surface[np.isfinite(surface)], np.linspace(0.02, 0.9, 12))
    contours = left.contour(CC, NN, surface, levels=np.unique(levels), cmap="viridis", norm=norm,
                            linewidths=0.8)
    left.clabel(contours, fmt="%.2f", fontsize=7)
    left.scatter(C, N, c=loss, cmap="viridis", norm=norm, s=14, edgecolors="k", linewidths=0.3,
                 label="runs")
    if hN.size:
        left.scatter(hC, hN, marker="x", color="r", s=30, label="held-out runs")
    if frontier:
        n_opt, n_low, n_high = band(lambda p: p.N)
        left.plot(c_grid, n_opt, "r-", label="compute-optimal N")
        left.fill_between(c_grid, n_low, n_high, color="r", alpha=0.15, linewidth=0)
    left.set(xscale="log", yscale="log", xlabel="compute C = 6ND (FLOPs)", ylabel="parameters N",
             title="iso-loss contours and the efficient frontier")
    left.set_ylim(n_grid[0], n_grid[-1])
    left.legend(loc="upper left", fontsize=8)

    right.scatter(C, loss, c=np.log10(N), cmap="plasma", s=14, label="runs (colour: log10 N)")
    if hN.size:
        right.scatter(hC, hL, marker="x", color="r", s=30, label="held-out runs (truth)")
        right.scatter(hC, fit.law.loss(hN, hD), marker="o", facecolors="none", edgecolors="r", s=30,
                      label="held-out runs (law)")
    if frontier:
        l_opt, l_low, l_high = band(lambda p: p.loss)
        right.plot(c_grid, l_opt, "r-", label="loss at the compute-optimal (N, D)")
        right.fill_between(c_grid, l_low, l_high, color="r", alpha=0.15, linewidth=0)
    right.set(xscale="log", xlabel="compute C = 6ND (FLOPs)", ylabel="loss",
              title=f"{fit.form} fit on {fit.n_points} runs")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_comparison(fit_a: ScalingLawFit, fit_b: ScalingLawFit, comparison, path: str,
                    labels=("A", "B")) -> None:
    """Save the two compute-optimal frontiers (loss against compute, bootstrap bands) and their
    difference, with the crossing marked, to `path`. ImportError with a hint without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'scaling-callback[plot]'") from None
    from .compare import compare_fits

    lo = min(fit_a.compute_range[0], fit_b.compute_range[0], comparison.rows[0].compute)
    hi = max(fit_a.compute_range[1], fit_b.compute_range[1], comparison.rows[-1].compute)
    grid = np.logspace(np.log10(lo), np.log10(hi), 60)
    dense = compare_fits(fit_a, fit_b, list(grid)).rows

    def series(get):
        value = np.array([get(r).value for r in dense])
        low = np.array([np.nan if get(r).low is None else get(r).low for r in dense])
        high = np.array([np.nan if get(r).high is None else get(r).high for r in dense])
        return value, low, high

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for get, colour, label in ((lambda r: r.loss_a, "C0", labels[0]), (lambda r: r.loss_b, "C1", labels[1])):
        v, l, h = series(get)
        left.plot(grid, v, color=colour, label=f"{label}")
        left.fill_between(grid, l, h, color=colour, alpha=0.2, linewidth=0)
    v, l, h = series(lambda r: r.difference)
    right.plot(grid, v, "k-", label="A − B")
    right.fill_between(grid, l, h, color="k", alpha=0.15, linewidth=0)
    right.axhline(0.0, color="grey", linewidth=0.8)
    for ax in (left, right):
        for c in (fit_a.compute_range[1], fit_b.compute_range[1]):
            ax.axvline(c, color="grey", linestyle=":", linewidth=0.8)
        if comparison.crossing is not None and lo <= comparison.crossing <= hi:
            ax.axvline(comparison.crossing, color="r", linestyle="--", linewidth=1, label="crossing")
    left.set(xscale="log", xlabel="compute C = 6ND (FLOPs)", ylabel="loss at the compute-optimal (N, D)",
             title="two families' frontiers (dotted: largest run of each)")
    right.set(xscale="log", xlabel="compute C = 6ND (FLOPs)", ylabel="loss A − loss B",
              title="difference (below 0: A is lower)")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
