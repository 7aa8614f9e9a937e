"""Conservative finite volumes for spherical diffusion in one active particle.

Uniform cell-centred mesh of `n` shells on [0, R_s]; face fluxes N = -D(c_face) dc/dr with
D at the arithmetic-mean face concentration, N = 0 at r = 0 and N = j at r = R_s. The scheme
conserves lithium exactly: sum(V_k dc_k/dt) = -R_s^2 j.
"""

import jax.numpy as jnp

from ..cells import Electrode
from ..physics import solid_flux


def shell_faces(radius, n: int):
    """Radii of the n + 1 shell faces [m]."""
    return radius * jnp.linspace(0.0, 1.0, n + 1)


def shell_centres(radius, n: int):
    """Radii of the n shell centres [m]."""
    faces = shell_faces(radius, n)
    return 0.5 * (faces[1:] + faces[:-1])


def shell_volumes(radius, n: int):
    """Shell volumes divided by 4 pi: (r_out^3 - r_in^3) / 3 [m^3]."""
    faces = shell_faces(radius, n)
    return (faces[1:] ** 3 - faces[:-1] ** 3) / 3.0


def particle_rate(c, pore_wall_flux, electrode: Electrode, temperature):
    """dc/dt [mol/(m^3 s)] of the shell concentrations `c` (n,) given the pore-wall flux."""
    n = c.shape[-1]
    radius = electrode.particle_radius
    dr = radius / n
    faces = shell_faces(radius, n)
    d_face = electrode.solid_diffusivity(0.5 * (c[1:] + c[:-1]), temperature)
    interior = solid_flux(d_face, (c[1:] - c[:-1]) / dr)
    flux = jnp.concatenate([jnp.zeros(1, c.dtype), interior, jnp.reshape(pore_wall_flux, (1,))])
    area_flux = faces**2 * flux
    return -(area_flux[1:] - area_flux[:-1]) / shell_volumes(radius, n)


def surface_concentration(c, pore_wall_flux, electrode: Electrode, temperature):
    """c_s at r = R_s [mol/m^3]: the quadratic through the two outer shell centres whose
    slope at R_s satisfies -D dc/dr = j (D evaluated at a first estimate of c_s)."""
    n = c.shape[-1]
    dr = electrode.particle_radius / n
    c1, c2 = c[..., -1], c[..., -2]

    def extrapolate(d_surface):
        # p(s) = a + b s + q s^2 in s = R_s - r, with p'(r = R_s) = -j / D.
        b = pore_wall_flux / d_surface
        q = (c2 - c1 - b * dr) / (2.0 * dr**2)
        return c1 - b * dr / 2 - q * dr**2 / 4

    first = extrapolate(electrode.solid_diffusivity(c1, temperature))
    return extrapolate(electrode.solid_diffusivity(first, temperature))


def particle_average(c, radius):
    """Volume-averaged concentration of shells `c` (..., n) [mol/m^3]."""
    n = c.shape[-1]
    return jnp.sum(c * shell_volumes(radius, n), axis=-1) / (radius**3 / 3.0)
