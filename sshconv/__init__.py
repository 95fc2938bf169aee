"""sshconv: acquire, convert and verify the SSH face detector.

The package reads as the pipeline it runs::

    model.yml --spec--> download (+archive) --> convert --> verify --> deploy (decode, detect, bench, report)

Heavy frameworks (MXNet, ONNX, OpenVINO) are imported inside the functions that
need them, so importing sshconv and ``sshconv --help`` stay fast.
"""

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
from .spec import ModelSpec, load_model_spec

__version__ = "0.1.0"

# MXNet prints a line on stderr each time it binds a graph unless told not to.
_os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")

__all__ = [
    "CheckpointError",
    "InputError",
    "IntegrityError",
    "ModelSpec",
    "SourceUnreachableError",
    "SpecError",
    "SshconvError",
    "UsageError",
    "VerificationMismatch",
    "load_model_spec",
]
