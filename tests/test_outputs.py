"""Outputs of the command line and of `CalibrationResult.save`: checked before any work,
written atomically; Ctrl-C, exit codes, help and warnings of the `jaxbatt` command.

Heavy work (sampling, solving, plotting) is replaced by stand-ins wherever the test is about
I/O; one tiny calibration (shared with test_arviz.py's settings, so a serial run compiles the
sampler once) gives a real `CalibrationResult`.
"""

import json
import os
import signal
import threading
import time
import types
import warnings

import numpy as np
import pytest

import jaxbatt
import jaxbatt._simulate
import jaxbatt.inference._command as command
from jaxbatt import InputError, SolverError
from jaxbatt._cli import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    cache_disabled,
    compilation_cache_dir,
    main,
)
from jaxbatt._io import atomic_file, atomic_folder, check_output_dir, check_output_file
from jaxbatt.inference import _plots, load_example

TINY = dict(num_chains=2, num_warmup=50, num_samples=50, seed=0, progress_bar=False)


@pytest.fixture(scope="module")
def result():
    ex = load_example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # convergence/misfit at 50 draws
        return jaxbatt.calibrate(ex.t, ex.v, **TINY)


def _forbid(monkeypatch, module, name):
    """Replace `module.name` by a function that fails the test if called."""

    def called(*args, **kwargs):
        raise AssertionError(f"{name} ran although the output path was bad")

    monkeypatch.setattr(module, name, called)


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------- checked before any work


def test_calibrate_out_existing_file_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    _forbid(monkeypatch, command, "calibrate")
    _forbid(monkeypatch, command, "resolve_voltage_model")
    existing = tmp_path / "existing_file"
    existing.write_text("keep me")
    start = time.perf_counter()
    assert main(["calibrate", "--out", str(existing)]) == EXIT_USAGE
    assert time.perf_counter() - start < 2.0
    line = _one_line(capsys.readouterr().err)
    assert line == f"jaxbatt: error: --out {existing} is a file; expected a folder for the results"
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("case", ["foreign folder", "missing parent", "current folder"])
def test_calibrate_out_that_would_lose_or_cannot_hold_files_is_refused(
    case, tmp_path, monkeypatch, capsys
):
    _forbid(monkeypatch, command, "calibrate")
    if case == "foreign folder":
        out = tmp_path / "photos"
        out.mkdir()
        (out / "holiday.jpg").write_text("x")
        expected = "exists and is not a jaxbatt result folder"
    elif case == "missing parent":
        out = tmp_path / "no" / "such" / "dir"
        expected = f"the folder {tmp_path / 'no' / 'such'} does not exist"
    else:
        monkeypatch.chdir(tmp_path)
        out = tmp_path
        expected = "is the current folder"
    assert main(["calibrate", "--out", str(out)]) == EXIT_USAGE
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"jaxbatt: error: --out {out}") and expected in line, line
    if case == "foreign folder":
        assert (out / "holiday.jpg").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_parent_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InputError, match="is not writable"):
            check_output_file(locked / "curve.csv", "--out")
        with pytest.raises(InputError, match="is not writable"):
            check_output_dir(locked / "cal", "--out")
    finally:
        locked.chmod(0o700)


def test_simulate_outputs_are_checked_before_the_solve(tmp_path, monkeypatch, capsys):
    _forbid(monkeypatch, jaxbatt._simulate, "simulate")
    missing = tmp_path / "missing" / "curve.csv"
    assert main(["simulate", "--out", str(missing)]) == EXIT_USAGE
    line = _one_line(capsys.readouterr().err)
    assert f"--out {missing}: the folder {missing.parent} does not exist" in line
    assert main(["simulate", "--out", str(tmp_path)]) == EXIT_USAGE
    assert f"--out {tmp_path} is a folder" in _one_line(capsys.readouterr().err)
    assert main(["simulate", "--plot", str(tmp_path / "curve.xyz")]) == EXIT_USAGE
    assert "matplotlib cannot write 'xyz' images" in _one_line(capsys.readouterr().err)
    same = str(tmp_path / "c.png")
    assert main(["simulate", "--out", same, "--plot", same]) == EXIT_USAGE
    assert "name the same file" in _one_line(capsys.readouterr().err)


def test_train_out_is_checked_before_training(tmp_path, monkeypatch, capsys):
    import jaxbatt.surrogates  # noqa: PLC0415

    _forbid(monkeypatch, jaxbatt.surrogates, "train_hierarchy")
    _forbid(monkeypatch, jaxbatt.surrogates, "train")
    out = tmp_path / "missing" / "m.eqx"
    for model in ("spm", "p2d"):
        assert main(["train", model, "--out", str(out), "--steps", "1"]) == EXIT_USAGE
        assert "does not exist" in _one_line(capsys.readouterr().err)
    # an SPM-only option is refused for P2D before anything is trained
    args = ["train", "p2d", "--out", str(tmp_path / "m.eqx"), "--levels", "2"]
    assert main(args) == EXIT_USAGE
    assert "--levels is for SPM surrogates only" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "m.eqx").exists()


def test_train_level1_at_reaches_the_hierarchy(tmp_path, monkeypatch, capsys):
    import jaxbatt.surrogates  # noqa: PLC0415

    seen = {}

    def fake_train_hierarchy(levels, out, **kwargs):
        seen.update(levels=levels, level1=kwargs["level1_parameters"])
        return jaxbatt.surrogates.TrainResult(surrogate=None, history=[])

    monkeypatch.setattr(jaxbatt.surrogates, "train_hierarchy", fake_train_hierarchy)
    out = str(tmp_path / "m.eqx")
    args = ["train", "spm", "--physics-only", "--levels", "2", "--level1-at", "2,2.5", "--out", out]
    assert main(args) == 0
    assert seen == {"levels": 2, "level1": [2.0, 2.5]}
    assert main(["train", "spm", "--level1-at", "2,x", "--out", out]) == EXIT_USAGE
    assert "argument --level1-at: expected a number, got 'x'" in capsys.readouterr().err
    assert main(["train", "p2d", "--level1-at", "2,2", "--out", out]) == EXIT_USAGE
    assert "--level1-at is for SPM surrogates only" in _one_line(capsys.readouterr().err)


# ---------------------------------------------------------------- atomic files and folders


def test_atomic_file_keeps_the_old_content_on_failure(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as f:
            f.write("half of the new")
            raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temporary left
    with atomic_file(path) as f:
        f.write("new")
    assert path.read_text() == "new"
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_folder_replaces_a_whole_folder_or_nothing(tmp_path):
    out = tmp_path / "cal"
    with atomic_folder(out) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(out) as tmp:
            (tmp / "a").write_text("2")
            raise KeyboardInterrupt
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a": "1", "b": "1"}
    with atomic_folder(out) as tmp:
        (tmp / "c").write_text("3")
    assert [p.name for p in out.iterdir()] == ["c"]  # no stale "a" or "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal"]


def _quick_figure(*args, **kwargs):
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    return fig


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_save_failing_midway_leaves_no_partial_folder_and_the_old_result(
    result, tmp_path, monkeypatch, error
):
    monkeypatch.setattr(_plots, "plot_predictive", _quick_figure)
    monkeypatch.setattr(_plots, "plot_traces", _quick_figure)
    out = tmp_path / "cal"

    def broken(*args, **kwargs):
        raise error("stopped while plotting")

    monkeypatch.setattr(_plots, "plot_pairs", broken)
    with pytest.raises(error):
        result.save(out)
    assert list(tmp_path.iterdir()) == []  # no partial folder, no temporary

    monkeypatch.setattr(_plots, "plot_pairs", _quick_figure)
    paths = result.save(out)  # a complete, older result
    assert set(paths) == {"summary.json", "summary.txt", "samples.npz", "predictive.png",
                          "pairs.png", "pairs_zoom.png", "traces.png"}  # fmt: skip
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(_plots, "plot_pairs", broken)
    with pytest.raises(error):
        result.save(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal"]

    # a new result without plots replaces the folder as a whole: no stale plots beside it
    paths = result.save(out, plots=False)
    assert sorted(p.name for p in out.iterdir()) == ["samples.npz", "summary.json", "summary.txt"]
    assert paths["summary.json"] == os.path.join(str(out), "summary.json")
    assert "jaxbatt_version" in json.loads((out / "summary.json").read_text())
    with pytest.raises(InputError, match="is a file"):
        result.save(out / "summary.json")


def test_save_samples_appends_npz_like_numpy(result, tmp_path):
    path = result.save_samples(tmp_path / "draws")
    assert path == str(tmp_path / "draws.npz")
    with np.load(path) as data:
        assert data["k_i0"].shape == (2, 50) and data["diverging"].shape == (2, 50)


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_calibrate_prints_one_line_and_exits_130(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cal"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "calibrate", interrupted)
    assert main(["calibrate", "--out", str(out)]) == EXIT_INTERRUPTED
    captured = capsys.readouterr()
    assert _one_line(captured.err) == f"jaxbatt: interrupted; nothing written: {out}"
    assert not out.exists()


def test_ctrl_c_while_saving_keeps_the_earlier_result(result, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cal"
    result.save(out, plots=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def save_interrupted(self, out_dir, **kwargs):
        with atomic_folder(out_dir) as tmp:
            (tmp / "summary.json").write_text("{}")
            raise KeyboardInterrupt

    monkeypatch.setattr(command, "calibrate", lambda *a, **k: result)
    monkeypatch.setattr(type(result), "save", save_interrupted)
    assert main(["calibrate", "--out", str(out)]) == EXIT_INTERRUPTED
    line = _one_line(capsys.readouterr().err)
    assert line == (
        f"jaxbatt: interrupted; nothing written: {out} (an earlier result there is unchanged)"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _fake_solution(t):
    # a stand-in for a Solution that ran to its last requested time
    return types.SimpleNamespace(
        voltage=np.linspace(4.0, 3.2, np.size(t)), ended_early=False, current=None
    )


def test_ctrl_c_in_simulate_says_what_was_written(tmp_path, monkeypatch, capsys):
    import jaxbatt._cli as cli  # noqa: PLC0415

    csv, png = tmp_path / "c.csv", tmp_path / "c.png"
    monkeypatch.setattr(jaxbatt._simulate, "simulate", lambda m, p, t, **k: _fake_solution(t))

    def plot_interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "plot_curve", plot_interrupted)
    rc = main(["simulate", "--n-points", "5", "--out", str(csv), "--plot", str(png)])
    assert rc == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert _one_line(err) == f"jaxbatt: interrupted; wrote {csv}; did not write {png}"
    assert csv.is_file() and not png.exists()


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers need the main thread",
)
def test_a_real_sigint_wrapped_by_a_library_still_ends_as_an_interrupt(monkeypatch, capsys):
    """A Ctrl-C inside a JAX host callback can come back as a runtime error wrapping the
    KeyboardInterrupt: the SIGINT handler of `main` recognises it."""

    def solve(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)
        except KeyboardInterrupt:
            raise RuntimeError("INTERNAL: CpuCallback error: KeyboardInterrupt") from None
        raise AssertionError("no SIGINT arrived")

    monkeypatch.setattr(jaxbatt._simulate, "simulate", solve)
    previous = signal.getsignal(signal.SIGINT)
    assert main(["simulate"]) == EXIT_INTERRUPTED
    assert _one_line(capsys.readouterr().err) == "jaxbatt: interrupted; nothing written"
    assert signal.getsignal(signal.SIGINT) is previous


# ---------------------------------------------------------------- options and exit codes


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--n-points", "-5"], "argument --n-points: must be an integer >= 2, got -5"),
        (["simulate", "--t-end", "0"], "argument --t-end: must be a finite positive number, got 0"),
        (["simulate", "--t-end", "nan"], "argument --t-end: expected a finite number, got 'nan'"),
        (["simulate", "--c-rate", "-1"], "argument --c-rate: must be a finite positive number"),
        (["calibrate", "--num-chains", "0"], "argument --num-chains: must be a positive integer"),
        (["calibrate", "--sigma", "3000"], "argument --sigma: 3000 mV is implausibly large"),
        (["calibrate", "--num-samples", "ten"], "argument --num-samples: expected a number"),
        (["simulate", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
    ],
)
def test_bad_options_name_the_option_and_exit_2(argv, message, capsys):
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_exit_codes_are_consistent(tmp_path, monkeypatch, capsys):
    # bad input found by jaxbatt (not argparse): 2, one line
    assert main(["simulate", "--param", "k_i0"]) == EXIT_USAGE
    assert _one_line(capsys.readouterr().err) == (
        "jaxbatt: error: --param expects NAME=VALUE, got 'k_i0'"
    )
    assert main(["simulate", "--param", "k_i0=abc"]) == EXIT_USAGE
    assert "is not a number" in _one_line(capsys.readouterr().err)

    # a runtime failure: 1
    def fails(*args, **kwargs):
        raise SolverError("Newton failed at t = 12 s")

    monkeypatch.setattr(jaxbatt._simulate, "simulate", fails)
    assert main(["simulate"]) == EXIT_FAILURE
    assert _one_line(capsys.readouterr().err) == "jaxbatt: error: Newton failed at t = 12 s"

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jaxbatt._simulate, "simulate", lambda m, p, t, **k: _fake_solution(t))
    import jaxbatt._cli as cli  # noqa: PLC0415

    monkeypatch.setattr(cli, "write_curve_csv", disk_full)
    assert main(["simulate", "--n-points", "3", "--out", str(tmp_path / "c.csv")]) == EXIT_FAILURE
    assert "No space left on device" in _one_line(capsys.readouterr().err)
    assert main(["simulate", "--n-points", "3"]) == EXIT_OK
    assert main(["--version"]) == EXIT_OK


def test_help_shows_the_defaults(capsys):
    import inspect  # noqa: PLC0415

    api = inspect.signature(jaxbatt.calibrate).parameters
    assert main(["calibrate", "--help"]) == EXIT_OK
    text = " ".join(capsys.readouterr().out.split())
    for option in ("num-chains", "num-warmup", "num-samples"):  # the same as the API's
        assert f"--{option} {option.upper().replace('-', '_')} " in text
        assert f"(default: {api[option.replace('-', '_')].default})" in text
    for default in ("(default: calibration)", "(default: surrogate)", "(default: white)",
                    "--netcdf", "--no-cache"):  # fmt: skip
        assert default in text, default
    assert "(default: None)" not in text and "(default: False)" not in text
    assert main(["simulate", "--help"]) == EXIT_OK
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 1350, or the protocol's nominal length; another cell: 1.5 h / C" in text
    assert "(default: 271)" in text and "(default: None)" not in text


def test_warnings_print_as_one_line_without_source(monkeypatch, capsys):
    from jaxbatt.inference import ConvergenceWarning  # noqa: PLC0415

    def warns(model, params, t, **kwargs):
        warnings.warn("R-hat of k_i0 is 1.02\n(> 1.01)", ConvergenceWarning, stacklevel=2)
        return _fake_solution(t)

    monkeypatch.setattr(jaxbatt._simulate, "simulate", warns)
    shown = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["simulate", "--n-points", "3"]) == EXIT_OK
    err = capsys.readouterr().err
    assert err == "jaxbatt: warning: R-hat of k_i0 is 1.02 (> 1.01)\n"
    assert warnings.showwarning is shown  # only inside main, not globally


def test_the_compilation_cache_is_for_the_command_line_only(tmp_path, monkeypatch):
    import jax  # noqa: PLC0415

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir() == str(tmp_path / "jaxbatt" / "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert compilation_cache_dir() == str(tmp_path / ".cache" / "jaxbatt" / "jax")
    for value, disabled in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv("JAXBATT_NO_CACHE", value)
        assert cache_disabled() is disabled
    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setattr(jaxbatt._simulate, "simulate", lambda m, p, t, **k: _fake_solution(t))
    assert main(["simulate", "--n-points", "3"]) == EXIT_OK  # argv given: no cache
    assert jax.config.jax_compilation_cache_dir == before
    assert not (tmp_path / ".cache").exists()


def test_ctrl_c_in_train_points_to_the_training_state(tmp_path, monkeypatch, capsys):
    import jaxbatt.surrogates  # noqa: PLC0415

    out = tmp_path / "m.eqx"

    def interrupted_training(levels, out, **kwargs):
        (tmp_path / "m.eqx.state").write_bytes(b"state")  # as `train` checkpoints it
        raise KeyboardInterrupt

    monkeypatch.setattr(jaxbatt.surrogates, "train_hierarchy", interrupted_training)
    assert main(["train", "spm", "--out", str(out), "--steps", "10"]) == EXIT_INTERRUPTED
    assert _one_line(capsys.readouterr().err) == (
        f"jaxbatt: interrupted; nothing written: {out} (the training state is saved in "
        f"{out}.state; --resume continues from it)"
    )


def test_ctrl_c_while_stuck_in_compiled_code_still_ends_the_command(tmp_path):
    """A KeyboardInterrupt swallowed by a callback (as JAX's garbage-collection hook does) or
    a main thread waiting in compiled code: the watcher thread ends the process within its
    grace time, removes the temporaries of unfinished writes and prints the one line."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    script = f"""
import os, signal, sys, time
import jaxbatt._simulate
from jaxbatt._cli import main
from jaxbatt._io import atomic_file

def stuck(*args, **kwargs):
    with atomic_file({str(tmp_path / "partial.csv")!r}) as f:
        f.write("half")
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        except KeyboardInterrupt:
            pass  # swallowed, as in a callback
        time.sleep(20)  # "compiled code" that never returns to the handler
    raise AssertionError("not interrupted")

jaxbatt._simulate.simulate = stuck
sys.exit(main(["simulate", "--out", {str(tmp_path / "c.csv")!r}]))
"""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == EXIT_INTERRUPTED, run.stderr
    assert _one_line(run.stderr) == f"jaxbatt: interrupted; nothing written: {tmp_path / 'c.csv'}"
    assert list(tmp_path.iterdir()) == []  # the temporary of partial.csv was removed
    assert time.perf_counter() - start < 60
