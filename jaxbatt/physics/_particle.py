"""Spherical solid diffusion in an active particle, as pointwise residuals.

dc/dt = (1/r^2) d/dr (r^2 D(c) dc/dr) on 0 < r < R_s, dc/dr = 0 at r = 0,
-D dc/dr = j at r = R_s (j positive out of the particle).
"""

import jax.numpy as jnp


def solid_flux(diffusivity, dc_dr):
    """Fickian molar flux N = -D dc/dr [mol/(m^2 s)], positive outward."""
    return -diffusivity * dc_dr


def spherical_diffusion_residual(c, dc_dt, dc_dr, d2c_dr2, r, diffusivity, ddiffusivity_dc):
    """Residual of dc/dt = D (c'' + 2 c'/r) + D'(c) c'^2 at radius r [mol/(m^3 s)].

    At r = 0 the term 2 c'/r is replaced by its limit 2 c'' (c' = 0 there by symmetry).
    `c` is part of the signature so that a caller can evaluate D(c) itself; the residual
    depends on it only through `diffusivity` and `ddiffusivity_dc`.
    """
    del c
    r_safe = jnp.where(r > 0, r, 1.0)
    curvature = jnp.where(r > 0, 2.0 * dc_dr / r_safe, 2.0 * d2c_dr2)
    divergence = diffusivity * (d2c_dr2 + curvature) + ddiffusivity_dc * dc_dr**2
    return dc_dt - divergence


def symmetry_residual(dc_dr):
    """Residual of the r = 0 condition dc/dr = 0 [mol/m^4]."""
    return dc_dr


def surface_flux_residual(diffusivity, dc_dr, pore_wall_flux):
    """Residual of the r = R_s condition -D dc/dr = j [mol/(m^2 s)]."""
    return solid_flux(diffusivity, dc_dr) - pore_wall_flux
