"""Bring your own cell: cells by name, parameters on any scalar field honoured by every
consumer (solver, surrogate fields and hard initial condition, PINN loss, voltage window),
and the command line from a PyBaMM set to a surrogate and a posterior."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError
from jaxbatt.cells import Parameter, ParameterSpace, nrel_cell
from jaxbatt.cells._registry import cell_from_name, field_value, parse_parameter, scalar_fields
from jaxbatt import ParameterError
from jaxbatt._simulate import _solve, _traced
from jaxbatt.solvers import SPMSolver
from jaxbatt.surrogates import (
    LossConfig,
    NetworkConfig,
    discharge_window,
    physics_terms,
    solver_data,
    spm_surrogate,
)
from jaxbatt.surrogates._losses import sample_collocation

# geometry and initial-state fields of the nrel cell, each a parameter, boxes around its values
GEOMETRY = ParameterSpace((
    Parameter("k_i0", 0.5, 4.0, "anode.exchange_current_scale"),
    Parameter("R_c", 1.5e-6, 2.5e-6, "cathode.particle_radius", default=1.8e-6),
    Parameter("x0_c", 0.36, 0.42, "cathode.initial_stoichiometry", default=0.39),
    Parameter("cmax_a", 28000.0, 33000.0, "anode.max_concentration", default=30530.0),
    Parameter("eps_c", 0.42, 0.52, "cathode.active_volume_fraction", default=0.47662),
    Parameter("L_a", 4.0e-5, 4.8e-5, "anode.thickness", default=4.4e-5),
))  # fmt: skip
# a point of the box away from the cell's own values
THETA = jnp.array([1.7, 2.2e-6, 0.37, 31500.0, 0.45, 4.6e-5])


def _with_fields(cell, values):
    """`cell` with each target of GEOMETRY set to `values` (the base values it carries)."""
    for p, v in zip(GEOMETRY.parameters, values):
        path = p.target.split(".")
        cell = eqx.tree_at(lambda c, path=path: getattr(getattr(c, path[0]), path[1]), cell, v)
    return cell


def test_cells_by_name_and_parameters_from_text():
    assert cell_from_name("nrel").name == "nrel"
    with pytest.raises(InputError, match="unknown cell 'chen'.*pybamm:SET"):
        cell_from_name("chen")
    cell = nrel_cell()
    fields = scalar_fields(cell)
    assert "cathode.particle_radius" in fields and "temperature" in fields
    assert "lower_cutoff_voltage" not in fields  # static operating limits are not parameters
    p = parse_parameter("k_Ds=1:10", cell)
    assert (p.target, p.lower, p.upper, p.default) == ("cathode.diffusivity_scale", 1.0, 10.0, 1.0)
    p = parse_parameter("cathode.particle_radius=1e-6:1.5e-6", cell)
    assert p.default == pytest.approx(1.25e-6)  # the cell's 1.8e-6 is outside: the midpoint
    assert parse_parameter("anode.particle_radius=3e-6:5e-6", cell).default == 4e-6
    assert field_value(cell, "anode.thickness") == cell.anode.thickness
    for bad, match in (("k_i0", "NAME=LO:HI"), ("k_i0=a:b", "numbers"),
                       ("cathode.radius=1:2", "no scalar field 'cathode.radius'"),
                       ("k_i0=4:0.5", "lower bound")):  # fmt: skip
        with pytest.raises(ParameterError, match=match):
            parse_parameter(bad, cell)


def test_solver_honours_geometry_and_initial_state_parameters():
    """The solver at theta equals the solver of a cell carrying theta's values as its own;
    each parameter moves the voltage. (Both cells' numbers are traced, `_traced`: one
    compiled, vmapped program serves every solve here.)"""
    t = jnp.linspace(0.0, 1200.0, 25)
    base = nrel_cell()
    fixed = _with_fields(base, [float(v) for v in THETA])
    defaults = jnp.array([p.default for p in GEOMETRY.parameters])
    moved = [defaults.at[k].set(THETA[k]) for k in range(len(GEOMETRY))]
    thetas = jnp.stack([THETA, defaults, *moved])
    v = _solve(_traced(SPMSolver(cell=base, space=GEOMETRY)), thetas, t, 2.0).voltage
    v_fixed = _solve(_traced(SPMSolver(cell=fixed, space=GEOMETRY)), thetas, t, 2.0).voltage
    np.testing.assert_allclose(v[0], v_fixed[0], rtol=0, atol=1e-12)
    for k in range(len(GEOMETRY)):
        assert float(jnp.max(jnp.abs(v[2 + k] - v[1]))) > 1e-4, GEOMETRY.parameters[k].name


@pytest.mark.parametrize("ansatz", ["sigmoid", "conservative"])
def test_surrogate_and_loss_honour_geometry_and_initial_state_parameters(ansatz):
    """A targeted field is the parameter's value everywhere in the surrogate: its fields, its
    hard initial condition and every physics residual do not depend on the value the base
    cell carries (before, the radius, c_max and x0 of the loss and of the sigmoid initial
    condition were the base cell's)."""
    s = spm_surrogate(NetworkConfig(width=8, depth=1), key=jax.random.key(3), space=GEOMETRY,
                      ansatz=ansatz)  # fmt: skip
    other = eqx.tree_at(lambda m: m.cell, s, _with_fields(s.cell, THETA * 0.97 + 0.03 * jnp.array(
        [p.lower for p in GEOMETRY.parameters])))  # fmt: skip
    t = jnp.array([0.0, 10.0, 700.0])
    for a, b in zip(s.concentrations(t, 0.5, THETA), other.concentrations(t, 0.5, THETA)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    named = GEOMETRY.as_dict(THETA)
    np.testing.assert_allclose(s.voltage(t, named), other.voltage(t, named), rtol=0, atol=1e-12)
    # the hard initial condition is the parameters' state: c(0) = x0(theta) c_max(theta)
    c_a0, c_c0 = s.concentrations(jnp.array(0.0), 0.3, THETA)
    assert float(c_c0) == pytest.approx(0.37 * s.cell.cathode.max_concentration, rel=1e-14)
    assert float(c_a0) == pytest.approx(s.cell.anode.initial_stoichiometry * 31500.0, rel=1e-14)
    config = LossConfig(n_interior=16, n_boundary=8)
    batch = sample_collocation(jax.random.key(0), s, config)
    terms, terms_other = physics_terms(s, batch), physics_terms(other, batch)
    for name in terms:
        assert float(terms[name]) == pytest.approx(float(terms_other[name]), rel=1e-10), name


def test_voltage_window_is_within_every_discharge_of_the_box():
    """`discharge_window` ends before every corner's cut-off; training data refuse a
    window beyond a discharge's end with a message naming the set and the window."""
    cell = nrel_cell()
    space = ParameterSpace((
        Parameter("k_i0", 0.5, 4.0, "anode.exchange_current_scale"),
        Parameter("x0_c", 0.36, 0.5, "cathode.initial_stoichiometry", default=0.39),
    ))  # fmt: skip
    window = discharge_window(cell, space, 2.0)
    assert 1000.0 < window < 1800.0
    s = spm_surrogate(NetworkConfig(width=8, depth=1), key=jax.random.key(0), space=space,
                      t_max=window)  # fmt: skip
    corners = np.array([[0.5, 0.5], [4.0, 0.5], [0.5, 0.36], [4.0, 0.36]])
    data = solver_data(s, corners, n_r=8)
    assert np.all(np.isfinite(np.asarray(data.voltage)))
    late = spm_surrogate(NetworkConfig(width=8, depth=1), key=jax.random.key(0), space=space,
                         t_max=window / 0.98 * 1.03)  # fmt: skip
    with pytest.raises(InputError, match="discharge at k_i0 = 0.5, x0_c = 0.5 .*ends before the surrogate's window"):
        solver_data(late, corners, n_r=8)


def test_p2d_surrogate_refuses_fields_its_mesh_fixes():
    from jaxbatt.surrogates import p2d_surrogate

    with pytest.raises(InputError, match="cannot take \\['R_c'\\].*cathode.particle_radius"):
        p2d_surrogate(key=jax.random.key(0), space=ParameterSpace((GEOMETRY.parameters[1],)))
    # a scaling or a volume fraction is honoured (the loss applies the space)
    p2d_surrogate(key=jax.random.key(0), space=ParameterSpace((GEOMETRY.parameters[4],)))


pybamm = pytest.importorskip("pybamm")


@pytest.fixture(scope="module")
def chen_files(tmp_path_factory):
    """A tiny Chen2020 surrogate trained by the command line (1C, k_i0 and the cathode
    particle radius), and a noisy 1C curve of the exact solver at k_i0 = 1.3, R = 5.5 um."""
    from jaxbatt._cli import main

    folder = tmp_path_factory.mktemp("chen")
    ckpt, curve = folder / "chen.eqx", folder / "chen.csv"
    rc = main(["train", "spm", "--cell", "pybamm:Chen2020", "--param", "k_i0=0.5:2",
               "--param", "cathode.particle_radius=4e-6:6e-6", "--c-rate", "1",
               "--steps", "200", "--validate-every", "100", "--data-sets", "8",
               "--width", "8", "--depth", "2", "--out", str(ckpt)], compilation_cache=False)  # fmt: skip
    assert rc == 0
    cell = cell_from_name("pybamm:Chen2020")
    space = ParameterSpace((parse_parameter("k_i0=0.5:2", cell),
                            parse_parameter("cathode.particle_radius=4e-6:6e-6", cell)))  # fmt: skip
    t = np.linspace(0.0, 3000.0, 40)
    sol = jaxbatt.simulate("spm", {"k_i0": 1.3, "cathode.particle_radius": 5.5e-6}, t=t,
                           c_rate=1.0, cell=cell, space=space)  # fmt: skip
    v = np.asarray(sol.voltage) + np.random.default_rng(0).normal(0.0, 0.003, t.size)
    np.savetxt(curve, np.column_stack([t, v, np.full(t.size, 5.0)]), delimiter=",",
               header="time_s,voltage_V,current_A", comments="")  # fmt: skip
    return ckpt, curve


def test_checkpoint_records_and_rebuilds_its_cell(chen_files):
    ckpt, _ = chen_files
    from jaxbatt.surrogates._checkpoint import read_header

    header, _ = read_header(ckpt)
    assert header["config"]["cell"] == "pybamm:Chen2020"
    assert [p["target"] for p in header["config"]["space"]] == [
        "anode.exchange_current_scale", "cathode.particle_radius"]  # fmt: skip
    assert header["config"]["c_rate"] == 1.0
    s = jaxbatt.load_surrogate(str(ckpt))
    assert s.cell.name == "pybamm:Chen2020" and s.cell.one_c_current == 5.0
    assert 3000.0 < s.t_max < 3600.0  # 98 % of the earliest 1C cut-off over the box
    v = s.voltage(jnp.array([0.0, 1000.0]), {"k_i0": 1.0, "cathode.particle_radius": 5e-6})
    assert np.all(np.isfinite(np.asarray(v)))
    with pytest.raises(InputError, match="trained for cell 'pybamm:Chen2020', not 'nrel'"):
        jaxbatt.load_surrogate(str(ckpt), cell=nrel_cell())


def test_calibrate_with_own_surrogate_and_own_cell(chen_files, tmp_path):
    """--surrogate FILE calibrates with that checkpoint (its cell's 1C current reads the
    CSV's current); --cell/--param with the exact solver recovers the truth; mismatches are
    refused by name."""
    from jaxbatt._cli import main

    ckpt, curve = chen_files
    common = ["--num-chains", "1", "--num-warmup", "30", "--num-samples", "30", "--no-plots"]
    assert main(["calibrate", str(curve), "--surrogate", str(ckpt), *common,
                 "--out", str(tmp_path / "a")], compilation_cache=False) == 0  # fmt: skip
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert set(summary["summary"]) >= {"k_i0", "cathode.particle_radius"}
    assert main(["calibrate", str(curve), "--cell", "pybamm:Chen2020", "--param", "k_i0=0.5:2",
                 "--param", "cathode.particle_radius=4e-6:6e-6", "--likelihood", "solver",
                 *common, "--out", str(tmp_path / "b")], compilation_cache=False) == 0  # fmt: skip
    post = json.loads((tmp_path / "b" / "summary.json").read_text())["summary"]
    radius = post["cathode.particle_radius"]
    assert abs(radius["mean"] - 5.5e-6) < 4 * radius["std"] + 2e-8
    assert abs(post["k_i0"]["mean"] - 1.3) < 4 * post["k_i0"]["std"] + 0.02
    for argv in (["--surrogate", str(ckpt), "--cell", "nrel"],
                 ["--surrogate", str(ckpt), "--c-rate", "2"],
                 ["--surrogate", str(ckpt), "--param", "k_i0=1:2"],
                 ["--surrogate", str(ckpt), "--likelihood", "solver"],
                 ["--cell", "pybamm:Chen2020"]):  # fmt: skip
        assert main(["calibrate", str(curve), *argv, "--out", str(tmp_path / "c")],
                    compilation_cache=False) == 2, argv  # fmt: skip
    assert not (tmp_path / "c").exists()


def test_simulate_command_takes_a_cell_and_field_parameters(tmp_path):
    """``simulate --cell pybamm:Chen2020``: runs to the cell's cut-off, current in its own 1C
    (5 A), a field-path parameter moves the curve; an unknown field is a usage error."""
    from jaxbatt._cli import main

    out = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path, radius in zip(out, ("5.22e-6", "4e-6")):
        assert main(["simulate", "--cell", "pybamm:Chen2020", "--c-rate", "1", "--param",
                     f"cathode.particle_radius={radius}", "--n-points", "40", "--out", str(path)],
                    compilation_cache=False) == 0  # fmt: skip
    a, b = (np.loadtxt(p, delimiter=",", skiprows=1) for p in out)
    assert np.all(a[:, 2] == 5.0) and 2.5 <= a[-1, 1] < 3.0  # stopped near the 2.5 V cut-off
    assert np.max(np.abs(a[:20, 1] - b[:20, 1])) > 1e-3
    assert main(["simulate", "--cell", "pybamm:Chen2020", "--param", "cathode.radius=1"],
                compilation_cache=False) == 2  # fmt: skip
