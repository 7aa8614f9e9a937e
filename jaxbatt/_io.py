"""Writing outputs safely: path checks before any work, atomic files and atomic folders.

- `check_output_file` / `check_output_dir` refuse, with an `InputError` naming the path (and
  the command-line option, if given), an output that cannot be written, before the work that
  produces it starts.
- `atomic_file` writes a file under a temporary name beside the target and renames it into
  place when the block succeeds: a reader (or a crash) sees the old file or the new one,
  never half of one.
- `atomic_folder` does the same for a folder of results: everything is written into a
  temporary folder beside the target, which replaces the target as a whole at the end. An
  existing result folder is replaced, never mixed with new files; an error or Ctrl-C inside
  the block removes the temporary folder and leaves the old result untouched.

A temporary name starts with a dot and the target's name (``.calibration.tmp-XXXX``), so a
leftover from a killed process (SIGKILL, power loss: no clean-up ran) is easy to recognise
and safe to delete.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile

from ._errors import InputError

RESULT_MARKER = "summary.json"  # a folder holding this (written by jaxbatt) is a result folder
_PENDING: set = set()  # temporary files and folders being written, for `remove_pending`


def remove_pending():
    """Delete the temporary files and folders of writes still under way (the command line
    calls it before a hard exit on Ctrl-C, when no ``finally`` clause will run)."""
    for path in list(_PENDING):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        _PENDING.discard(path)


def _label(path, option):
    return f"{option} {os.fspath(path)}" if option else os.fspath(path)


def _check_parent(path: pathlib.Path, option, create_parents: bool):
    parent = path.absolute().parent
    if not parent.exists():
        if create_parents:
            return  # made when the output is written
        raise InputError(
            f"{_label(path, option)}: the folder {os.fspath(parent)} does not exist; "
            "create it first"
        )
    if not parent.is_dir():
        raise InputError(f"{_label(path, option)}: {os.fspath(parent)} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"{_label(path, option)}: the folder {os.fspath(parent)} is not writable"
        )


def _nonempty_path(path, option):
    if path is None or os.fspath(path) == "":
        raise InputError(f"{option or 'output path'}: empty path")
    return pathlib.Path(path)


def check_output_file(path, option: str | None = None, *, create_parents: bool = False):
    """Check that a file can be written to `path` (an existing file is replaced).

    Raises `InputError` naming `path` (and `option`, e.g. ``"--out"``) when it is a folder,
    when its folder is missing (unless `create_parents`), not a folder, or not writable.
    Returns `path` as a `pathlib.Path`.
    """
    path = _nonempty_path(path, option)
    if path.is_dir():
        raise InputError(f"{_label(path, option)} is a folder; expected a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{_label(path, option)}: the file exists and is not writable")
    _check_parent(path, option, create_parents)
    return path


def is_result_folder(path) -> bool:
    """Whether `path` is a folder written by jaxbatt (its ``summary.json`` names a
    jaxbatt version)."""
    marker = pathlib.Path(path) / RESULT_MARKER
    try:
        with open(marker, encoding="utf-8") as f:
            return "jaxbatt_version" in json.load(f)
    except (OSError, ValueError, TypeError):
        return False


def check_output_dir(path, option: str | None = None, *, create_parents: bool = False):
    """Check that a result folder can be written at `path`.

    Allowed: a new name in an existing, writable folder (or a missing one, with
    `create_parents`), an empty folder, or a jaxbatt result folder (see `is_result_folder`),
    which will be replaced as a whole. Anything else (a file, a folder with other content,
    the current folder or one above it) raises `InputError` naming the path, so that no
    user file is ever deleted. Returns `path` as a `pathlib.Path`.
    """
    path = _nonempty_path(path, option)
    if path.exists() and not path.is_dir():
        raise InputError(f"{_label(path, option)} is a file; expected a folder for the results")
    if path.is_dir():
        absolute, cwd = path.resolve(), pathlib.Path.cwd().resolve()
        if absolute == cwd or absolute in cwd.parents:
            raise InputError(
                f"{_label(path, option)} is the current folder (or contains it); name a new "
                "folder for the results"
            )
        if any(path.iterdir()) and not is_result_folder(path):
            raise InputError(
                f"{_label(path, option)} exists and is not a jaxbatt result folder (it has no "
                f"{RESULT_MARKER} written by jaxbatt); it would be replaced as a whole, so "
                "name a new folder or remove it first"
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{_label(path, option)}: the folder is not writable")
    _check_parent(path, option, create_parents)
    return path


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_file(path, mode: str = "w", *, encoding: str | None = "utf-8"):
    """Context manager: an open file whose content replaces `path` when the block succeeds.

    Written under a temporary name beside `path` (same file system, so the final
    `os.replace` is atomic) and fsynced first. On an exception (or Ctrl-C) the temporary file
    is removed and `path` is left as it was. `mode` is ``"w"`` (text) or ``"wb"`` (bytes).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file mode must be 'w' or 'wb', got {mode!r}")
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.absolute().parent, prefix=f".{path.name}.",
                               suffix=".tmp")  # fmt: skip
    _PENDING.add(tmp)
    try:
        os.chmod(tmp, 0o666 & ~_default_mode())  # mkstemp makes 0600; give the usual mode
        kwargs = {"encoding": encoding} if mode == "w" else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _PENDING.discard(tmp)


def atomic_write_text(path, text: str) -> str:
    """Write `text` (UTF-8) to `path` atomically; returns the path as a string."""
    with atomic_file(path, "w") as f:
        f.write(text)
    return os.fspath(path)


def atomic_write_bytes(path, payload: bytes) -> str:
    """Write `payload` to `path` atomically; returns the path as a string."""
    with atomic_file(path, "wb") as f:
        f.write(payload)
    return os.fspath(path)


def figure_format(path) -> str:
    """The image format matplotlib infers from `path`'s extension (``png`` when it has
    none); `InputError` naming the path for an extension matplotlib cannot write."""
    from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415

    suffix = pathlib.Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        raise InputError(
            f"{os.fspath(path)}: matplotlib cannot write {suffix!r} images; use one of "
            + ", ".join(sorted(formats))
        )
    return suffix


def atomic_savefig(fig, path, **kwargs) -> str:
    """`fig.savefig(path, **kwargs)` atomically (format from the extension of `path`)."""
    kwargs.setdefault("format", figure_format(path))
    with atomic_file(path, "wb") as f:
        fig.savefig(f, **kwargs)
    return os.fspath(path)


@contextlib.contextmanager
def atomic_folder(path):
    """Context manager: a temporary folder beside `path` that replaces `path` as a whole
    when the block succeeds.

    Yields the temporary folder (a `pathlib.Path`); write every output there. At the end an
    existing `path` is moved aside, the new folder renamed to `path`, and the old one
    deleted: `path` always holds either the complete old result or the complete new one
    (between the two renames, microseconds, it is briefly absent; the old result then sits
    in ``.<name>.old-XXXX``). On an exception or Ctrl-C inside the block, the temporary
    folder is deleted and `path` is untouched. Missing parent folders are created. Callers
    should first check `path` with `check_output_dir` (this replaces whatever is there).
    """
    path = pathlib.Path(path)
    parent = path.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.tmp-"))
    _PENDING.add(os.fspath(tmp))
    try:
        os.chmod(tmp, 0o777 & ~_default_mode())  # mkdtemp makes 0700
        yield tmp
        old = None
        if path.is_dir():
            old = pathlib.Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.old-"))
            os.replace(path, old)  # onto an empty directory: rename replaces it
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)  # put the old result back
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _PENDING.discard(os.fspath(tmp))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
