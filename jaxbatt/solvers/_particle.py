"""Conservative finite volumes for spherical diffusion in one active particle.

Cell-centred mesh of `n` shells on [0, R_s], refined towards the surface by the smooth map
r = R_s g(u), g(u) = 1 - (1 - u)^p of a uniform u in [0, 1]: faces at g(k / n), centres at
g((k + 1/2) / n) (mapped midpoints: placing them at the faces' midpoints instead measured
worse). p = 1 is the uniform mesh;
the default p = `SURFACE_REFINEMENT` puts thin shells where the concentration gradient lives
(measured against PyBaMM for five cells in `benchmarks/RESULTS.md`, "surface-refined shells").
Face fluxes N = -D(c_face) dc/dr with D at the arithmetic-mean face
concentration and the gradient between the two neighbouring centres, N = 0 at r = 0 and N = j
at r = R_s. The scheme conserves lithium exactly: sum(V_k dc_k/dt) = -R_s^2 j.
"""

import functools

import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..cells import Electrode
from ..physics import solid_flux

# The default exponent p of the surface-refining map; 1 is the uniform mesh.
SURFACE_REFINEMENT = 1.5


def check_refinement(refinement):
    """InputError unless `refinement` is a number >= 1 (the solvers' `radial_refinement`)."""
    if not isinstance(refinement, (int, float)) or not 1.0 <= refinement < np.inf:
        raise InputError(
            f"radial_refinement must be a number >= 1 (1: uniform shells), got {refinement!r}"
        )


@functools.lru_cache(maxsize=None)
def _unit_mesh(n: int, refinement: float):
    """(faces (n + 1,), centres (n,)) of the mesh on the unit radius, as numpy constants."""
    u = np.linspace(0.0, 1.0, n + 1)
    faces = 1.0 - (1.0 - u) ** refinement
    centres = 1.0 - (1.0 - 0.5 * (u[1:] + u[:-1])) ** refinement
    return faces, centres


def shell_faces(radius, n: int, refinement: float = SURFACE_REFINEMENT):
    """Radii of the n + 1 shell faces [m]."""
    return radius * _unit_mesh(n, refinement)[0]


def shell_centres(radius, n: int, refinement: float = SURFACE_REFINEMENT):
    """Radii of the n shell centres [m]."""
    return radius * _unit_mesh(n, refinement)[1]


def shell_volumes(radius, n: int, refinement: float = SURFACE_REFINEMENT):
    """Shell volumes divided by 4 pi: (r_out^3 - r_in^3) / 3 [m^3]."""
    faces = shell_faces(radius, n, refinement)
    return (faces[1:] ** 3 - faces[:-1] ** 3) / 3.0


def particle_rate(c, pore_wall_flux, electrode: Electrode, temperature,
                  refinement: float = SURFACE_REFINEMENT):  # fmt: skip
    """dc/dt [mol/(m^3 s)] of the shell concentrations `c` (n,) given the pore-wall flux."""
    n = c.shape[-1]
    radius = electrode.particle_radius
    faces = shell_faces(radius, n, refinement)
    centres = shell_centres(radius, n, refinement)
    d_face = electrode.solid_diffusivity(0.5 * (c[1:] + c[:-1]), temperature)
    interior = solid_flux(d_face, (c[1:] - c[:-1]) / (centres[1:] - centres[:-1]))
    flux = jnp.concatenate([jnp.zeros(1, c.dtype), interior, jnp.reshape(pore_wall_flux, (1,))])
    area_flux = faces**2 * flux
    return -(area_flux[1:] - area_flux[:-1]) / shell_volumes(radius, n, refinement)


def surface_concentration(c, pore_wall_flux, electrode: Electrode, temperature,
                          refinement: float = SURFACE_REFINEMENT):  # fmt: skip
    """c_s at r = R_s [mol/m^3]: the quadratic through the two outer shell centres whose
    slope at R_s satisfies -D dc/dr = j (D evaluated at a first estimate of c_s)."""
    n = c.shape[-1]
    unit_centres = _unit_mesh(n, refinement)[1]
    # distances of the two outer centres from the surface
    s1 = electrode.particle_radius * (1.0 - unit_centres[-1])
    s2 = electrode.particle_radius * (1.0 - unit_centres[-2])
    c1, c2 = c[..., -1], c[..., -2]

    def extrapolate(d_surface):
        # p(s) = a + b s + q s^2 in s = R_s - r, with p'(r = R_s) = -j / D.
        b = pore_wall_flux / d_surface
        q = (c2 - c1 - b * (s2 - s1)) / (s2**2 - s1**2)
        return c1 - b * s1 - q * s1**2

    first = extrapolate(electrode.solid_diffusivity(c1, temperature))
    return extrapolate(electrode.solid_diffusivity(first, temperature))


def particle_average(c, radius, refinement: float = SURFACE_REFINEMENT):
    """Volume-averaged concentration of shells `c` (..., n) [mol/m^3]."""
    n = c.shape[-1]
    return jnp.sum(c * shell_volumes(radius, n, refinement), axis=-1) / (radius**3 / 3.0)
