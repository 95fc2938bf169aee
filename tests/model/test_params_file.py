"""The NumPy reader of MXNet's ``.params`` files: every layout and dtype, MXNet's own reading as the judge, and damage.

The files here are written byte by byte from the layout (``_write``), independently of the reader; on the conversion
stack MXNet reads the same bytes and must agree, and the synthetic checkpoint's file (written by MXNet) must read
equal to ``mx.nd.load`` bit for bit.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from sshconv.errors import CheckpointError
from sshconv.model.params_file import V1, V2, V3, read_params_numpy

from ..conftest import conversion_stack, needs_conversion_stack

pytestmark = pytest.mark.quick

CODES = {np.float32: 0, np.float64: 1, np.float16: 2, np.uint8: 3, np.int32: 4, np.int8: 5, np.int64: 6}


def _array_bytes(a: np.ndarray, layout: str, storage: int = 0) -> bytes:
    a = np.ascontiguousarray(a)
    code = CODES[a.dtype.type]
    if layout == "legacy":
        head = struct.pack(f"<I{a.ndim}I", a.ndim, *a.shape)
    else:
        tag = {"v1": V1, "v2": V2, "v3": V3}[layout]
        head = struct.pack("<I", tag) + (struct.pack("<i", storage) if tag in (V2, V3) else b"")
        head += struct.pack(f"<i{a.ndim}q", a.ndim, *a.shape)
    return head + struct.pack("<iii", 1, 0, code) + a.astype(a.dtype.newbyteorder("<")).tobytes()


def _write(path, named: dict[str, np.ndarray], layout: str = "v2", names: list[str] | None = None, storage: int = 0):
    names = list(named) if names is None else names
    out = struct.pack("<QQQ", 0x112, 0, len(named)) + b"".join(_array_bytes(a, layout, storage) for a in named.values())
    out += struct.pack("<Q", len(names)) + b"".join(struct.pack("<Q", len(n.encode())) + n.encode() for n in names)
    path.write_bytes(out)
    return path


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for i, dtype in enumerate(CODES):
        shape = [(8, 3, 3, 3), (5,), (2, 7), (1, 1, 4), (3, 2, 2, 2, 2), (6,), (4, 1)][i]
        if np.issubdtype(dtype, np.floating):
            values = rng.normal(size=shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            values = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        out[f"arg:w{i}_{np.dtype(dtype).name}"] = values
    out["aux:bn_moving_var"] = rng.random(4).astype(np.float32)
    return out


@pytest.mark.parametrize("layout", ["v2", "v1", "legacy"])
def test_every_layout_and_dtype_reads_as_written(tmp_path, layout):
    written = _arrays()
    args, auxs = read_params_numpy(_write(tmp_path / "x.params", written, layout))
    got = {**{f"arg:{k}": v for k, v in args.items()}, **{f"aux:{k}": v for k, v in auxs.items()}}
    assert list(got) == list(written)
    for key, value in written.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        assert got[key].tobytes() == value.tobytes(), key


@needs_conversion_stack
@pytest.mark.parametrize("layout", ["v2", "v1", "legacy"])
def test_mxnet_reads_the_same_bytes_the_same_way(tmp_path, layout):
    """The judge: MXNet's own loader on the same file (each layout, each dtype) gives the same arrays."""
    import mxnet as mx

    path = _write(tmp_path / "x.params", _arrays(1), layout)
    theirs = mx.nd.load(str(path))
    args, auxs = read_params_numpy(path)
    ours = {**{f"arg:{k}": v for k, v in args.items()}, **{f"aux:{k}": v for k, v in auxs.items()}}
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        value = value.asnumpy()
        assert ours[key].dtype == value.dtype and ours[key].tobytes() == value.tobytes(), key


@needs_conversion_stack
def test_files_mxnet_writes_read_equal_to_mx_nd_load_bit_for_bit(synth_dir, tmp_path):
    """The synthetic checkpoint (MXNet wrote it) and a file of every dtype saved by ``mx.nd.save``."""
    import mxnet as mx

    from sshconv.model.checkpoint import PARAMS_FILE

    saved = tmp_path / "saved.params"
    mx.nd.save(str(saved), {k: mx.nd.array(v, dtype=v.dtype) for k, v in _arrays(2).items()})
    for path in (synth_dir / PARAMS_FILE, saved):
        theirs = mx.nd.load(str(path))
        args, auxs = read_params_numpy(path)
        assert len(args) + len(auxs) == len(theirs), path
        for key, value in theirs.items():
            kind, _, name = key.partition(":")
            ours = (args if kind == "arg" else auxs)[name]
            assert ours.dtype == value.dtype and ours.tobytes() == value.asnumpy().tobytes(), (path, key)
    assert sum(v.size for v in read_params_numpy(synth_dir / PARAMS_FILE)[0].values()) == 19_768_420  # the card's 19.7684 M


@needs_conversion_stack
def test_a_file_mxnet_saved_with_numpy_semantics_is_refused(tmp_path):
    import mxnet as mx

    path = tmp_path / "np.params"
    with mx.util.np_shape(True):
        mx.nd.save(str(path), {"arg:w": mx.nd.ones((2, 3))})
    with pytest.raises(CheckpointError, match="version 3"):
        read_params_numpy(path)


def _damaged(tmp_path) -> dict[str, tuple[bytes, str]]:
    good = _write(tmp_path / "good.params", {"arg:w": np.ones((2, 3), np.float32), "aux:m": np.zeros(2, np.float16)}).read_bytes()
    one = {"arg:w": np.ones(3, np.float32)}
    cases = {
        "not an MXNet file": (b"PK\x03\x04" + bytes(40), "no NDArray list magic"),
        "empty": (b"", "no NDArray list magic"),
        "names fewer than arrays": (_write(tmp_path / "a", one, names=[]).read_bytes(), "1 arrays but 0 names"),
        "version 3": (_write(tmp_path / "b", one, "v3").read_bytes(), "version 3"),
        "sparse": (_write(tmp_path / "c", one, storage=1).read_bytes(), "sparse storage"),
        "unknown prefix": (_write(tmp_path / "d", one, names=["w"]).read_bytes(), "neither 'arg:<name>'"),
        "twice": (_write(tmp_path / "e", {"arg:w": one["arg:w"], "arg:v": one["arg:w"]}, names=["arg:w", "arg:w"]).read_bytes(), "twice"),
        "trailing bytes": (good + b"\x00", "1 bytes follow the last name"),
        "a billion arrays": (struct.pack("<QQQ", 0x112, 0, 10**9) + bytes(16), "more than its size could hold"),
        # the first array: tag at byte 24, storage 28, ndim 32, dims 36 and 44, device 52, dtype 60
        "a huge dimension": (good[:36] + struct.pack("<q", 1 << 40) + good[44:], "cut short"),
        "a negative dimension": (good[:36] + struct.pack("<q", -2) + good[44:], "negative dimension"),
        "dtype code 9": (good[:60] + struct.pack("<i", 9) + good[64:], "dtype code 9"),
        "too many dimensions": (good[:32] + struct.pack("<i", 1000) + good[36:], "1000 dimensions"),
    }
    return cases


def test_a_damaged_file_is_one_line_naming_what_is_wrong(tmp_path):
    for name, (data, fragment) in _damaged(tmp_path).items():
        path = tmp_path / "bad.params"
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match="damaged|not an MXNet") as info:
            read_params_numpy(path)
        assert fragment in str(info.value) and "\n" not in str(info.value), (name, str(info.value))


def test_a_file_cut_anywhere_is_refused(tmp_path):
    good = _write(tmp_path / "good.params", _arrays(3)).read_bytes()
    for cut in range(0, len(good), 7):
        (tmp_path / "cut.params").write_bytes(good[:cut])
        with pytest.raises(CheckpointError):
            read_params_numpy(tmp_path / "cut.params")


def test_a_pipe_or_a_folder_is_refused_unread(tmp_path):
    fifo = tmp_path / "fifo.params"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "named pipe"), (tmp_path, "folder"), (tmp_path / "none.params", "missing")):
        with pytest.raises(CheckpointError, match=kind):
            read_params_numpy(path)


def test_the_reader_needs_no_mxnet():
    """Imports nothing heavy: the runtime stack reads checkpoints (a fresh interpreter, to see what it loaded)."""
    import subprocess
    import sys

    code = ("import sys; from sshconv.model.params_file import read_params_numpy; "
            "print(sorted(m for m in ('mxnet', 'openvino', 'onnx') if m in sys.modules))")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
    assert conversion_stack() or "mxnet" not in sys.modules
