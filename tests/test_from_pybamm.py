"""`jaxbatt.cells.from_pybamm`: PyBaMM parameter sets as jaxbatt cells, their laws translated
from PyBaMM's own expression trees and checked against PyBaMM's evaluation of the same
trees; the SPM of a converted cell against PyBaMM's SPM of the same set."""

import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError

pybamm = pytest.importorskip("pybamm")
from jaxbatt.cells import from_pybamm  # noqa: E402
from jaxbatt.reference import pybamm_set_discharge  # noqa: E402

CONVERTIBLE = ("Chen2020", "Marquis2019", "Mohtat2020", "Ai2020", "Ecker2015")


def _pybamm_law(values, key, args):
    symbols = [pybamm.StateVector(slice(k, k + 1)) for k in range(len(args))]
    expression = pybamm.FunctionParameter(key, {f"x{k}": s for k, s in enumerate(symbols)})
    processed = values.process_symbol(expression)
    return float(np.ravel(processed.evaluate(y=np.array(args, dtype=float)[:, None]))[0])


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_laws_equal_pybamms_evaluation(name):
    """Every law of the converted cell equals PyBaMM's evaluation of the set's expression at
    points across the operating window; numbers are the set's; the laws differentiate."""
    values = pybamm.ParameterValues(name)
    cell = from_pybamm(name)
    T = values["Ambient temperature [K]"]
    c_e = values["Initial concentration in electrolyte [mol.m-3]"]
    for domain, electrode in (("Negative", cell.anode), ("Positive", cell.cathode)):
        c_max = electrode.max_concentration
        assert c_max == values[f"Maximum concentration in {domain.lower()} electrode [mol.m-3]"]
        for x in (0.05, 0.3, 0.6, 0.95):
            assert float(electrode.open_circuit_potential_law(x)) == pytest.approx(
                _pybamm_law(values, f"{domain} electrode OCP [V]", [x]), rel=1e-12, abs=1e-12)
            assert float(electrode.solid_diffusivity_law(x, T)) == pytest.approx(
                _pybamm_law(values, f"{domain} particle diffusivity [m2.s-1]", [x, T]), rel=1e-12)
            args = [c_e, x * c_max, c_max, T]
            assert float(electrode.exchange_current_density_law(*args)) == pytest.approx(
                _pybamm_law(values, f"{domain} electrode exchange-current density [A.m-2]", args),
                rel=1e-12)  # fmt: skip
        slope = jax.grad(lambda x: electrode.open_circuit_potential_law(x))(0.5)
        assert np.isfinite(float(slope)) and float(slope) != 0.0
    for c in (500.0, 1000.0, 1500.0):
        assert float(cell.electrolyte.conductivity(c, T)) == pytest.approx(
            _pybamm_law(values, "Electrolyte conductivity [S.m-1]", [c, T]), rel=1e-12)
        assert float(cell.electrolyte.diffusivity(c, T)) == pytest.approx(
            _pybamm_law(values, "Electrolyte diffusivity [m2.s-1]", [c, T]), rel=1e-12)
    assert cell.one_c_current == values["Nominal cell capacity [A.h]"]
    assert cell.lower_cutoff_voltage == values["Lower voltage cut-off [V]"]
    assert cell.area == pytest.approx(values["Electrode height [m]"] * values["Electrode width [m]"]
                                      * values["Number of electrodes connected in parallel to make a cell"])


def test_per_domain_bruggeman_exponents_are_kept():
    """Ai2020's and Ecker2015's exponents differ per domain: each domain keeps its own."""
    for name in ("Ai2020", "Ecker2015"):
        values = pybamm.ParameterValues(name)
        expected = tuple(values[f"{d} Bruggeman coefficient (electrolyte)"]
                         for d in ("Negative electrode", "Separator", "Positive electrode"))
        assert from_pybamm(name).bruggeman_exponents == pytest.approx(expected, rel=1e-15)


def test_sets_needing_missing_features_are_refused_by_name():
    warm = pybamm.ParameterValues("Ai2020")  # its OCPs have entropic terms
    warm["Ambient temperature [K]"] = 308.15
    with pytest.raises(InputError, match="entropic term and the ambient temperature 308.15 K"):
        from_pybamm(warm)
    ecker = pybamm.ParameterValues("Ecker2015")  # entropic change 0: converts off 296.15 K
    assert ecker["Ambient temperature [K]"] != ecker["Reference temperature [K]"]
    assert from_pybamm(ecker).temperature == ecker["Ambient temperature [K]"]
    with pytest.raises(InputError, match="unknown PyBaMM parameter set 'Nope2020'"):
        from_pybamm("Nope2020")
    with pytest.raises(InputError, match="takes a pybamm.ParameterValues"):
        from_pybamm(42)


def test_initial_soc_sets_pybamms_initial_state_and_names_the_cell():
    """Mohtat2020's own initial state is the empty cell (PyBaMM's SPM refuses to discharge it):
    ``initial_soc`` sets the state through PyBaMM's ``set_initial_state`` on a copy, and the
    name ``pybamm:SET@soc=X`` rebuilds the same cell."""
    from jaxbatt.cells._registry import cell_from_name  # noqa: PLC0415

    own = pybamm.ParameterValues("Mohtat2020")
    full = own.copy()
    full.set_initial_state(1.0)
    cell = from_pybamm("Mohtat2020", initial_soc=1.0)
    assert cell.name == "Mohtat2020@soc=1"
    for electrode, domain in ((cell.anode, "negative"), (cell.cathode, "positive")):
        expected = (full[f"Initial concentration in {domain} electrode [mol.m-3]"]
                    / full[f"Maximum concentration in {domain} electrode [mol.m-3]"])
        assert electrode.initial_stoichiometry == pytest.approx(expected, rel=1e-12)
    assert from_pybamm(own).anode.initial_stoichiometry < 0.01  # the given values untouched
    assert from_pybamm(own, initial_soc=1.0).anode.initial_stoichiometry == pytest.approx(
        cell.anode.initial_stoichiometry, rel=1e-12)
    rebuilt = cell_from_name("pybamm:Mohtat2020@soc=1")
    assert rebuilt.name == "pybamm:Mohtat2020@soc=1"
    assert rebuilt.cathode.initial_stoichiometry == cell.cathode.initial_stoichiometry
    with pytest.raises(InputError, match=r"initial_soc = 1.5 is outside \[0, 1\]"):
        from_pybamm("Mohtat2020", initial_soc=1.5)
    with pytest.raises(InputError, match="after '@soc=' is not a number"):
        cell_from_name("pybamm:Mohtat2020@soc=full")


# max |dV| from t = 10 s at 1C, measured 2026-12-03/04 with 60 shells (0.13, 0.08, 0.023,
# 0.38 mV; the default 15 shells: Chen2020 2.31 mV, Marquis2019 1.31 mV, Ai2020 0.99 mV,
# Ecker2015 0.55 mV; see benchmarks/RESULTS.md)
# Mohtat2020 (from 100 % SOC, see INITIAL_SOC), measured 2026-12-07: 0.282 mV
SPM_AGREEMENT_V = {"Chen2020": 0.15e-3, "Marquis2019": 0.1e-3, "Ai2020": 0.03e-3,
                   "Ecker2015": 0.45e-3, "Mohtat2020": 0.31e-3}
# the same at jaxbatt's default mesh (18 surface-refined shells, rtol 1e-4), measured
# 2026-12-07: 0.400, 0.281, 0.153, 0.205, 0.492 mV (the target: 1 mV; RESULTS.md)
SPM_DEFAULT_MESH_AGREEMENT_V = {"Chen2020": 0.45e-3, "Marquis2019": 0.32e-3, "Ai2020": 0.18e-3,
                                "Ecker2015": 0.24e-3, "Mohtat2020": 0.55e-3}
# a set whose own initial state cannot be discharged (Mohtat2020's is the empty cell) starts
# both codes at this state of charge (PyBaMM's set_initial_state; from_pybamm(initial_soc=))
INITIAL_SOC = {"Mohtat2020": 1.0}


def _set_values(name):
    values = pybamm.ParameterValues(name)
    if name in INITIAL_SOC:
        values.set_initial_state(INITIAL_SOC[name])
    return values


@pytest.mark.parametrize("name", sorted(SPM_AGREEMENT_V))
def test_spm_of_a_converted_set_matches_pybamms_spm(name):
    """The 1C discharge of the converted cell, down to the set's cut-off voltage (an event),
    against PyBaMM's SPM of the same set (IDAKLU, 200 shells): voltage within the measured
    agreement from t = 10 s on 60 shells and at the default mesh, and the cut-off reached
    within 2 s of PyBaMM's (the 60-shell solve asks for one time 20 % past PyBaMM's end)."""
    values = _set_values(name)
    t_ref, v_ref = pybamm_set_discharge(values, 1.0)
    cell = from_pybamm(values, name=name)
    # every 10th PyBaMM output time (about 400), as the P2D test below
    t = t_ref[(t_ref >= 10.0) & (t_ref < t_ref[-1] - 1.0)][::10]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxbatt.DischargeEndedWarning)
        # 60 uniform shells: the converter's check, as measured
        options = dict(n_r_anode=60, n_r_cathode=60, radial_refinement=1.0, rtol=1e-7, atol=1e-9)
        end = jaxbatt.simulate("spm", {}, t=np.append(t, 1.2 * t_ref[-1]), c_rate=1.0, cell=cell,
                               **options)  # fmt: skip
        default = jaxbatt.simulate("spm", {}, t=t, c_rate=1.0, cell=cell)
    v, v_default = np.asarray(end.voltage)[:-1], np.asarray(default.voltage)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(v_default))
    assert np.max(np.abs(v - np.interp(t, t_ref, v_ref))) < SPM_AGREEMENT_V[name]
    error_default = np.max(np.abs(v_default - np.interp(t, t_ref, v_ref)))
    assert error_default < SPM_DEFAULT_MESH_AGREEMENT_V[name]
    assert "lower cut-off voltage" in end.termination_reason()
    assert abs(float(end.t_end) - t_ref[-1]) < 2.0


# jaxbatt's P2D at its default mesh (10/5/10 cells, 10 surface-refined shells) against PyBaMM's
# DFN of the set at 1C, max |dV| from t = 10 s [V] on every 10th PyBaMM output time: measured
# 1.91 (Chen2020), 1.25 (Marquis2019) and 1.42 mV (Ai2020); on every output time 1.98, 1.26 and
# 1.52 mV; uniform shells gave 7.64, 3.28 and 2.92 mV (README). Ecker2015: PyBaMM's fine DFN
# fails at rtol 1e-9 (IDA), so its reference runs at rtol 1e-8 (0.06 mV from 100 shells at
# 1e-8; PyBaMM's default DFN is 2.36 mV off it): 0.48 mV on every output time.
# Mohtat2020 (from 100 % SOC; its fine DFN also fails at rtol 1e-9): 2.24 mV at rtol 1e-8,
# above the 2 mV (PyBaMM's default DFN: 1.83 mV), measured 2026-12-07.
P2D_DEFAULT_MESH_AGREEMENT_V = {"Chen2020": 2.0e-3, "Marquis2019": 1.3e-3, "Ai2020": 1.5e-3,
                                "Ecker2015": 0.5e-3, "Mohtat2020": 2.3e-3}
P2D_REFERENCE_RTOL = {"Ecker2015": 1e-8, "Mohtat2020": 1e-8}


@pytest.mark.parametrize("name", sorted(P2D_DEFAULT_MESH_AGREEMENT_V))
def test_p2d_of_a_converted_set_matches_pybamms_dfn(name):
    """jaxbatt's P2D at its default mesh against PyBaMM's DFN of the set (IDAKLU rtol 1e-9, 40
    cells per domain, 200 shells), 1C to the cut-off: max |dV| from t = 10 s at the measured
    agreement, within the issue's 2 mV for every set but Mohtat2020 (2.24 mV). Ai2020 has its
    own Bruggeman exponent per domain and cubic-spline OCPs; Chen2020 and Marquis2019 are the
    sets' slow-diffusion cases. 2C is not within 2 mV for every set (RESULTS.md)."""
    values = _set_values(name)
    t_ref, v_ref = pybamm_set_discharge(values, 1.0, model="dfn", rtol=P2D_REFERENCE_RTOL.get(name, 1e-9))
    t = t_ref[(t_ref >= 10.0) & (t_ref < t_ref[-1] - 1.0)][::10]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxbatt.DischargeEndedWarning)
        sol = jaxbatt.simulate("p2d", {}, t=t, c_rate=1.0, cell=from_pybamm(values, name=name))
    v = np.asarray(sol.voltage)
    assert np.all(np.isfinite(v))
    error = np.max(np.abs(v - np.interp(t, t_ref, v_ref)))
    print(f"{name}: P2D default mesh vs PyBaMM DFN at 1C, max |dV| from 10 s {1e3 * error:.3f} mV")
    assert error < P2D_DEFAULT_MESH_AGREEMENT_V[name]


def _discharge_past_the_end(cell, t_end):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxbatt.DischargeEndedWarning)
        return jaxbatt.simulate("spm", {}, t=np.linspace(0.0, 1.2 * t_end, 101), c_rate=1.0,
                                cell=cell, n_r_anode=60, n_r_cathode=60, radial_refinement=1.0,
                                rtol=1e-7, atol=1e-9)


def test_marquis2019_discharge_stops_at_its_cutoff():
    """Regression: asked for times 20 % past the cut-off, the solve ran on past it (the
    voltage, through an exchange current sqrt(c_max - c_s), was NaN beyond a full particle,
    which hid the event's sign change) and failed with the cathode stoichiometry past 1; NaN
    margins now count as a limit passed (`_limits.event_margin`)."""
    end = _discharge_past_the_end(from_pybamm("Marquis2019"), 3622.8)
    assert "lower cut-off voltage" in end.termination_reason()
    assert abs(float(end.t_end) - 3622.8) < 2.0


def test_cubic_interpolants_equal_pybamms_inside_and_beyond_their_data():
    """Ai2020's OCPs are cubic splines of tabulated data: the translation evaluates the same
    piecewise polynomials, extrapolating with the end pieces as PyBaMM (scipy) does."""
    values = pybamm.ParameterValues("Ai2020")
    cell = from_pybamm(values)
    for domain, electrode in (("Negative", cell.anode), ("Positive", cell.cathode)):
        for x in np.linspace(0.0, 1.0, 41):
            assert float(electrode.open_circuit_potential_law(x)) == pytest.approx(
                _pybamm_law(values, f"{domain} electrode OCP [V]", [x]), rel=1e-12, abs=1e-12)
        slopes = jax.vmap(jax.grad(electrode.open_circuit_potential_law))(jnp.linspace(0.1, 0.9, 9))
        assert np.all(np.isfinite(np.asarray(slopes)))


def test_bundled_measured_enertech_curves():
    """The bundled resampled copy of the measured Enertech discharges: three curves carrying
    their C-rates (from the current column and the 2.28 Ah nominal capacity), from 10 s
    down to the 3.0 V cut-off, with the attribution beside them."""
    import importlib.resources  # noqa: PLC0415

    from jaxbatt.inference import load_measured  # noqa: PLC0415

    curves = load_measured("enertech")
    assert [c.label for c in curves] == ["0.5C", "1C", "2C"]
    assert [c.c_rate for c in curves] == pytest.approx([0.5, 1.0, 2.0], rel=1e-12)
    for c, end in zip(curves, (7309.0, 3614.0, 1772.0)):
        assert c.t[0] == 10.0 and c.t[-1] == end and np.all(np.diff(c.t) > 0)
        assert 3.95 < c.v[0] < 4.2 and 2.98 < c.v[-1] < 3.0  # 2C: 3.996 V at 10 s
    folder = importlib.resources.files("jaxbatt") / "data" / "measured" / "enertech"
    assert "doi 10.1149/2.0122001JES" in (folder / "README.md").read_text(encoding="utf-8")
    with pytest.raises(InputError, match="unknown measured data 'mine'"):
        load_measured("mine")


BPX_DIR = pathlib.Path(jaxbatt.__file__).parent / "data" / "bpx"


@pytest.mark.parametrize("name", ["nmc_pouch_cell_BPX", "lfp_18650_cell_BPX"])
def test_bpx_files_convert_with_pybamms_laws(name):
    """`from_bpx`: PyBaMM reads the BPX file, `from_pybamm` converts it; every law equals
    PyBaMM's evaluation (the NMC anode OCP sums terms of 1e4 V, hence 1e-10 V), the cell is
    named after its file and rebuilt by that name; a missing or invalid file is refused."""
    pytest.importorskip("bpx")
    from jaxbatt.cells import from_bpx
    from jaxbatt.cells._registry import cell_from_name

    path = BPX_DIR / f"{name}.json"
    values = pybamm.ParameterValues.create_from_bpx(str(path))
    cell = from_bpx(path)
    assert cell.name == f"bpx:{path}"
    assert cell.one_c_current == values["Nominal cell capacity [A.h]"]
    T = values["Ambient temperature [K]"]
    c_e = values["Initial concentration in electrolyte [mol.m-3]"]
    for domain, electrode in (("Negative", cell.anode), ("Positive", cell.cathode)):
        c_max = electrode.max_concentration
        for x in (0.02, 0.3, 0.6, 0.95):
            assert float(electrode.open_circuit_potential_law(x)) == pytest.approx(
                _pybamm_law(values, f"{domain} electrode OCP [V]", [x]), rel=0, abs=1e-10)
            args = [c_e, x * c_max, c_max, T]
            assert float(electrode.exchange_current_density_law(*args)) == pytest.approx(
                _pybamm_law(values, f"{domain} electrode exchange-current density [A.m-2]", args),
                rel=1e-12)  # fmt: skip
    rebuilt = cell_from_name(cell.name)
    assert rebuilt.anode.particle_radius == cell.anode.particle_radius
    half = values.copy()
    half.set_initial_state(0.5)
    expected = (half["Initial concentration in negative electrode [mol.m-3]"]
                / half["Maximum concentration in negative electrode [mol.m-3]"])
    assert from_bpx(path, initial_soc=0.5).anode.initial_stoichiometry == pytest.approx(
        expected, rel=1e-12)  # fmt: skip
    with pytest.raises(InputError, match=r"initial_soc = -0.1 is outside \[0, 1\]"):
        from_bpx(path, initial_soc=-0.1)
    with pytest.raises(InputError, match="does not exist"):
        from_bpx(BPX_DIR / "missing.json")
    with pytest.raises(InputError, match="not a BPX file"):
        from_bpx(BPX_DIR / "README.md")


@pytest.mark.parametrize("name, agreement_V", [("nmc_pouch_cell_BPX", 0.06e-3),
                                               ("lfp_18650_cell_BPX", 1.2e-3)])  # fmt: skip
def test_spm_of_a_bpx_cell_matches_pybamms_spm(name, agreement_V):
    """The BPX cell starts where PyBaMM starts it (the file's state, else 100 % SOC; an
    earlier conversion passed PyBaMM's deprecated target_soc and started the NMC anode 9e-4
    higher in stoichiometry, 42 mV off at the cut-off) and its 1C discharge matches PyBaMM's
    SPM from t = 10 s (measured 0.040 mV NMC, 1.04 mV LFP at 60 shells), cut-off within 2 s."""
    pytest.importorskip("bpx")
    from jaxbatt.cells import from_bpx

    path = BPX_DIR / f"{name}.json"
    values = pybamm.ParameterValues.create_from_bpx(str(path))
    cell = from_bpx(path)
    for domain, electrode in (("negative", cell.anode), ("positive", cell.cathode)):
        assert electrode.initial_concentration == pytest.approx(
            values[f"Initial concentration in {domain} electrode [mol.m-3]"], rel=1e-14)
    t_ref, v_ref = pybamm_set_discharge(values, 1.0)
    t = t_ref[(t_ref >= 10.0) & (t_ref < t_ref[-1] - 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxbatt.DischargeEndedWarning)
        # 60 uniform shells: the converter's check, as measured
        options = dict(n_r_anode=60, n_r_cathode=60, radial_refinement=1.0, rtol=1e-7, atol=1e-9)
        v = np.asarray(jaxbatt.simulate("spm", {}, t=t, c_rate=1.0, cell=cell, **options).voltage)
    assert np.max(np.abs(v - np.interp(t, t_ref, v_ref))) < agreement_V
    end = _discharge_past_the_end(cell, t_ref[-1])
    assert abs(float(end.t_end) - t_ref[-1]) < 2.0
