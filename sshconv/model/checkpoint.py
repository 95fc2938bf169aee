"""Finding and loading an MXNet checkpoint (``sshb-symbol.json`` + ``sshb-0000.params``).

Every way a checkpoint folder can be wrong ends in a :class:`CheckpointError` that
names the file and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, param
from ..fsutil import parse_json, sha256_file
from .spec import plain_name

PREFIX = "sshb"
EPOCH = 0
SYMBOL_FILE = f"{PREFIX}-symbol.json"
PARAMS_FILE = f"{PREFIX}-{EPOCH:04d}.params"
_FIX = f"run `sshconv download` (or `sshconv synth`) and pass the checkpoint folder as {param('input_dir')}"


class _Files:
    folder: Path

    @property
    def symbol_path(self) -> Path:
        return self.folder / SYMBOL_FILE

    @property
    def params_path(self) -> Path:
        return self.folder / PARAMS_FILE

    def hashes(self) -> dict[str, str]:
        return {SYMBOL_FILE: sha256_file(self.symbol_path), PARAMS_FILE: sha256_file(self.params_path)}


@dataclass
class Checkpoint(_Files):
    """The checkpoint as MXNet loads it."""

    folder: Path
    symbol: Any  # mx.sym.Symbol
    arg_params: dict
    aux_params: dict


@dataclass
class SymbolCheckpoint(_Files):
    """The checkpoint read without MXNet: the symbol's graph and every parameter as a NumPy array, by name."""

    folder: Path
    graph: Any  # symbol_file.SymbolGraph
    params: dict  # name (no arg:/aux: prefix) -> np.ndarray, as stored (float32 in sshb)

    def shapes(self, input_name: str, input_shape) -> list[tuple[int, ...]]:
        """Every node's output shape for this input shape (a parameter that does not fit is a CheckpointError)."""
        from .symbol_file import infer_shapes

        return infer_shapes(self.graph, {k: v.shape for k, v in self.params.items()}, {input_name: tuple(input_shape)})


def checkpoint_files(folder: str | Path) -> tuple[Path, Path]:
    """The symbol and params paths in ``folder``, after checking both exist and are non-empty."""
    folder = Path(folder)
    if not folder.exists():
        raise CheckpointError(f"checkpoint folder {folder}: does not exist; {_FIX}")
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder}: is not a folder; {_FIX}")
    paths = (folder / SYMBOL_FILE, folder / PARAMS_FILE)
    for p in paths:
        if not p.is_file():
            raise CheckpointError(f"{p}: missing; the folder must hold {SYMBOL_FILE} and {PARAMS_FILE}; {_FIX}")
        try:
            size = p.stat().st_size
            with open(p, "rb"):
                pass
        except OSError as exc:
            raise CheckpointError(f"{p}: cannot read ({exc.strerror}); fix its permissions") from None
        if size == 0:
            raise CheckpointError(f"{p}: is empty (0 bytes); the download was cut short, {_FIX}")
    return paths


def read_symbol_json(path: Path):
    """Load a symbol JSON file, with a one-line error for anything that is not one."""
    import mxnet as mx

    try:
        text = path.read_text(encoding="utf-8")
        doc = parse_json(text)
    except ValueError as exc:
        raise CheckpointError(f"{path}: not a JSON file ({exc}); the symbol file is damaged, {_FIX}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or "heads" not in doc:
        raise CheckpointError(f"{path}: JSON but not an MXNet symbol (no 'nodes'/'heads'); {_FIX}")
    try:
        return mx.sym.load_json(text)
    except mx.base.MXNetError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid graph"
        raise CheckpointError(f"{path}: MXNet cannot read this symbol ({first[:200]}); {_FIX}") from None


def read_params(path: Path) -> tuple[dict, dict]:
    import mxnet as mx

    try:
        saved = mx.nd.load(str(path))
    except mx.base.MXNetError:
        raise CheckpointError(f"{path}: not a readable MXNet params file (truncated or damaged); {_FIX}") from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: holds unnamed arrays, not checkpoint parameters; {_FIX}")
    args, auxs = {}, {}
    for key, value in saved.items():
        kind, _, name = key.partition(":")
        if kind == "arg":
            args[name] = value
        elif kind == "aux":
            auxs[name] = value
        else:
            raise CheckpointError(f"{path}: entry {key!r} is neither 'arg:' nor 'aux:'; not an MXNet checkpoint")
    return args, auxs


def check_params_fit(symbol, args: dict, auxs: dict, params_path: Path, input_name: str = "data") -> None:
    """Every parameter the graph needs is present with the shape the graph expects."""
    import mxnet as mx

    try:
        arg_shapes, _, aux_shapes = symbol.infer_shape(**{input_name: (1, 3, 640, 640)})
    except mx.base.MXNetError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(f"symbol of {params_path.parent}: cannot infer shapes for input {input_name!r} ({first})") from None
    if arg_shapes is None:
        raise CheckpointError(f"symbol of {params_path.parent}: has no input named {input_name!r}; {_FIX}")
    needed = [(n, s, args) for n, s in zip(symbol.list_arguments(), arg_shapes) if n != input_name]
    needed += [(n, s, auxs) for n, s in zip(symbol.list_auxiliary_states(), aux_shapes)]
    for name, shape, table in needed:
        if name not in table:
            raise CheckpointError(
                f"{params_path}: no parameter {name!r} that the symbol needs; params and symbol do not belong together"
            )
        if tuple(table[name].shape) != tuple(shape):
            raise CheckpointError(
                f"{params_path}: parameter {name!r} has shape {tuple(table[name].shape)}, the symbol needs {tuple(shape)}; "
                "params and symbol do not belong together"
            )


def check_outputs(symbol_path: Path, names: list[str], expected: list[str]) -> None:
    """The symbol's outputs are model.yml's, in its order."""
    if list(names) != list(expected):
        raise CheckpointError(f"{symbol_path}: outputs are {list(names)}, model.yml expects {list(expected)}; "
                              "this is a different network (or model.yml's `outputs` is wrong)")  # fmt: skip


def load_checkpoint(folder: str | Path, expected_outputs: list[str] | None = None) -> Checkpoint:
    """Load and check a checkpoint folder; optionally check its output names."""
    from ..extras import require

    sym_path, params_path = checkpoint_files(folder)
    require("mxnet", "reading the MXNet checkpoint")
    symbol = read_symbol_json(sym_path)
    if expected_outputs is not None:
        check_outputs(sym_path, [plain_name(n) for n in symbol.list_outputs()], expected_outputs)
    args, auxs = read_params(params_path)
    check_params_fit(symbol, args, auxs, params_path)
    return Checkpoint(Path(folder), symbol, args, auxs)


def read_checkpoint(folder: str | Path, expected_outputs: list[str] | None = None, input_name: str = "data",
                    input_shape=(1, 3, 640, 640)) -> SymbolCheckpoint:  # fmt: skip
    """Read and check a checkpoint folder with NumPy alone (no MXNet): the symbol's operations known, its outputs
    model.yml's (``expected_outputs``), every parameter it reads present with the shape it needs at ``input_shape``."""
    from .params_file import read_params_numpy
    from .symbol_file import read_symbol

    sym_path, params_path = checkpoint_files(folder)
    graph = read_symbol(sym_path)
    if expected_outputs is not None:
        check_outputs(sym_path, graph.output_names(), expected_outputs)
    args, auxs = read_params_numpy(params_path)
    ckpt = SymbolCheckpoint(Path(folder), graph, {**auxs, **args})
    ckpt.shapes(input_name, input_shape)
    return ckpt
