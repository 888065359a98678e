"""The package's pictures (matplotlib, imported only when one is drawn): the forecast of one run
and the frontier of a cross-run fit.

Built without pyplot where they go to TensorBoard (no GUI backend, no global figure registry).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .core.formatting import format_number
from .core.checks import curve_arrays

FIGURE_GRID_POINTS = 96  # points of the drawn forecast curve (log-spaced from the first validation)
# TensorBoard's Images tab fits an image into a card about 430 px wide: text must be large for the
# figure's size to stay readable there (10 pt on 6.4 in was 9 px high), and the pixels many enough
# to be sharp with "Show actual image size"
FIGURE_INCHES = (6.4, 4.0)
FIGURE_DPI = 150
FIGURE_FONT_SIZE = 14
# the ladder figure's N_opt axis spans the laws' lines times/divided by this: a ladder still
# training can have N_opt intervals over 20 decades (docs/crossrun.md), which run off the axis
N_OPT_AXIS_MARGIN = 30.0


def _matplotlib_figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the forecast figure needs matplotlib (a dependency of scaling-callback that is "
                          "missing here): pip install matplotlib") from exc
    return Figure


def _positive_points(name: str, steps, values):
    s, v = curve_arrays(steps, values, name)
    keep = np.isfinite(s) & np.isfinite(v) & (s > 0) & (v > 0)  # log axes show positive points only
    return s[keep], v[keep]


def forecast_figure(
    observed_steps,
    observed_loss,
    *,
    fit_steps=None,
    fit_loss=None,
    band_steps=None,
    band_low=None,
    band_high=None,
    stop_step: Optional[int] = None,
    planned_end: Optional[int] = None,
    monitor: str = "val_loss",
    title: Optional[str] = None,
):
    """A matplotlib Figure of the forecast on log-log axes: observed points, the fitted curve
    (`fit_steps`, `fit_loss`: over the observed range and beyond), the extrapolation band
    (`band_steps`, `band_low`, `band_high`: e.g. the 80% interval), the recommended stop and
    the planned end as vertical lines. Plain arrays in, so it needs no forecast object.

    Only positive, finite points can sit on log axes; others are left out. Built without pyplot
    (no GUI backend, no global figure registry). Raises ImportError with the install hint when
    matplotlib is missing, ValueError when no observed point can be drawn.
    """
    Figure = _matplotlib_figure_class()
    from matplotlib import rc_context

    s, v = _positive_points("observed", observed_steps, observed_loss)
    if s.size == 0:
        raise ValueError("no positive, finite observed point to draw on log axes")
    with rc_context({"font.size": FIGURE_FONT_SIZE}):  # sizes are fixed as the artists are made
        fig = Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI)
        ax = fig.add_subplot()
        _draw_forecast(ax, s, v, fit_steps, fit_loss, band_steps, band_low, band_high, stop_step, planned_end,
                       monitor)
        if title:
            ax.set_title(title, fontsize="small")
    # fixed margins: tight_layout measures every tick label first and would double the drawing time
    fig.subplots_adjust(left=0.13, right=0.98, bottom=0.14, top=0.91 if title else 0.97)
    return fig


def _draw_forecast(ax, s, v, fit_steps, fit_loss, band_steps, band_low, band_high, stop_step, planned_end,
                   monitor) -> None:
    """The artists of `forecast_figure` on `ax`. The interval is also drawn as a bar at its last
    step (the planned end): at the end of a run the band is as thin as a line and the bar still
    shows it."""
    if band_steps is not None:
        bs, lo = _positive_points("band_low", band_steps, band_low)
        bs2, hi = _positive_points("band_high", band_steps, band_high)
        if bs.size and np.array_equal(bs, bs2):
            ax.fill_between(bs, lo, hi, color="tab:orange", alpha=0.3, linewidth=0)
            ax.errorbar([bs[-1]], [(lo[-1] + hi[-1]) / 2], yerr=[[(hi[-1] - lo[-1]) / 2]], fmt="none",
                        ecolor="tab:red", elinewidth=2, capsize=6, capthick=2, zorder=4,
                        label=f"forecast interval ({format_number(lo[-1])}–{format_number(hi[-1])})")
    if fit_steps is not None:
        fs, fv = _positive_points("fit", fit_steps, fit_loss)
        if fs.size:
            ax.plot(fs, fv, color="tab:orange", linewidth=2, label="fitted curve")
    ax.plot(s, v, "o", color="tab:blue", markersize=5, label=f"observed {monitor}")
    if stop_step is not None and 0 < stop_step and (planned_end is None or stop_step < planned_end):
        ax.axvline(stop_step, color="tab:green", linestyle="--", linewidth=1.5,
                   label=f"recommended stop ({int(stop_step)})")
    if planned_end is not None and planned_end > 0:
        ax.axvline(planned_end, color="grey", linestyle=":", linewidth=1.5, label=f"planned end ({int(planned_end)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if planned_end is not None and planned_end > 0:
        ax.set_xlim(right=planned_end * 1.1)  # room for the interval's bar at the planned end
    _readable_ticks(ax)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(monitor)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def _readable_ticks(ax) -> None:
    """Plain numbers on both log axes: steps at 1, 2, 5 times powers of ten (a run of 50 to 800
    steps gets 50, 100, 200, 500 rather than one "10²"), losses at about six round values of
    their narrow range (rather than 2×10⁰ or none at all). Plain text also draws faster than
    mathtext."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(NullFormatter())
    low, high = ax.get_ylim()
    ticks = [t for t in MaxNLocator(6).tick_values(low, high) if low <= t <= high and t > 0]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def forecast_figure_of(history, assessment, *, monitor: str = "val_loss"):
    """The matplotlib figure of one assessment (see `forecast_figure`): observed
    points, the fitted curve and its band from the first validation to the target, the
    recommended stop and the target. Needs matplotlib and a successful forecast."""
    fc = assessment.forecast
    if fc is None or not fc.ok:
        raise ValueError(f"no forecast to draw: {assessment.record.reason}")
    steps = history.column("step")
    first = max(int(steps.min()), 1)
    grid = np.unique(np.rint(np.geomspace(first, max(fc.target_step, first + 1), FIGURE_GRID_POINTS)))
    mid, low, high = fc.predict(grid)
    stop = assessment.stop.stop_step if assessment.stop is not None else None
    return forecast_figure(steps, history.column("val_loss"), fit_steps=grid, fit_loss=mid, band_steps=grid,
                           band_low=low, band_high=high, stop_step=stop, planned_end=fc.target_step,
                           monitor=monitor, title=figure_title(assessment.record, history.column("val_loss")[-1]))


def figure_title(record, reached: float) -> str:
    """The figure's title: the forecast and when it was made; at (or past) the target, the loss
    reached there beside the last forecast (it read "step 800: 2.431 at step 800")."""
    interval = f"{format_number(record.loss)} ({format_number(record.low)}–{format_number(record.high)})"
    if record.step >= record.target_step:
        return f"step {record.step} (planned end): reached {format_number(reached)}, forecast {interval}"
    return f"at step {record.step}, for step {record.target_step}: {interval}"


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or ImportError with the install hint."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'scaling-callback[plot]'") from None
    return plt


def _band(items, get):
    """(value, low, high) arrays of the Estimates `get(item)`; nan where there is no interval."""
    value = np.array([get(p).value for p in items])
    low = np.array([np.nan if get(p).low is None else get(p).low for p in items])
    high = np.array([np.nan if get(p).high is None else get(p).high for p in items])
    return value, low, high


def plot_fit(fit, N, D, loss, path: str, holdout=None) -> None:
    """Save a two-panel figure of `fit` over the runs (N, D, loss) to `path`; `holdout`, an
    optional (N, D, loss) of runs kept out of the fit, is drawn as red crosses on both panels.

    Left: iso-loss contours of the law over compute C = 6ND and model size N, the runs coloured
    by loss, and the compute-optimal frontier N_opt(C) (as Hoffmann et al. 2022 Fig. 4, left).
    Right: loss against compute for the runs and along the frontier, with the bootstrap band.
    Raises ImportError with an install hint when matplotlib is missing.
    """
    plt = _pyplot()
    from matplotlib.colors import Normalize

    from .core.status import ScalingLawError

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
        n_opt, n_low, n_high = _band(frontier, lambda p: p.N)
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
        l_opt, l_low, l_high = _band(frontier, lambda p: p.loss)
        right.plot(c_grid, l_opt, "r-", label="loss at the compute-optimal (N, D)")
        right.fill_between(c_grid, l_low, l_high, color="r", alpha=0.15, linewidth=0)
    right.set(xscale="log", xlabel="compute C = 6ND (FLOPs)", ylabel="loss",
              title=f"{fit.form} fit on {fit.n_points} runs")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_comparison(fit_a, fit_b, comparison, path: str, labels=("A", "B")) -> None:
    """Save the two compute-optimal frontiers (loss against compute, bootstrap bands) and their
    difference, with the crossing marked, to `path`. ImportError with a hint without matplotlib."""
    plt = _pyplot()
    from .core.crossrun.compare import compare_fits

    # a fit of a published law records no runs (compute_range NaN, NaN): the budgets span alone
    spans = [c for c in (*fit_a.compute_range, *fit_b.compute_range) if np.isfinite(c)]
    budgets = [r.compute for r in comparison.rows]
    lo, hi = min(spans + budgets), max(spans + budgets)
    grid = np.logspace(np.log10(lo), np.log10(hi), 60)
    dense = compare_fits(fit_a, fit_b, list(grid)).rows

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for get, colour, label in ((lambda r: r.loss_a, "C0", labels[0]), (lambda r: r.loss_b, "C1", labels[1])):
        v, l, h = _band(dense, get)
        left.plot(grid, v, color=colour, label=f"{label}")
        left.fill_between(grid, l, h, color=colour, alpha=0.2, linewidth=0)
    v, l, h = _band(dense, lambda r: r.difference)
    right.plot(grid, v, "k-", label="A − B")
    right.fill_between(grid, l, h, color="k", alpha=0.15, linewidth=0)
    right.axhline(0.0, color="grey", linewidth=0.8)
    for ax in (left, right):
        for c in (fit_a.compute_range[1], fit_b.compute_range[1]):
            if np.isfinite(c):
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


def plot_ladder(fit, points, path: str, *, final_fit=None, budget: Optional[float] = None, holdout=None,
                title: Optional[str] = None) -> None:
    """Save the figure of a law fitted on a ladder still training (issue 28) to `path`.

    `points` holds one point per run (N, D, loss, low, high, truth: `ladder.LadderPoints`); a run
    still training is its forecast at its planned end, drawn as an open circle with its interval
    as a bar, and its final loss where it is known (a replay) as a cross. Left: loss against
    tokens D, one colour per model size, with `fit`'s law as solid curves and `final_fit`'s (the
    law from the finished runs, when given) dashed. Right: the compute-optimal N against compute
    for both laws with their bootstrap bands, and N_opt with its interval at `budget` (default 10x
    the largest run's compute). `holdout`: (N, D, truth, predicted Estimates) of runs kept out,
    drawn in red on the left. ImportError with an install hint when matplotlib is missing.
    """
    plt = _pyplot()
    N, D = np.asarray(points.N, float), np.asarray(points.D, float)
    budget = float(budget) if budget is not None else 10.0 * 6.0 * float(np.max(N * D))
    with plt.rc_context({"font.size": 12}):
        fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.6))
        _ladder_loss_panel(left, fit, points, final_fit, holdout)
        _ladder_n_opt_panel(right, fit, final_fit, budget, 6.0 * N * D)
        if title:
            fig.suptitle(title, fontsize=13)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)


def _ladder_loss_panel(ax, fit, points, final_fit, holdout) -> None:
    """Loss against D per model size: the laws' curves and the points (see `plot_ladder`)."""
    from matplotlib.lines import Line2D

    N, D, loss = (np.asarray(x, float) for x in (points.N, points.D, points.loss))
    low, high, truth = (np.asarray(x, float) for x in (points.low, points.high, points.truth))
    hN, hD, hL, hP = holdout if holdout is not None else ([], [], [], [])
    sizes = np.unique(np.concatenate([N, np.asarray(hN, float)]))
    colours = _size_colours(sizes)
    d_all = np.concatenate([D, np.asarray(hD, float)])
    grid = np.geomspace(d_all.min() / 1.5, d_all.max() * 1.5, 80)
    for n in sizes:
        c = colours[n]
        ax.plot(grid, fit.law.loss(np.full_like(grid, n), grid), "-", color=c, lw=1.6)
        if final_fit is not None:
            ax.plot(grid, final_fit.law.loss(np.full_like(grid, n), grid), "--", color=c, lw=1.2)
    forecast = np.isfinite(low)
    for i in range(N.size):
        c = colours[N[i]]
        if forecast[i]:
            ax.errorbar(D[i], loss[i], yerr=[[loss[i] - low[i]], [high[i] - loss[i]]], fmt="o", mfc="white",
                        mec=c, ecolor=c, ms=7, mew=1.8, elinewidth=1.8, capsize=4, zorder=3)
            if np.isfinite(truth[i]):
                ax.plot(D[i], truth[i], "x", color=c, ms=8, mew=2, zorder=4)
        else:
            ax.plot(D[i], loss[i], "o", color=c, ms=7, zorder=3)
    for n, d, y, p in zip(hN, hD, hL, hP):
        ax.errorbar(d, p.value, yerr=None if p.low is None else [[p.value - p.low], [p.high - p.value]], fmt="s",
                    color="tab:red", mfc="white", ms=8, mew=1.8, capsize=4, zorder=4)
        if np.isfinite(y):
            ax.plot(d, y, "*", color="tab:red", ms=13, zorder=5)
    keys = [(Line2D([], [], color="k", lw=1.6), "law from the forecasts"),
            (Line2D([], [], marker="o", mfc="white", mec="k", ls="none", ms=7), "forecast at the planned end (bar: interval)")]
    if not forecast.all():
        keys.append((Line2D([], [], marker="o", color="k", ls="none", ms=7), "finished run"))
    if final_fit is not None:
        keys.insert(1, (Line2D([], [], color="k", ls="--", lw=1.2), "law from the finished runs"))
    if np.isfinite(truth[forecast]).any():
        keys.append((Line2D([], [], marker="x", color="k", ls="none", ms=8, mew=2), "its final loss, known later"))
    if len(hN):
        keys.append((Line2D([], [], marker="s", mfc="white", mec="tab:red", ls="none", ms=8), "held-out run: predicted"))
        keys.append((Line2D([], [], marker="*", color="tab:red", ls="none", ms=12), "held-out run: final loss"))
    ax.set(xscale="log", yscale="log", xlabel="tokens D (planned)", ylabel="loss",
           title="loss against tokens, one colour per model size N")
    _size_legend(ax, sizes, colours, keys)


def _size_colours(sizes) -> dict:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    span = np.ptp(np.log(sizes)) or 1.0
    return {n: cmap(0.9 * (np.log(n) - np.log(sizes[0])) / span) for n in sizes}


def _size_legend(ax, sizes, colours, keys) -> None:
    """Two legends: what the marks mean (upper right) and the colour of each N (lower left)."""
    from matplotlib.lines import Line2D

    from .core.formatting import format_number

    ax.add_artist(ax.legend(*zip(*keys), fontsize=9, loc="upper right"))
    ax.legend([Line2D([], [], color=colours[n], lw=3) for n in sizes],
              [f"N = {format_number(n)}" for n in sizes], fontsize=9, loc="lower left", ncol=2)
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    low, high = ax.get_ylim()  # plain losses at about eight round values of their narrow range
    ax.yaxis.set_major_locator(FixedLocator([t for t in MaxNLocator(8).tick_values(low, high) if low <= t <= high]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _ladder_n_opt_panel(ax, fit, final_fit, budget, C) -> None:
    """N_opt against compute for both laws, with bands, and N_opt's interval at `budget`."""
    from .core.formatting import format_number
    from .core.status import ScalingLawError

    grid = np.geomspace(C.min() / 3.0, budget * 3.0, 50)
    laws, drawn = [(fit, "tab:orange", "-", "from the forecasts", 1.0 / 1.06, 0.15)], []
    if final_fit is not None:
        laws.append((final_fit, "tab:blue", "--", "from the finished runs", 1.06, 0.3))
    for f, colour, style, label, shift, alpha in laws:
        try:
            value, low, high = _band([f.compute_optimal(c) for c in grid], lambda p: p.N)
            at = f.compute_optimal(budget).N
        except ScalingLawError:  # an exponent is 0: no allocation
            continue
        drawn += [value.min(), value.max(), at.value]
        ax.plot(grid, value, style, color=colour, lw=1.8, label=f"compute-optimal N {label}")
        ax.fill_between(grid, low, high, color=colour, alpha=alpha, linewidth=0)
        interval = "" if at.low is None else f" [{format_number(at.low)}, {format_number(at.high)}]"
        ax.errorbar(budget * shift, at.value, yerr=None if at.low is None else [[at.value - at.low], [at.high - at.value]],
                    fmt="D", color=colour, ms=7, capsize=5, elinewidth=2, zorder=4,
                    label=f"N_opt at {format_number(budget)} FLOPs: {format_number(at.value)}{interval}")
    ax.axvline(budget, color="grey", ls=":", lw=1)
    ax.axvline(C.min(), color="grey", ls="-.", lw=1, label="the ladder's smallest and largest compute")
    ax.axvline(C.max(), color="grey", ls="-.", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="compute C = 6ND (FLOPs)", ylabel="compute-optimal N (parameters)",
           title="where to spend the budget (bands and bars: 95% intervals)")
    if drawn:  # the laws' lines decide the axis: an interval spanning 20 decades would flatten them
        ax.set_ylim(min(drawn) / N_OPT_AXIS_MARGIN, max(drawn) * N_OPT_AXIS_MARGIN)
    ax.legend(fontsize=9, loc="upper left")
