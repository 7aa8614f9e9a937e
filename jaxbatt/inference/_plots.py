"""Plots of a calibration: pair (corner) plot with the prior box, traces, predictive band.

Each function returns a `matplotlib.figure.Figure` built without pyplot, so it works headless
and in notebooks alike; save it with ``fig.savefig(path)``. Matplotlib is imported when a plot
is made, not with jaxbatt.
"""

import numpy as np

PRIOR_STYLE = dict(color="0.35", ls="--", lw=1.0)
TRUTH_STYLE = dict(color="tab:red", lw=1.2)


def _truth_for(truth, curve):
    """`truth` is one mapping name -> value (every curve) or a list of them (one per curve)."""
    if truth is None:
        return {}
    if isinstance(truth, (list, tuple)):
        return dict(truth[curve])
    return dict(truth)


def _columns(result, curve):
    """(label, values, bounds or None, truth key) per plotted quantity; sigma in mV."""
    s = result.curve_samples(curve)
    cols = [(p.name, s[p.name], (p.lower, p.upper), p.name) for p in result.space.parameters]
    if "sigma" in s:
        cols.append(("sigma [mV]", 1e3 * s["sigma"], None, "sigma_mV"))
    return cols


def _limits(values, bounds, extent):
    if bounds is not None and extent == "prior":
        lo, hi = bounds
    else:
        lo, hi = np.quantile(values, [0.001, 0.999])
        if bounds is not None and extent == "posterior":
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    pad = 0.04 * (hi - lo) if hi > lo else 0.01 * max(abs(lo), 1.0)
    return lo - pad, hi + pad


def plot_pairs(result, *, curve: int = 0, truth=None, extent: str = "prior", max_points=3000):
    """Corner plot of one curve's posterior: histograms on the diagonal, draws below it.

    The prior box (the parameter bounds) is drawn dashed; `truth` (name -> value, or a list
    of such mappings per curve; ``"sigma_mV"`` marks sigma) is drawn red. ``extent="prior"``
    spans each axis over the whole box, ``"posterior"`` zooms onto the draws.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.patches import Rectangle  # noqa: PLC0415

    cols = _columns(result, curve)
    true = _truth_for(truth, curve)
    n = len(cols)
    fig = Figure(figsize=(2.4 * n + 0.6, 2.4 * n + 0.4), layout="constrained")
    axes = fig.subplots(n, n, squeeze=False)
    every = max(1, cols[0][1].size // max_points)
    limits = [_limits(vals, bounds, extent) for _, vals, bounds, _ in cols]
    for i, (label_i, vals_i, bounds_i, key_i) in enumerate(cols):
        for j, (label_j, vals_j, bounds_j, key_j) in enumerate(cols):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(vals_i, bins=40, range=limits[i] if extent == "posterior" else None,
                        density=True, color="tab:blue", alpha=0.75)  # fmt: skip
                if bounds_i is not None:
                    for b in bounds_i:
                        ax.axvline(b, **PRIOR_STYLE)
                if key_i in true:
                    ax.axvline(true[key_i], **TRUTH_STYLE)
                ax.set_yticks([])
            else:
                ax.plot(vals_j[::every], vals_i[::every], ".", ms=1.5, alpha=0.35, color="tab:blue")
                if bounds_i is not None and bounds_j is not None:
                    ax.add_patch(Rectangle(
                        (bounds_j[0], bounds_i[0]), bounds_j[1] - bounds_j[0],
                        bounds_i[1] - bounds_i[0], fill=False, **PRIOR_STYLE,
                    ))  # fmt: skip
                elif bounds_j is not None:
                    for b in bounds_j:
                        ax.axvline(b, **PRIOR_STYLE)
                if key_i in true and key_j in true:
                    ax.plot(true[key_j], true[key_i], "*", ms=10, color="tab:red")
                ax.set_ylim(limits[i])
            ax.set_xlim(limits[j])
            if i == n - 1:
                ax.set_xlabel(label_j)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(label_i)
            elif i != j:
                ax.set_yticklabels([])
    title = f"posterior ({result.voltage_model.name}"
    title += f", curve {curve})" if result.is_fleet else ")"
    fig.suptitle(title + "; dashed: prior box" + ("; red: truth" if true else ""))
    return fig


def plot_traces(result, *, curve: int = 0, truth=None):
    """Trace of every sampled quantity of one curve, one line per chain (after warm-up)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    true = _truth_for(truth, curve)
    names = list(result.space.names) + (["sigma"] if "sigma" in result.samples_by_chain else [])
    fig = Figure(figsize=(8, 1.9 * len(names) + 0.5), layout="constrained")
    axes = fig.subplots(len(names), 1, squeeze=False, sharex=True)[:, 0]
    for ax, name in zip(axes, names):
        x = result.samples_by_chain[name]
        if result.is_fleet:
            x = x[..., curve]
        is_sigma = name == "sigma"
        scale, label, key = (1e3, "sigma [mV]", "sigma_mV") if is_sigma else (1.0, name, name)
        for c in range(x.shape[0]):
            ax.plot(scale * x[c], lw=0.6, alpha=0.8, label=f"chain {c}")
        if key in true:
            ax.axhline(true[key], **TRUTH_STYLE)
        if name in result.space.names:
            p = result.space[name]
            ax.set_title(f"{name} (prior [{p.lower:g}, {p.upper:g}])", fontsize=9, loc="left")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7, ncol=min(4, x.shape[0]), loc="upper right")
    axes[-1].set_xlabel("iteration after warm-up")
    return fig


def plot_predictive(result, *, curve=None, truth=None, level: float = 0.9, num_draws: int = 200):
    """Data with the posterior-predictive band (with noise) and the model-curve band, and the
    residuals data - median [mV] below. `curve` None draws every curve (up to 10)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    curves = range(min(result.num_curves, 10)) if curve is None else [curve]
    fig = Figure(figsize=(7.5, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    for k in curves:
        color = f"C{k % 10}"
        data = result.curves[k]
        band = result.predictive(curve=k, level=level, num_draws=num_draws, noise=True)
        model = result.predictive(curve=k, level=level, num_draws=num_draws, noise=False)
        name = f"curve {k}: " if result.is_fleet else ""
        top.fill_between(band.t, band.lower, band.upper, color=color, alpha=0.2,
                         label=f"{name}{level:.0%} predictive band")  # fmt: skip
        top.fill_between(model.t, model.lower, model.upper, color=color, alpha=0.45, lw=0)
        top.plot(model.t, model.median, color=color, lw=1.2, label=f"{name}posterior median")
        top.plot(data.t, data.v, ".", ms=3, color="k" if not result.is_fleet else color,
                 label=f"{name}data")  # fmt: skip
        true = _truth_for(truth, k)
        if all(n in true for n in result.space.names):
            theta = np.array([true[n] for n in result.space.names])
            v_true = np.asarray(result.voltage_model.voltage_vector(theta, data.t))
            top.plot(data.t, v_true, **TRUTH_STYLE, ls=":", label=f"{name}truth")
        bottom.fill_between(band.t, 1e3 * (band.lower - band.median),
                            1e3 * (band.upper - band.median), color=color, alpha=0.2)  # fmt: skip
        bottom.plot(data.t, 1e3 * (data.v - model.median), ".", ms=3, color=color)
    bottom.axhline(0, color="0.3", lw=0.8)
    top.set_ylabel("terminal voltage [V]")
    top.legend(fontsize=7)
    top.set_title(f"posterior predictive ({result.voltage_model.name}); dark: model-curve band")
    bottom.set_ylabel("data - median [mV]")
    bottom.set_xlabel("time [s]")
    return fig
