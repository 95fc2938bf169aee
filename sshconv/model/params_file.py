"""MXNet's ``.params`` file read with NumPy alone: no MXNet needed to know what a checkpoint holds.

The file is MXNet's NDArray list (src/ndarray/ndarray.cc), little-endian throughout:

- ``u64`` 0x112 (the list's magic), ``u64`` 0 (reserved);
- ``u64`` the number of arrays, then each array;
- ``u64`` the number of names, then each name as ``u64`` length + bytes (``arg:...`` or ``aux:...``).

An array starts with a ``u32`` tag:

- 0xF993FAC9 (version 2): ``i32`` storage type (0 dense), the shape (``i32`` ndim, then ``i64`` each), then,
  unless ndim is 0 (an empty array, nothing follows), ``i32`` device type, ``i32`` device id, ``i32`` dtype, data;
- 0xF993FAC8 (version 1): the same without the storage type;
- 0xF993FACA (version 3, NumPy shape semantics): refused, as sparse storage is (a checkpoint never holds them);
- anything else (the oldest files): the tag is ndim, then ``u32`` each dimension, then device, dtype, data.

Every count, length and size is checked against what is left of the file before anything is allocated: a
damaged or hostile file is a one-line :class:`~sshconv.errors.CheckpointError` (exit 2), never a huge allocation.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..fsutil import file_kind

LIST_MAGIC = 0x112
V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
#: MXNet's dtype codes (mshadow's type flags) that a checkpoint may hold.
DTYPES = {0: "<f4", 1: "<f8", 2: "<f2", 3: "u1", 4: "<i4", 5: "i1", 6: "<i8"}
#: More dimensions than any array of a network has: a larger count is a damaged file.
MAX_NDIM = 32
#: The largest parameters file read (the network's are 79 MB in float32): a larger one is refused unread.
MAX_BYTES = 1 << 30
_ADVICE = "the file is damaged or not an MXNet checkpoint's parameters; download it again"


class _Reader:
    """Little-endian fields from a bytes-like buffer, each checked against the bytes that are left."""

    def __init__(self, data: memoryview, path: Path):
        self.data, self.path, self.at = data, path, 0

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {what} (at byte {self.at}); {_ADVICE}")

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.at + size > len(self.data):
            raise self.fail(f"cut short: {what} needs {size} bytes, {len(self.data) - self.at} are left")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def field(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]


def _shape(r: _Reader, tag: int, name: str) -> tuple[int, ...]:
    if tag in (V1, V2):
        ndim = r.field("i", f"{name}'s number of dimensions")
        wide = True
    else:  # the oldest layout: the tag was the number of dimensions
        ndim, wide = tag, False
    if not 0 <= ndim <= MAX_NDIM:
        raise r.fail(f"{name} has {ndim} dimensions (at most {MAX_NDIM})")
    size = 8 if wide else 4
    dims = struct.unpack(f"<{ndim}{'q' if wide else 'I'}", r.take(size * ndim, f"{name}'s shape"))
    if any(d < 0 for d in dims):
        raise r.fail(f"{name} has a negative dimension {dims}")
    return tuple(int(d) for d in dims)


def _array(r: _Reader, name: str) -> np.ndarray:
    tag = r.field("I", f"{name}'s version tag")
    if tag == V3:
        raise r.fail(f"{name} is saved with NumPy shape semantics (version 3), which a checkpoint never is")
    if tag == V2:
        storage = r.field("i", f"{name}'s storage type")
        if storage != 0:
            raise r.fail(f"{name} has sparse storage (type {storage}); a checkpoint's parameters are dense")
    shape = _shape(r, tag, name)
    if not shape and tag in (V1, V2):
        return np.zeros((0,), np.float32)  # MXNet's "none" array: nothing follows
    r.take(8, f"{name}'s device")  # device type and id: every array is read onto the CPU
    code = r.field("i", f"{name}'s dtype")
    if code not in DTYPES:
        raise r.fail(f"{name} has dtype code {code}, not one of {sorted(DTYPES)} (float32/64/16, uint8, int32, int8, int64)")
    dtype = np.dtype(DTYPES[code])
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * dtype.itemsize > len(r.data) - r.at:
        raise r.fail(f"cut short: {name} of shape {shape} needs {count * dtype.itemsize} bytes, {len(r.data) - r.at} are left")
    return np.frombuffer(r.take(count * dtype.itemsize, name), dtype=dtype).reshape(shape).copy()


def read_params_numpy(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(arg_params, aux_params)`` of an MXNet ``.params`` file as NumPy arrays, names without their prefix."""
    path = Path(path)
    kind = file_kind(path)
    if kind != "file":
        raise CheckpointError(f"{path}: is {'missing' if kind == 'missing' else 'a ' + kind}, not a parameters file; {_ADVICE}")
    try:
        with open(path, "rb") as f:
            data = memoryview(f.read(MAX_BYTES + 1))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror}); fix its permissions or download it again") from None
    if len(data) > MAX_BYTES:
        raise CheckpointError(f"{path}: larger than {MAX_BYTES >> 30} GiB, far more than this network's parameters; {_ADVICE}")
    r = _Reader(data, path)
    if len(data) < 16 or r.field("Q", "the list's magic") != LIST_MAGIC:
        raise CheckpointError(f"{path}: not an MXNet parameters file (no NDArray list magic 0x112 at its start); {_ADVICE}")
    r.field("Q", "the reserved field")
    count = r.field("Q", "the number of arrays")
    if count > len(data) // 8:
        raise r.fail(f"claims {count} arrays, more than its size could hold")
    arrays = [_array(r, f"array {i}") for i in range(count)]
    names = []
    n_names = r.field("Q", "the number of names")
    if n_names != count:
        raise r.fail(f"holds {count} arrays but {n_names} names")
    for i in range(n_names):
        length = r.field("Q", f"name {i}'s length")
        raw = bytes(r.take(length, f"name {i}"))
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise r.fail(f"name {i} is not UTF-8 text") from None
    if r.at != len(data):
        raise r.fail(f"{len(data) - r.at} bytes follow the last name")
    args: dict[str, np.ndarray] = {}
    auxs: dict[str, np.ndarray] = {}
    for key, value in zip(names, arrays):
        kind, _, name = key.partition(":")
        table = {"arg": args, "aux": auxs}.get(kind)
        if table is None or not name:
            raise CheckpointError(f"{path}: entry {key!r} is neither 'arg:<name>' nor 'aux:<name>'; {_ADVICE}")
        if name in table:
            raise CheckpointError(f"{path}: entry {key!r} appears twice; {_ADVICE}")
        table[name] = value
    return args, auxs
