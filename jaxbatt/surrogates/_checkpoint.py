"""Checkpoints: a JSON header line, then `equinox.tree_serialise_leaves` bytes. Never pickle.

Files are written atomically (temporary file in the same folder, fsync, rename), so an
interrupted run never leaves a half-written checkpoint behind. The header carries the model
configuration (to rebuild the skeleton), free-form metadata and, in its ``"sha256"`` field, two
SHA-256 digests that together cover the whole file:

- ``"header"``: of the header's content without the ``"sha256"`` field, as canonical JSON
  (sorted keys, no whitespace), so an edited setting (C-rate, time window, parameter box,
  architecture) is detected while re-formatting the line is not an edit;
- ``"payload"``: of the serialised leaves.

Version 1 files (the digest covered the payload only) are refused with a message naming
`upgrade_checkpoint`, which verifies such a file's payload and rewrites it in this format.
"""

import hashlib
import io
import json
import pathlib

import equinox as eqx

from .. import _io
from .._errors import CheckpointError

FORMAT = "jaxbatt-checkpoint"
VERSION = 2  # 2: the checksum covers the header too (1: the payload only)


def atomic_write_bytes(path, payload: bytes):
    """Write `payload` to `path` atomically, creating its folder if needed
    (`jaxbatt._io.atomic_write_bytes`)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _io.atomic_write_bytes(path, payload)


def _canonical(header: dict) -> bytes:
    """The header's content without its checksum field, as canonical JSON."""
    body = {k: v for k, v in header.items() if k != "sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _digests(header: dict, payload: bytes) -> dict:
    return {
        "header": hashlib.sha256(_canonical(header)).hexdigest(),
        "payload": hashlib.sha256(payload).hexdigest(),
    }


def _write(path, payload: bytes, *, kind: str, config: dict, meta: dict):
    header = {"format": FORMAT, "version": VERSION, "kind": kind, "config": config, "meta": meta}
    # digest the header as a reader will parse it back (tuples become lists, ...)
    header = json.loads(json.dumps(header))
    header["sha256"] = _digests(header, payload)
    atomic_write_bytes(path, json.dumps(header).encode() + b"\n" + payload)


def save_checkpoint(path, tree, *, kind: str, config: dict, meta: dict | None = None):
    """Serialise pytree `tree` with a header {kind, config, meta} to `path`, atomically."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    _write(path, buffer.getvalue(), kind=kind, config=config, meta=meta or {})


def _split(path) -> tuple[dict, bytes]:
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    line, sep, payload = path.read_bytes().partition(b"\n")
    try:
        header = json.loads(line.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not sep or not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a jaxbatt checkpoint (bad or missing header)")
    return header, payload


def read_header(path) -> tuple[dict, bytes]:
    """(header, payload) of a checkpoint; `CheckpointError` if it is missing, of another
    version, or if its header or payload does not match its checksum."""
    header, payload = _split(path)
    name = repr(str(path))
    version = header.get("version")
    if version == 1:
        raise CheckpointError(
            f"{name} is a version-1 checkpoint, which this jaxbatt no longer reads: its checksum "
            "does not cover its header, so an edited setting would go unnoticed. If you trust "
            "the file, convert it once with jaxbatt.surrogates.upgrade_checkpoint("
            "path) (it verifies the payload and rewrites the file as version 2); or retrain"
        )
    if version != VERSION:
        raise CheckpointError(
            f"{name}: checkpoint version {version!r} is not supported "
            f"(this jaxbatt reads version {VERSION})"
        )
    stored = header.get("sha256")
    if not isinstance(stored, dict) or not {"header", "payload"} <= stored.keys():
        raise CheckpointError(f"{name} is corrupted: its header has no valid checksum field")
    actual = _digests(header, payload)
    if actual["header"] != stored["header"]:
        raise CheckpointError(
            f"{name} was edited or is corrupted: its header does not match its checksum (a "
            "checkpoint's settings, such as its C-rate, time window, parameter box and "
            "architecture, belong to its weights and cannot be changed by editing the file)"
        )
    if actual["payload"] != stored["payload"]:
        raise CheckpointError(f"{name} is corrupted: its payload does not match its checksum")
    return header, payload


def upgrade_checkpoint(path, out=None):
    """Rewrite a version-1 checkpoint (checksum over the payload only) as the current version,
    at `out` (default: in place, atomically). The payload bytes, hence the weights, are kept
    as they are; its payload checksum is verified first, its header is taken on trust."""
    header, payload = _split(path)
    if header.get("version") != 1:
        raise CheckpointError(
            f"{str(path)!r} is a version-{header.get('version')!r} checkpoint, not version 1"
        )
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(
            f"{str(path)!r} is corrupted: its payload does not match its checksum"
        )
    _write(
        path if out is None else out,
        payload,
        kind=header.get("kind"),
        config=header.get("config"),
        meta=header.get("meta") or {},
    )


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
