"""The engines an evaluation runs, named as verify names them, each with the hashes of its files.

``mxnet`` is the checkpoint folder; a conversion folder gives ``ir/<route>/<weights>`` and
``onnx`` (checked against its manifest); single IRs are ``ir`` (or ``ir:<file>`` when
several are given). Every model file is hashed once here: the ledger keeps the hashes so
that a resumed run refuses a changed model, and remote workers check the copies they get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelFileError, UsageError, param
from ..fsutil import sha256_file

#: The engine every other is compared with, photo by photo.
REFERENCE = "mxnet"
CHECKPOINT_FILES = ("sshb-symbol.json", "sshb-0000.params")


@dataclass(frozen=True)
class Engine:
    label: str
    kind: str  # "mxnet" or "openvino"
    path: Path  # the checkpoint folder, or the model file (.xml / .onnx)
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256, every file the engine reads

    def file_paths(self) -> dict[str, Path]:
        folder = self.path if self.kind == "mxnet" else self.path.parent
        return {name: folder / name for name in self.files}

    def to_dict(self) -> dict:
        return {"label": self.label, "kind": self.kind, "path": str(self.path), "sha256": dict(self.files)}


def find_engines(
    input_dir: str | Path | None = None, artifacts: str | Path | None = None, irs: Sequence[str | Path] = ()
) -> list[Engine]:
    """MXNet (when ``input_dir`` is given), then every model of ``artifacts`` or each of ``irs``."""
    from ..runtimes.openvino import check_model_file
    from ..verification.targets import find_targets

    if artifacts is not None and irs:
        raise UsageError(f"eval: pass {param('artifacts')} or {param('irs')}, not both")
    if input_dir is None and artifacts is None and not irs:
        raise UsageError(f"eval: nothing to evaluate; pass {param('input_dir')}, {param('artifacts')} or {param('irs')}")
    engines = []
    if input_dir is not None:
        folder = Path(input_dir)
        missing = [n for n in CHECKPOINT_FILES if not (folder / n).is_file()]
        if missing:
            raise ModelFileError(
                f"checkpoint {folder}: no {', '.join(missing)}; pass the folder `sshconv download` or `sshconv synth` filled"
            )
        engines.append(Engine(REFERENCE, "mxnet", folder, {n: sha256_file(folder / n) for n in CHECKPOINT_FILES}))
    if artifacts is not None:
        for t in find_targets(artifacts=artifacts).targets:
            engines.append(_model_engine(t.label, t.path))
    for path in irs:
        checked = check_model_file(path)
        label = "ir" if len(irs) == 1 else f"ir:{checked}"
        engines.append(_model_engine(label, checked))
    labels = [e.label for e in engines]
    if len(set(labels)) != len(labels):
        raise UsageError(f"eval: the same model is given twice ({', '.join(sorted({x for x in labels if labels.count(x) > 1}))})")
    return engines


def _model_engine(label: str, path: Path) -> Engine:
    from ..verification.targets import model_hashes

    return Engine(label, "openvino", path, model_hashes(path))


def check_copies(engine: Engine, folder: Path) -> Engine:
    """``engine`` with its files in ``folder`` (copies a remote worker received), each checked by hash."""
    from ..errors import IntegrityError

    for name, digest in engine.files.items():
        got = sha256_file(folder / name)
        if got != digest:
            raise IntegrityError(f"{engine.label}: the worker's copy of {name} has sha256 {got}, expected {digest}")
    path = folder if engine.kind == "mxnet" else folder / engine.path.name
    return Engine(engine.label, engine.kind, path, dict(engine.files))
