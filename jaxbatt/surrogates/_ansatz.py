"""Hard-constrained concentration ansatz of the SPM surrogate: lithium inventory, the r = 0
symmetry and the r = R_s flux condition hold by construction.

At constant current each particle's volume-averaged concentration is known exactly by
Coulomb counting, c_bar(t) = c_0 - 3 j t / R_s, so the network only has to carry the shape of
the radial profile. With s = (r / R_s)^2 (any smooth function of s is even in r, so
dc/dr = 0 at r = 0) and n(t, s) the network's raw output for one electrode,

    N(t, s) = S [n(t, s) - s^2/2 n_s(t, 1) - <n - s^2/2 n_s(t, 1)>]     (zero mean, N_s(t, 1) = 0)
    P(s)    = R_s [-5/4 (s - 3/5) + 7/8 (s^2 - 3/7)]                    (zero mean, P(1) = 0,
                                                                         dP/dr(R_s) = 1)
    c(t, r) = c_bar(t) + ramp(t) [N(t, s) + g(t) P(s)],  g = -j / D(c_surf),

where <.> is the volume mean 3 int_0^1 f r_hat^2 dr_hat (Gauss-Legendre quadrature),
S = |j| R_s / D(c_0) the profile's natural scale and ramp(t) = 1 - exp(-t / tau) the hard
initial condition. Because P vanishes at the surface, c_surf = c_bar + ramp N(t, 1) does not
depend on g, so g follows in closed form and -D(c_surf) dc/dr(R_s) = ramp(t) j exactly, for
any concentration-dependent D. The mean of c is c_bar(t) at every t, and c(0, r) = c_0.
Only the interior diffusion equation is left to the loss. (For t >> tau; in the first few
tau the flux is ramp(t) j: the hard initial condition and a constant-current step from t = 0
are incompatible at t = 0.)
"""

import jax
import jax.numpy as jnp
import numpy as np

from ..physics import galvanostatic_fluxes

ANSATZES = ("sigmoid", "conservative", "inventory", "flux", "symmetric")
# What each hard-constrained ansatz builds in (the ablation of issue 10, benchmarks/RESULTS.md):
# every one of them is a function of s = (r/R)^2, so the r = 0 symmetry is always exact.
ANSATZ_CONSTRAINTS = {
    "conservative": {"inventory": True, "flux": True},
    "inventory": {"inventory": True, "flux": False},  # flux left to the surface_flux term
    "flux": {"inventory": False, "flux": True},  # inventory left to the diffusion residual
    "symmetric": {"inventory": False, "flux": False},  # c = c_bar(t) + ramp S n(t, s)
}
QUADRATURE_NODES = 16  # Gauss-Legendre nodes in r/R for the volume mean

_x, _w = np.polynomial.legendre.leggauss(QUADRATURE_NODES)
_R = 0.5 * (_x + 1.0)
_W = 1.5 * _w * _R**2  # 3 r^2 dr on [0, 1]
MEAN_NODES_S = _R**2  # the nodes in s = (r/R)^2
MEAN_WEIGHTS = _W / _W.sum()  # sum = 1 exactly (the rule integrates 3 r^2 exactly)


def surface_shape(s, radius):
    """P(s) [m]: zero volume mean, zero at the surface, dP/dr = 1 at r = R_s."""
    return radius * (-1.25 * (s - 0.6) + 0.875 * (s**2 - 3.0 / 7.0))


def mean_concentration(electrode, flux, t):
    """Coulomb counting: the volume-averaged concentration c_0 - 3 j t / R_s [mol/m^3] at
    constant pore-wall flux j [mol/(m^2 s)]."""
    return electrode.initial_concentration - 3.0 * flux * t / electrode.particle_radius


def conservative_concentrations(
    raw, cell, c_rate, ramp, t, r_hat, *, inventory=True, flux=True, readout=None
):
    """(c_s,a, c_s,c) [mol/m^3] at one point under the conservative ansatz.

    `inventory` and `flux` switch the two built-in constraints off one at a time (the ablation
    variants of `ANSATZ_CONSTRAINTS`): without `inventory` the profile is not made zero-mean
    and the mean concentration is the network's to learn; without `flux` there is no g P(s)
    term and no surface-slope removal, and the surface flux is left to the loss.

    Args:
        raw: s -> (n_a, n_c), the network's raw outputs at s = (r/R)^2 (time and parameters
            already bound).
        cell: the cell with the parameters applied (its diffusivities carry k_Ds).
        c_rate: discharge rate; ramp: ramp(t); t [s]; r_hat = r / R_s.
        readout: optional, for a network whose outputs are linear in features: then `raw`
            returns the features F(s) (2, W) and the outputs are readout(F) = sum_j B_kj F_kj
            (+ a bias, which the zero-mean profile cancels, so it is left out). The profile is
            linear in F, so it is combined in feature space and read out once: the same
            numbers (to rounding) for 1/18 of the per-parameter work of reading out the 16
            quadrature nodes, the surface value and slope one by one.
    """
    temperature = cell.temperature
    fluxes = galvanostatic_fluxes(cell, cell.current_density(c_rate))

    def stacked(s):
        return jnp.stack(raw(s))

    s = r_hat**2
    z = stacked(s)
    z_surface, dz_surface = jax.jvp(stacked, (jnp.ones_like(s),), (jnp.ones_like(s),))
    z_nodes = jax.vmap(stacked)(jnp.asarray(MEAN_NODES_S))
    z_mean = jnp.tensordot(jnp.asarray(MEAN_WEIGHTS), z_nodes, 1)
    if readout is not None and not (inventory and flux):
        # the network's bias cancels only in the conservative ansatz's zero-mean profile
        raise ValueError("a linear readout is implemented for the conservative ansatz only")
    if flux:  # the profile and its surface value before the scale, both electrodes at once
        read = (lambda x: x) if readout is None else readout
        base = z_mean - (3.0 / 14.0) * dz_surface if inventory else 0.0  # <s^2> = 3/7
        unscaled = read(z - 0.5 * s**2 * dz_surface - base)
        unscaled_surface = read(z_surface - 0.5 * dz_surface - base)
    out = []
    for k, electrode in enumerate((cell.anode, cell.cathode)):
        radius, j = electrode.particle_radius, fluxes[k]
        scale = jnp.abs(j) * radius / electrode.solid_diffusivity(
            electrode.initial_concentration, temperature
        )
        c_bar = mean_concentration(electrode, j, t)
        if flux:
            profile, profile_surface = scale * unscaled[k], scale * unscaled_surface[k]
            slope = -j / electrode.solid_diffusivity(c_bar + ramp * profile_surface, temperature)
            c = c_bar + ramp * (profile + slope * surface_shape(s, radius))
        else:
            c = c_bar + ramp * scale * (z[k] - (z_mean[k] if inventory else 0.0))
        out.append(jnp.clip(c, 0.0, electrode.max_concentration))
    return tuple(out)
