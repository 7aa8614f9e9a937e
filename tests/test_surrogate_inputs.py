"""The surrogate refuses what it does not cover, and its checkpoints are checked whole
(issue 15, items 3 and 4)."""

import hashlib
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import CheckpointError, InputError, ParameterError
from jaxbatt._load import BUNDLED_DIR
from jaxbatt.surrogates import load_checkpoint, save_checkpoint
from jaxbatt.surrogates._checkpoint import _write, read_header, upgrade_checkpoint

BUNDLED = BUNDLED_DIR / "spm.eqx"
THETA = jnp.array([2.0, 3.0])


@pytest.fixture(scope="module")
def s():
    return jaxbatt.load_surrogate("spm")


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


# -- refusals -------------------------------------------------------------------------------
BAD_TIMES = [
    (10_000.0, r"t = 10000 s is beyond the window.*\[0, 1350\] s"),
    (-5.0, r"t = -5 s is negative.*\[0, 1350\] s"),
    (np.nan, r"t = nan is not finite.*\[0, 1350\] s"),
    (np.inf, r"t = inf is not finite"),
    (np.array([0.0, 600.0, 1350.5]), r"t = 1350.5 s \(at index 2\) is beyond the window"),
    (np.array([[0.0, 1.0], [np.nan, 2.0]]), r"t = nan \(at index \(1, 0\)\) is not finite"),
]


@pytest.mark.parametrize("t, message", BAD_TIMES)
def test_times_outside_the_window_are_refused(s, t, message):
    for call in (
        lambda: s.voltage(t, {"k_i0": 2.0}),
        lambda: s.concentrations(t, 0.5, THETA),
        lambda: s.potentials(t, THETA),
    ):
        with pytest.raises(InputError, match=message):
            call()


@pytest.mark.parametrize("r, shown", [(1.5, "1.5"), (-0.1, "-0.1"), (np.nan, "nan")])
def test_radii_outside_the_particle_are_refused(s, r, shown):
    with pytest.raises(InputError, match=rf"r/R = {shown} is outside \[0, 1\]"):
        s.concentrations(100.0, r, THETA)
    with pytest.raises(InputError, match=r"r/R = 1.01 \(at index 3\) is outside \[0, 1\]"):
        s.concentrations(100.0, np.array([0.0, 0.5, 1.0, 1.01]), THETA)


def test_parameters_outside_the_box_are_input_errors(s):
    assert issubclass(ParameterError, InputError)
    range_k_i0 = r"'k_i0' = 5.0 is outside its range \[0.5, 4.0\]"
    with pytest.raises(InputError, match=range_k_i0):
        s.voltage(100.0, {"k_i0": 5.0})
    with pytest.raises(ParameterError, match=r"'k_Ds' = 0.5 is outside its range \[1.0, 10.0\]"):
        s.voltage(100.0, {"k_i0": np.array([1.0, 2.0]), "k_Ds": np.array([2.0, 0.5])})
    with pytest.raises(InputError, match=range_k_i0):
        s.concentrations(100.0, 0.5, jnp.array([5.0, 2.0]))
    with pytest.raises(InputError, match=range_k_i0):
        s.potentials(100.0, np.array([[2.0, 2.0], [5.0, 2.0]]))
    with pytest.raises(InputError, match="'k_i0' is not finite"):
        s.potentials(100.0, {"k_i0": np.nan})
    with pytest.raises(InputError, match="unknown parameter"):
        s.voltage(100.0, {"k_x": 1.0})


def test_bad_shapes_are_named(s):
    with pytest.raises(
        InputError, match=r"shape \(\.\.\., 2\) \(last axis: k_i0, k_Ds\), got shape \(3,\)"
    ):
        s.concentrations(100.0, 0.5, jnp.array([1.0, 2.0, 3.0]))
    with pytest.raises(InputError, match=r"got shape \(\)"):
        s.potentials(100.0, 2.0)
    with pytest.raises(
        InputError, match=r"t \(shape \(3,\)\) and radii r/R \(shape \(4,\)\) do not broadcast"
    ):
        s.concentrations(np.ones(3), np.full(4, 0.5), THETA)
    with pytest.raises(InputError, match="mismatched shapes"):
        s.voltage(100.0, {"k_i0": np.ones(2), "k_Ds": np.full(3, 2.0)})
    with pytest.raises(InputError, match="times t must be numbers"):
        s.voltage("late", {})


def test_traced_path_stays_unchecked(s):
    # the likelihood's path: no host checks under jit, so it is not refused (nor slowed)
    v = jax.jit(lambda th, t: s.voltage_vector(th, t))(THETA, jnp.array([0.0, 2000.0]))
    assert v.shape == (2,) and np.all(np.isfinite(v))


# -- arrays everywhere ----------------------------------------------------------------------
def test_voltage_takes_any_batch_and_time_shape(s):
    t = np.array([0.0, 5.0, 400.0, 1350.0])
    k_i0 = np.array([[0.5, 1.0, 4.0], [2.0, 3.0, 1.5]])
    k_ds = np.array([[1.0, 10.0, 5.0], [2.0, 7.0, 3.0]])
    batch = s.voltage(t, {"k_i0": k_i0, "k_Ds": k_ds})
    assert batch.shape == (2, 3, 4)
    for i, j in np.ndindex(2, 3):
        one = s.voltage(t, {"k_i0": k_i0[i, j], "k_Ds": k_ds[i, j]})
        np.testing.assert_allclose(batch[i, j], one, rtol=0, atol=1e-12)
    grid = s.voltage(t.reshape(2, 2), {"k_i0": 2.0})
    assert grid.shape == (2, 2)
    np.testing.assert_allclose(grid.reshape(-1), s.voltage(t, {"k_i0": 2.0}), rtol=0, atol=1e-12)


def test_concentrations_and_potentials_take_arrays(s):
    t = np.array([0.0, 30.0, 1350.0])[:, None]  # (3, 1)
    r = np.array([0.0, 0.5, 1.0, 0.9])  # (4,): broadcast to (3, 4)
    theta = np.array([[0.5, 1.0], [4.0, 10.0]])  # (2, P)
    c_a, c_c = s.concentrations(t, r, theta)
    assert c_a.shape == c_c.shape == (2, 3, 4)
    for b, i, k in np.ndindex(2, 3, 4):
        point = s.concentrations(float(t[i, 0]), float(r[k]), theta[b])
        np.testing.assert_allclose([c_a[b, i, k], c_c[b, i, k]], point, rtol=1e-14)
    # a mapping works as in `voltage`, and one vector gives the points' shape
    by_name = s.concentrations(t, r, {"k_i0": 4.0, "k_Ds": 10.0})
    np.testing.assert_allclose(by_name[1], c_c[1], rtol=1e-14)
    assert by_name[1].shape == (3, 4)

    tt = np.array([[0.0, 10.0, 200.0], [700.0, 1000.0, 1350.0]])  # (2, 3)
    phi_e, phi_s = s.potentials(tt, theta)
    assert phi_e.shape == phi_s.shape == (2, 2, 3)
    for b, i, j in np.ndindex(2, 2, 3):
        point = s.potentials(float(tt[i, j]), theta[b])
        # jitted batch against an eager point: up to 5e-13 V apart (measured)
        np.testing.assert_allclose([phi_e[b, i, j], phi_s[b, i, j]], point, rtol=0, atol=2e-12)
    # the cathode potential is the terminal voltage
    v = s.voltage(tt, {"k_i0": theta[:, 0], "k_Ds": theta[:, 1]})
    np.testing.assert_allclose(phi_s, v, rtol=0, atol=1e-12)
    assert [a.shape for a in s.potentials(tt, theta[0])] == [(2, 3), (2, 3)]


# -- checkpoints ----------------------------------------------------------------------------
def _edit_header(raw: bytes, old: bytes, new: bytes) -> bytes:
    line, _, payload = raw.partition(b"\n")
    assert line.count(old) == 1, old
    return line.replace(old, new) + b"\n" + payload


def test_bundled_model_is_current_and_verified(s):
    header, _ = read_header(BUNDLED)
    assert header["version"] == 2 and header["kind"] == "spm-surrogate"
    assert (s.c_rate, s.t_max, s.space.names) == (2.0, 1350.0, ("k_i0", "k_Ds"))


@pytest.mark.parametrize(
    "old, new",
    [
        (b'"c_rate": 2.0', b'"c_rate": 1.0'),  # would let 1C data through
        (b'"lower": 1.0, "upper": 10.0', b'"lower": 1.0, "upper": 20.0'),  # the space's box
        (b'"t_max": 1350.0', b'"t_max": 2700.0'),
    ],
)
def test_header_edits_are_refused(tmp_path, old, new):
    path = tmp_path / "edited.eqx"
    path.write_bytes(_edit_header(BUNDLED.read_bytes(), old, new))
    with pytest.raises(
        CheckpointError, match="was edited or is corrupted: its header does not match"
    ):
        jaxbatt.load_surrogate(path)


def test_payload_flip_and_formatting(tmp_path, s):
    raw = BUNDLED.read_bytes()
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x01
    path = tmp_path / "flipped.eqx"
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="is corrupted: its payload does not match"):
        jaxbatt.load_surrogate(path)
    # re-formatting the header line (key order, spacing) is not an edit of its content
    line, _, payload = raw.partition(b"\n")
    header = json.loads(line)
    reformatted = {k: header[k] for k in reversed(list(header))}
    path = tmp_path / "reformatted.eqx"
    path.write_bytes(
        json.dumps(reformatted, indent=None, separators=(" ,", " : ")).encode() + b"\n" + payload
    )
    loaded = jaxbatt.load_surrogate(path)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(_leaves(loaded), _leaves(s), strict=True))


def test_consistent_header_that_does_not_fit_the_payload(tmp_path):
    # a header with a valid checksum that promises another architecture than the payload holds
    header, payload = read_header(BUNDLED)
    header["config"]["networks"][0]["width"] += 1
    path = tmp_path / "mismatched.eqx"
    _write(path, payload, kind=header["kind"], config=header["config"], meta=header["meta"])
    with pytest.raises(CheckpointError, match="does not match the model it is loaded into"):
        jaxbatt.load_surrogate(path)


def test_version_1_is_refused_and_can_be_upgraded(tmp_path, s):
    line, _, payload = BUNDLED.read_bytes().partition(b"\n")
    header = json.loads(line)
    header.update(version=1, sha256=hashlib.sha256(payload).hexdigest())  # the old layout
    old = tmp_path / "old.eqx"
    old.write_bytes(json.dumps(header).encode() + b"\n" + payload)
    with pytest.raises(CheckpointError, match="version-1 checkpoint.*upgrade_checkpoint"):
        jaxbatt.load_surrogate(old)
    upgrade_checkpoint(old, tmp_path / "new.eqx")
    loaded = jaxbatt.load_surrogate(tmp_path / "new.eqx")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(_leaves(loaded), _leaves(s), strict=True))
    bad = bytearray(old.read_bytes())
    bad[-5] ^= 0x01
    old.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="corrupted"):
        upgrade_checkpoint(old)


def test_training_state_checkpoint_header_is_covered(tmp_path):
    state = (jnp.arange(3.0), {"m": jnp.ones((2, 2))}, jax.random.key_data(jax.random.key(1)))
    path = tmp_path / "model.eqx.state"
    save_checkpoint(
        path, state, kind="training-state", config={"train": {"seed": 0}}, meta={"step": 40}
    )
    loaded, header = load_checkpoint(path, state, kind="training-state")
    assert header["meta"] == {"step": 40}
    assert all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(state))
    )
    path.write_bytes(_edit_header(path.read_bytes(), b'"step": 40', b'"step": 400'))
    with pytest.raises(CheckpointError, match="its header does not match"):
        load_checkpoint(path, state, kind="training-state")
