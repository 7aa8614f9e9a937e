"""Structured direct linear solves for the implicit integrators' Newton matrices.

`CondensedLU` forms a sparse matrix from one JVP per column colour of its known pattern and
solves it by condensing tridiagonal chains (particle interiors) onto a small dense core. The
P2D and the SPM solvers both use it.
"""

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np


def column_colouring(pattern: np.ndarray) -> np.ndarray:
    """Greedy colouring of the columns of a sparsity pattern: columns of one colour share no
    row, so one JVP with their summed unit vectors recovers all of them (Curtis, Powell and
    Reid, 1974). Returns the colour of each column."""
    n = pattern.shape[1]
    colour = np.full(n, -1)
    # colour the densest columns first (fewest colours in practice)
    for col in np.argsort(-pattern.sum(axis=0), kind="stable"):
        rows = pattern[:, col]
        taken = {colour[c] for c in np.flatnonzero(pattern[rows].any(axis=0)) if colour[c] >= 0}
        colour[col] = next(k for k in range(n) if k not in taken)
    return colour


def _lu_solve(lu, permutation, rhs, transpose):
    # lax.linalg.lu gives S[permutation] = L U (L unit lower); rhs is a vector
    rhs = rhs[:, None]
    solve = jax.lax.linalg.triangular_solve
    if not transpose:
        y = solve(lu, rhs[permutation], left_side=True, lower=True, unit_diagonal=True)
        return solve(lu, y, left_side=True, lower=False)[:, 0]
    # S^T = U^T L^T P: solve U^T z = rhs, L^T y = z, then x[permutation] = y
    z = solve(lu, rhs, left_side=True, lower=False, transpose_a=True)
    y = solve(lu, z, left_side=True, lower=True, transpose_a=True, unit_diagonal=True)
    return jnp.zeros_like(y[:, 0]).at[permutation].set(y[:, 0])


class _Chains(eqx.Module):
    """One group of particle interiors: tridiagonal bands (P, m) and their coupling to the
    core through each chain's last (outermost) element."""

    lower: jax.Array  # T[k, k-1] (first entry 0)
    diagonal: jax.Array
    upper: jax.Array  # T[k, k+1] (last entry 0)
    to_core: jax.Array  # (P,) M[last interior, link]
    from_core: jax.Array  # (P,) M[link, last interior]
    response: jax.Array  # (P, m) T^{-1} e_last

    def solve(self, rhs):
        return jax.lax.linalg.tridiagonal_solve(
            self.lower, self.diagonal, self.upper, rhs[..., None]
        )[..., 0]

    def transpose(self):
        lower = jnp.pad(self.upper[:, :-1], ((0, 0), (1, 0)))
        upper = jnp.pad(self.lower[:, 1:], ((0, 0), (0, 1)))
        last = jnp.zeros_like(self.diagonal).at[:, -1].set(1.0)
        response = jax.lax.linalg.tridiagonal_solve(lower, self.diagonal, upper, last[..., None])
        return _Chains(lower, self.diagonal, upper, self.from_core, self.to_core, response[..., 0])


class CondensedLU(lx.AbstractLinearSolver):
    """Direct solver for the P2D's and the SPM's Newton matrices, exploiting their structure.

    The matrix is formed from one matrix-vector product (JVP) per column colour of its
    known sparsity pattern instead of one per column (Curtis, Powell and Reid, 1974). The
    interior shells of every particle form tridiagonal chains that touch the rest of the
    state (the "core"; in the P2D: c_e, the two outer shells of each particle, the fluxes; in
    the SPM: each particle's outer shell) only through one entry pair at the chain's outer
    end; they are condensed out (static condensation:
    the Schur complement on the core differs from the core block by one diagonal term per
    particle), so only the small core is factorised densely. Exact: the same solution as a
    dense LU, at a fraction of the cost.

    Args:
        pattern: (N, N) boolean sparsity pattern of the matrix.
        chains: integer arrays (P, m), each row one chain of interior indices ordered
            inwards-to-outwards; checked against `pattern`.
    """

    seeds: jax.Array  # (n_colours, N)
    colour: jax.Array  # (N,)
    pattern: jax.Array  # (N, N) bool
    # index sets, stored as nested tuples (hashable static data); see the properties below
    core_indices: tuple = eqx.field(static=True)
    chain_indices: tuple = eqx.field(static=True)
    link_positions: tuple = eqx.field(static=True)  # core position linked to each chain

    def __init__(self, pattern, chains):
        pattern = np.asarray(pattern, dtype=bool)
        chains = tuple(np.asarray(c, dtype=int) for c in chains)
        colour = column_colouring(pattern)
        interior = np.concatenate([c.ravel() for c in chains])
        core = np.setdiff1d(np.arange(pattern.shape[0]), interior)
        position = np.full(pattern.shape[0], -1)
        position[core] = np.arange(core.size)
        links = []
        for group in chains:
            group_links = []
            for chain in group:
                # a chain may couple to the core only through its last element
                touching = pattern[np.ix_(chain, core)] | pattern[np.ix_(core, chain)].T
                if touching[:-1].any() or touching[-1].sum() != 1:
                    raise ValueError("chain couples to the core other than by its outer end")
                others = np.setdiff1d(interior, chain)
                if pattern[np.ix_(chain, others)].any() or pattern[np.ix_(others, chain)].any():
                    raise ValueError("chains are coupled to each other")
                band = pattern[np.ix_(chain, chain)]
                if np.triu(band, 2).any() or np.tril(band, -2).any():
                    raise ValueError("a chain is not tridiagonal")
                group_links.append(position[core[np.flatnonzero(touching[-1])[0]]])
            links.append(np.asarray(group_links))
        self.seeds = jnp.asarray(np.eye(colour.max() + 1)[colour].T)
        self.colour = jnp.asarray(colour)
        self.pattern = jnp.asarray(pattern)
        self.core_indices = tuple(core.tolist())
        self.chain_indices = tuple(tuple(map(tuple, c.tolist())) for c in chains)
        self.link_positions = tuple(tuple(link.tolist()) for link in links)

    @property
    def core(self) -> np.ndarray:
        return np.asarray(self.core_indices, dtype=int)

    @property
    def chains(self) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(c, dtype=int) for c in self.chain_indices)

    @property
    def links(self) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(c, dtype=int) for c in self.link_positions)

    def init(self, operator, options):
        del options
        compressed = jax.vmap(operator.mv)(self.seeds.astype(operator.in_structure().dtype))
        matrix = jnp.where(self.pattern, compressed[self.colour].T, 0.0)
        schur = matrix[np.ix_(self.core, self.core)]
        groups = []
        for chain, link in zip(self.chains, self.links):
            diagonal = matrix[chain, chain]
            lower = jnp.pad(matrix[chain[:, 1:], chain[:, :-1]], ((0, 0), (1, 0)))
            upper = jnp.pad(matrix[chain[:, :-1], chain[:, 1:]], ((0, 0), (0, 1)))
            last = jnp.zeros_like(diagonal).at[:, -1].set(1.0)
            response = jax.lax.linalg.tridiagonal_solve(lower, diagonal, upper, last[..., None])
            group = _Chains(
                lower, diagonal, upper,
                to_core=matrix[chain[:, -1], self.core[link]],
                from_core=matrix[self.core[link], chain[:, -1]],
                response=response[..., 0],
            )  # fmt: skip
            schur = schur.at[link, link].add(-group.from_core * group.response[:, -1] * group.to_core)
            groups.append(group)
        lu, _, permutation = jax.lax.linalg.lu(schur)
        return tuple(groups), lu, permutation, eqxi.Static(False)

    def compute(self, state, vector, options):
        del options
        groups, lu, permutation, transpose = state
        core_rhs = vector[self.core]
        interiors = []
        for group, chain, link in zip(groups, self.chains, self.links):
            interior = group.solve(vector[chain])
            core_rhs = core_rhs.at[link].add(-group.from_core * interior[:, -1])
            interiors.append(interior)
        core = _lu_solve(lu, permutation, core_rhs, transpose.value)
        solution = jnp.zeros_like(vector).at[self.core].set(core)
        for group, chain, link, interior in zip(groups, self.chains, self.links, interiors):
            interior = interior - group.response * (group.to_core * core[link])[:, None]
            solution = solution.at[chain].set(interior)
        return solution, lx.RESULTS.successful, {}

    def transpose(self, state, options):
        groups, lu, permutation, transpose = state
        groups = tuple(group.transpose() for group in groups)
        return (groups, lu, permutation, eqxi.Static(not transpose.value)), options

    def conj(self, state, options):
        return state, options  # real matrices

    def assume_full_rank(self):
        return True
