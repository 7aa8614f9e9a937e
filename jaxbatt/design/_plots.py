"""The design figure: currents, voltages and expected posterior ellipses."""

import numpy as np

# 95 % of a 2-D Gaussian lies inside sqrt(chi2_2(0.95)) = 2.448 sds
ELLIPSE_SCALE = float(np.sqrt(-2.0 * np.log(0.05)))


def ellipse(mean, cov, scale=ELLIPSE_SCALE, n=200):
    """(n, 2) points of the ellipse of a 2-D Gaussian at `scale` sds."""
    vals, vecs = np.linalg.eigh(np.asarray(cov))
    angle = np.linspace(0.0, 2 * np.pi, n)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return np.asarray(mean)[None, :] + (vecs @ (scale * np.sqrt(vals)[:, None] * circle)).T


def plot_design(result, k=0):
    from matplotlib.figure import Figure  # noqa: PLC0415

    from ..cells import nrel_cell  # noqa: PLC0415

    designed, baseline = result.designed[k], result.baseline[k]
    one_c = nrel_cell().one_c_current
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax_i, ax_v, ax_e = fig.subplots(1, 3)
    t_fine = np.linspace(0.0, result.family.duration, 2001)
    ax_i.plot(t_fine, result.protocol.current(t_fine, one_c) / one_c, color="tab:blue",
              label="designed")  # fmt: skip
    rate = result.settings["baseline_c_rate"]
    ax_i.plot(t_fine, np.full_like(t_fine, rate), color="0.4", ls="--", label=baseline.label)
    ax_i.set(xlabel="time [s]", ylabel="current [C], + discharge", title="protocol")
    ax_i.legend(loc="best", fontsize=8)
    ax_v.plot(designed.t, designed.voltage, ".", ms=3, color="tab:blue", label="designed")
    ax_v.plot(baseline.t, baseline.voltage, ".", ms=3, color="0.4", label=baseline.label)
    lo, hi = result.settings["voltage_window_V"]
    for v in (lo, hi):
        ax_v.axhline(v, color="tab:red", lw=0.8, ls=":")
    ax_v.set(xlabel="time [s]", ylabel="voltage [V]",
             title=f"measured voltages ({designed.t.size} points)")  # fmt: skip
    ax_v.legend(loc="best", fontsize=8)
    names = designed.names[:2]
    if len(names) == 2:
        mean = np.array([designed.at[n] for n in names])
        for info, color, style in ((baseline, "0.4", "--"), (designed, "tab:blue", "-")):
            pts = ellipse(mean, info.covariance[:2, :2])
            sd = info.sd
            ax_e.plot(pts[:, 0], pts[:, 1], color=color, ls=style,
                      label=f"{info.label}: sd {sd[names[0]]:.3g}, {sd[names[1]]:.3g}")  # fmt: skip
        ax_e.plot(*mean, "+", color="tab:red", ms=10, label="design point")
        # zoom on the baseline's ellipse (inside the prior box): the designed one is small
        pts = ellipse(mean, baseline.covariance[:2, :2])
        pad = 0.08 * (pts.max(axis=0) - pts.min(axis=0))
        lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
        box = result.settings.get("box")
        if box:
            (x0, x1), (y0, y1) = box
            ax_e.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="0.35", lw=1.0, ls=":",
                      label="prior box")  # fmt: skip
            lo = np.maximum(lo, [x0 - 0.03 * (x1 - x0), y0 - 0.03 * (y1 - y0)])
            hi = np.minimum(hi, [x1 + 0.03 * (x1 - x0), y1 + 0.03 * (y1 - y0)])
        ax_e.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
        ax_e.set(xlabel=names[0], ylabel=names[1], title="expected 95 % posterior (Laplace)")
        ax_e.legend(loc="best", fontsize=8)
    return fig
