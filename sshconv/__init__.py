"""sshconv: acquire, convert and verify the SSH face detector.

The package reads as the pipeline it runs, one sub-package per stage::

    model (model.yml) -> download -> conversion -> verification -> deploy (decode, detect, bench, report)
                                     -> evaluation (the card's mAP on a dataset)
                                     runtimes (MXNet, OpenVINO) serve the last four; cli is a thin layer

The stages' entry points are importable from here::

    from sshconv import load_model_spec, download_model, convert, verify, detect, evaluate

Each is imported on first use, and heavy frameworks (MXNet, ONNX, OpenVINO) only when
a function that needs them runs, so ``import sshconv`` and ``sshconv --help`` stay fast.
"""

import importlib as _importlib
import os as _os

from .errors import (
    CheckpointError,
    InputError,
    IntegrityError,
    SourceUnreachableError,
    SpecError,
    SshconvError,
    UsageError,
    VerificationMismatch,
)

__version__ = "0.1.0"

# MXNet prints a line on stderr each time it binds a graph unless told not to.
_os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")

#: Public name -> the module that defines it, imported on first access.
_LAZY = {
    "ModelSpec": "sshconv.model.spec",
    "load_model_spec": "sshconv.model.parse",
    "download_model": "sshconv.download.core",
    "convert": "sshconv.conversion.core",
    "read_manifest": "sshconv.conversion.manifest",
    "quantize_artifacts": "sshconv.conversion.quantize",
    "quantize_ir": "sshconv.conversion.quantize",
    "QuantizeOptions": "sshconv.conversion.quantize",
    "verify": "sshconv.verification.core",
    "VerifyOptions": "sshconv.verification.core",
    "detect": "sshconv.deploy.detect",
    "run_bench": "sshconv.deploy.bench",
    "run_demo": "sshconv.demo",
    "evaluate": "sshconv.evaluation.core",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sshconv' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CheckpointError",
    "InputError",
    "IntegrityError",
    "SourceUnreachableError",
    "SpecError",
    "SshconvError",
    "UsageError",
    "VerificationMismatch",
    *_LAZY,
]
