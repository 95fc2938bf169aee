"""What the user names, turned into labelled engines: the one plan verify, bench, eval, detect and the demo run.

A user names a checkpoint folder (``mxnet``), a conversion folder (every model its manifest
lists, checked by hash), or model files by path. Each becomes an :class:`Engine`: what runs
(MXNet, OpenVINO or ONNX Runtime), which file, how it stores its weights, and at which
execution precision. Every command labels an engine the same way, in its text, its JSON and
its HTML (:func:`engine_label`):

===========================  =====================================================
``mxnet``                    the checkpoint: the reference wherever it is present
``numpy``                    the checkpoint run by NumPy in float64: the reference without MXNet
``ir/<route>/<weights>``     an IR of a conversion folder (``ir/mo/FP32``, ``ir/onnx/INT8``)
``onnx``                     the conversion folder's ONNX file
``ir``, ``onnx``             one file given by path (several: ``ir:<path>``)
`` bf16`` after a label      an FP32 model run with bf16 execution
`` onnxruntime`` after it    an ONNX file run by ONNX Runtime instead of OpenVINO
===========================  =====================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import IntegrityError, ModelFileError, UsageError, param
from ..extras import EXECUTION, RUNTIMES
from ..fsutil import sha256_file
from ..model.checkpoint import PARAMS_FILE, SYMBOL_FILE

#: The engine every other is compared with: MXNet running the checkpoint.
REFERENCE = "mxnet"
#: What can run the checkpoint as the reference: MXNet, or sshconv's float64 NumPy interpreter where MXNet is absent.
REFERENCES = ("mxnet", "numpy")
#: What runs each kind of engine by default: the checkpoint on MXNet, model files on OpenVINO.
DEFAULT_RUNTIME = RUNTIMES[0]
CHECKPOINT_FILES = (SYMBOL_FILE, PARAMS_FILE)


@dataclass(frozen=True)
class Engine:
    """One thing that runs: a checkpoint on MXNet, or a model file on OpenVINO or ONNX Runtime."""

    label: str
    runtime: str  # "mxnet" or "numpy" (the checkpoint), "openvino" or "onnxruntime"
    path: Path  # the checkpoint folder, or the model file (.xml / .onnx)
    weights: str | None = None  # how a model stores its weights (FP32 / FP16 / INT8); None for MXNet
    execution: str = EXECUTION  # "f32" or "bf16"
    route: str | None = None  # a conversion folder's IRs: "mo" or "onnx"
    artifact: str = ""  # the label without the execution and runtime suffixes: what the file is
    files: dict[str, str] = field(default_factory=dict, compare=False)  # file name -> sha256, every file it reads

    @property
    def is_reference(self) -> bool:
        return self.runtime in REFERENCES

    def file_paths(self) -> dict[str, Path]:
        folder = self.path if self.is_reference else self.path.parent
        return {name: folder / name for name in self.files}

    def to_dict(self) -> dict:
        return {"label": self.label, "runtime": self.runtime, "path": str(self.path), "weights": self.weights,
                "execution": self.execution, "sha256": dict(self.files)}  # fmt: skip


@dataclass
class Plan:
    """The engines to run, the reference first when there is one, and what vouches for them."""

    engines: list[Engine]
    hashes: dict[str, str] = field(default_factory=dict)  # files that vouch for the models (the manifest)
    converted_from: dict[str, str] = field(default_factory=dict)  # checkpoint file -> sha256, from the manifest
    faces: list[Engine] = field(default_factory=list)  # faces artifacts (frame in, faces out), when asked for
    faces_options: dict = field(default_factory=dict)  # what they bake in (the manifest's ``faces``)

    @property
    def reference(self) -> Engine | None:
        return self.engines[0] if self.engines and self.engines[0].is_reference else None

    @property
    def models(self) -> list[Engine]:
        return [e for e in self.engines if not e.is_reference]


def engine_label(artifact: str, execution: str = EXECUTION, runtime: str = DEFAULT_RUNTIME) -> str:
    """The one label of an engine (see the module's table)."""
    label = artifact
    if execution != EXECUTION:
        label += f" {execution}"
    if runtime not in (DEFAULT_RUNTIME, "mxnet"):
        label += f" {runtime}"
    return label


def checkpoint_engine(folder: str | Path, runtime: str = REFERENCE) -> Engine:
    """The checkpoint in ``folder`` run by MXNet (or ``numpy``), its files hashed (a missing one is a one-line error)."""
    folder = Path(folder)
    missing = [n for n in CHECKPOINT_FILES if not (folder / n).is_file()]
    if missing:
        raise ModelFileError(
            f"checkpoint {folder}: no {', '.join(missing)}; pass the folder `sshconv download` or `sshconv synth` filled"
        )
    return Engine(runtime, runtime, folder, artifact=runtime, files={n: sha256_file(folder / n) for n in CHECKPOINT_FILES})


def reference_runtime(choice: str) -> tuple[str, str]:
    """``(runtime, why)`` of the reference for ``choice`` (``auto``, ``mxnet`` or ``numpy``): ``auto`` is MXNet where it
    imports, else NumPy, and ``why`` then says so (empty for a choice the user made)."""
    from ..extras import why_missing

    if choice not in ("auto", *REFERENCES):
        raise UsageError(f"{param('reference')} {choice!r}: expected auto, {', '.join(REFERENCES)}")
    if choice != "auto":
        return choice, ""
    missing = why_missing("mxnet")
    if missing is None:
        return REFERENCE, ""
    return "numpy", "chosen automatically: MXNet cannot be imported here"


def model_engine(path: str | Path, artifact: str, runtime: str = DEFAULT_RUNTIME, route: str | None = None,
                 weights: str | None = None, files: dict[str, str] | None = None) -> Engine:  # fmt: skip
    """A model file (checked to be one) run by ``runtime``: IRs always by OpenVINO. ``files``: its hashes, where a
    manifest has just checked them (else they are computed here)."""
    from ..runtimes.openvino import check_model_file, ir_weights

    checked = check_model_file(path)
    if checked.suffix.lower() != ".onnx":
        runtime = DEFAULT_RUNTIME
    weights = weights or (ir_weights(checked) if checked.suffix.lower() == ".xml" else "FP32")
    label = engine_label(artifact, EXECUTION, runtime)
    return Engine(label, runtime, checked, weights, EXECUTION, route, artifact, files or model_hashes(checked))


def with_execution(engine: Engine, execution: str) -> Engine:
    """The same model at another execution precision (bf16 runs of FP32 models)."""
    return replace(engine, execution=execution, label=engine_label(engine.artifact, execution, engine.runtime))


def model_hashes(path: str | Path) -> dict[str, str]:
    """sha256 of a model file and, for an IR, of its ``.bin``."""
    path = Path(path)
    files = [path] + ([path.with_suffix(".bin")] if path.suffix.lower() == ".xml" else [])
    return {p.name: sha256_file(p) for p in files if p.is_file()}


def checkpoint_of(artifacts: str | Path) -> Path | None:
    """The checkpoint folder a ``sshconv convert`` output came from (its manifest), if it is still there."""
    from ..conversion.manifest import read_manifest

    try:
        folder = read_manifest(artifacts).checkpoint_folder
    except ModelFileError:
        return None
    if folder is None:
        return None
    return folder if all((folder / n).is_file() for n in CHECKPOINT_FILES) else None


def plan_engines(
    *,
    input_dir: str | Path | None = None,
    artifacts: str | Path | None = None,
    irs: Sequence[str | Path] = (),
    onnx: Sequence[str | Path] = (),
    runtime: str = DEFAULT_RUNTIME,
    routes: Sequence[str] | None = None,
    kinds: Sequence[str] = ("ir", "onnx"),
    bf16: bool = False,
    faces: bool = False,
) -> Plan:
    """MXNet (when ``input_dir`` is given) first, then every model of ``artifacts``, or each of ``irs`` and ``onnx``.

    A conversion folder is checked against its manifest (a missing or changed file is an
    :class:`~sshconv.errors.IntegrityError`, exit 4); ``routes`` and ``kinds`` (``ir``,
    ``onnx``) narrow it. ``runtime`` runs the ONNX files; IRs always run on OpenVINO.
    ``bf16`` adds a bf16-execution twin after each FP32 model that OpenVINO runs. ``faces`` also
    lists a conversion folder's faces artifacts (of the same routes and kinds) in :attr:`Plan.faces`.
    """
    if runtime not in RUNTIMES:
        raise UsageError(f"{param('runtime')} {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if artifacts is not None and (irs or onnx):
        raise UsageError(f"pass {param('artifacts')} or model files, not both")
    plan = Plan([checkpoint_engine(input_dir)] if input_dir is not None else [])
    models: list[Engine] = []
    if artifacts is not None:
        models += _manifest_engines(plan, artifacts, runtime, routes, kinds, faces)
    for kind, paths in (("ir", irs), ("onnx", onnx)):
        for path in paths:
            artifact = kind if len(paths) == 1 else f"{kind}:{path}"
            baked = _faces_facts(path) if faces else None
            if baked is None:
                models.append(model_engine(path, artifact, runtime))
            else:  # a faces artifact given by path: checked as one, with what it says it bakes in
                plan.faces.append(model_engine(path, f"faces/{artifact}", runtime))
                plan.faces_options = baked
    for e in models:
        plan.engines.append(e)
        if bf16 and e.weights == "FP32" and e.runtime == DEFAULT_RUNTIME:
            plan.engines.append(with_execution(e, "bf16"))
    labels = [e.label for e in plan.engines]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise UsageError(f"the same model is given twice ({', '.join(twice)})")
    return plan


def _manifest_engines(plan: Plan, artifacts, runtime: str, routes, kinds, faces: bool = False) -> list[Engine]:
    from ..conversion.manifest import read_manifest

    manifest = read_manifest(artifacts)
    manifest.check()
    checked = {manifest.file(a): a.sha256 for a in manifest.artifacts}  # manifest.check() has just hashed each file

    def engines(artifacts) -> list[Engine]:
        out = []
        # One order for every command: the IRs by route and weights, then the ONNX file.
        for a in sorted(artifacts, key=lambda a: (not a.kind.endswith("ir-xml"), a.route or "", a.weights or "")):
            kind = "ir" if a.kind.endswith("ir-xml") else "onnx"
            if kind not in kinds or (kind == "ir" and routes is not None and a.route not in routes):
                continue
            path = manifest.file(a)
            files = {f.name: checked[f] for f in (path, path.with_suffix(".bin")) if f in checked}
            out.append(model_engine(path, a.label, runtime, a.route if kind == "ir" else None, a.weights, files))
        return out

    found = engines(manifest.models())
    if faces:
        plan.faces = engines(manifest.faces_models())
        plan.faces_options = dict(manifest.faces)
    if not found:
        what = " or ".join({"ir": "IR", "onnx": "ONNX model"}[k] for k in kinds)
        raise ModelFileError(f"{manifest.path}: lists no {what}; run `sshconv convert` into {manifest.folder}")
    plan.hashes = {manifest.path.name: sha256_file(manifest.path)}
    plan.converted_from = manifest.source_hashes()
    return found


def _faces_facts(path) -> dict | None:
    from ..runtimes.faces import faces_file

    return faces_file(path)


def check_copies(engine: Engine, folder: Path) -> Engine:
    """``engine`` with its files in ``folder`` (copies a remote worker received), each checked by hash."""
    for name, digest in engine.files.items():
        got = sha256_file(folder / name)
        if got != digest:
            raise IntegrityError(f"{engine.label}: the worker's copy of {name} has sha256 {got}, expected {digest}")
    path = folder if engine.is_reference else folder / engine.path.name
    return replace(engine, path=path)
