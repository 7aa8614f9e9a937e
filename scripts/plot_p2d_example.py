"""The README's P2D example: a 2C discharge of the nrel cell with the P2D and the SPM.

Writes docs/p2d_example.png: terminal voltage of both models, and the P2D's electrolyte
concentration c_e(x) and pore-wall flux j(x) at several times.

    python scripts/plot_p2d_example.py [--out docs/p2d_example.png]
"""

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxbatt  # noqa: E402
from jaxbatt.cells import nrel_cell  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/p2d_example.png")
    args = parser.parse_args()

    params = {"k_i0": 1.7, "k_Ds": 6.3}
    t = np.linspace(0.0, 1350.0, 271)
    p2d = jaxbatt.simulate("p2d", params, t=t, c_rate=2.0)
    spm = jaxbatt.simulate("spm", params, t=t, c_rate=2.0)
    x = np.asarray(p2d.x) * 1e6  # um

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    ax = axes[0]
    ax.plot(t, np.asarray(p2d.voltage), lw=2, label="P2D")
    ax.plot(t, np.asarray(spm.voltage), lw=2, ls="--", label="SPM")
    ax.set(xlabel="time [s]", ylabel="terminal voltage [V]", title="2C discharge, k_i0=1.7, k_Ds=6.3")
    ax.legend()
    times = [0, 10, 300, 900, 1350]
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(times)))
    for when, colour in zip(times, colours):
        k = int(np.argmin(np.abs(t - when)))
        axes[1].plot(x, np.asarray(p2d.c_e)[k], marker=".", color=colour, label=f"t = {t[k]:g} s")
        axes[2].plot(x, np.asarray(p2d.j_x)[k] * 1e6, marker=".", color=colour, label=f"t = {t[k]:g} s")
    axes[1].set(xlabel="x [um]", ylabel="c_e [mol/m^3]", title="electrolyte concentration")
    axes[2].set(xlabel="x [um]", ylabel="j [umol/(m^2 s)]", title="pore-wall flux (>0 out of particle)")
    cell = nrel_cell()
    interfaces = np.cumsum([cell.anode.thickness, cell.separator.thickness]) * 1e6
    for ax in axes[1:]:
        for boundary in interfaces:  # anode | separator | cathode
            ax.axvline(boundary, color="grey", lw=0.8, ls=":")
        ax.legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}; P2D - SPM voltage at 1350 s: "
          f"{(float(p2d.voltage[-1]) - float(spm.voltage[-1])) * 1e3:.1f} mV")  # fmt: skip


if __name__ == "__main__":
    main()
