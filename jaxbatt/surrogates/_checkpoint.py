"""Checkpoints: a JSON header line, then `equinox.tree_serialise_leaves` bytes. Never pickle.

Files are written atomically (temporary file in the same folder, fsync, rename), so an
interrupted run never leaves a half-written checkpoint behind. The header carries the model
configuration (to rebuild the skeleton), free-form metadata and a SHA-256 of the payload, so a
corrupted or mismatched file is reported as such.
"""

import hashlib
import io
import json
import os
import pathlib
import tempfile

import equinox as eqx

from .._errors import CheckpointError

FORMAT = "jaxbatt-checkpoint"
VERSION = 1


def atomic_write_bytes(path, payload: bytes):
    """Write `payload` to `path` atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path, tree, *, kind: str, config: dict, meta: dict | None = None):
    """Serialise pytree `tree` with a header {kind, config, meta} to `path`, atomically."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    payload = buffer.getvalue()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": config,
        "meta": meta or {},
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    atomic_write_bytes(path, json.dumps(header).encode() + b"\n" + payload)


def read_header(path) -> tuple[dict, bytes]:
    """(header, payload) of a checkpoint; `CheckpointError` if it is missing or corrupted."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    raw = path.read_bytes()
    line, sep, payload = raw.partition(b"\n")
    try:
        header = json.loads(line.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not sep or not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a jaxbatt checkpoint (bad or missing header)")
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"{str(path)!r}: checkpoint version {header.get('version')} is not supported "
            f"(this jaxbatt reads version {VERSION})"
        )
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(f"{str(path)!r} is corrupted: its payload does not match its checksum")
    return header, payload


def load_checkpoint(path, skeleton, *, kind: str | None = None):
    """Deserialise the payload of `path` into `skeleton`; returns (tree, header)."""
    header, payload = read_header(path)
    if kind is not None and header.get("kind") != kind:
        raise CheckpointError(
            f"{str(path)!r} holds a {header.get('kind')!r} checkpoint, expected {kind!r}"
        )
    try:
        tree = eqx.tree_deserialise_leaves(io.BytesIO(payload), skeleton)
    except Exception as e:  # shapes/dtypes/structure differ
        raise CheckpointError(
            f"{str(path)!r} does not match the model it is loaded into: {e}"
        ) from e
    return tree, header
