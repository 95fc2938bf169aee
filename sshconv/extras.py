"""sshconv's two halves: the runtime half is always installed; the conversion half is an extra.

``pip install sshconv`` brings what runs, checks and deploys converted models (OpenVINO,
NumPy 1 or 2, any Python 3.10-3.13). Reading the MXNet checkpoint and converting it needs
the pinned conversion stack (``pip install 'sshconv[convert]'``, Python 3.11: MXNet 1.9.1,
NumPy 1.23.5, ONNX 1.15, Model Optimizer 2023.3); ONNX Runtime is the ``onnxruntime`` extra,
NNCF (``sshconv quantize``) the ``int8`` extra, Ray (``sshconv eval --ray``) the ``ray`` extra.
:func:`require` imports one of those, or says in one line which extra to install.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from .errors import MissingExtraError

#: What ``runtime`` can name: the runtimes that run converted models (OpenVINO is always installed).
RUNTIMES = ("openvino", "onnxruntime")
#: The execution precision every model runs at unless told otherwise: f32, as the reference computes
#: (bf16 only where asked for; an INT8 model runs its quantized layers in INT8, the rest at this).
EXECUTION = "f32"

#: Module -> the extra that installs it, and the Python it needs (None: any supported one).
EXTRAS = {
    "mxnet": ("convert", "3.11"),
    "onnx": ("faces", None),  # the faces wrapper; the onnx route needs MXNet, whose hint comes first
    "openvino.tools.mo": ("convert", "3.11"),
    "onnxruntime": ("onnxruntime", None),
    "nncf": ("int8", None),
    "ray": ("ray", None),
    "model_signing": ("sign", None),
    "model_signing.signing": ("sign", None),
}


def install_hint(module: str) -> str:
    extra, python = EXTRAS[module]
    where = f" on Python {python}" if python else ""
    return f"pip install 'sshconv[{extra}]'{where}"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` for ``purpose``, or raise :class:`MissingExtraError` (exit 2) naming the extra.

    MXNet runs one OpenMP thread unless told otherwise, and reads the setting once, when it
    loads: so before it loads, ``OMP_NUM_THREADS`` is set to the cores this process may use
    (unless the user set it), giving MXNet its best configuration, as OpenVINO has by default.
    """
    if module == "mxnet" and "mxnet" not in sys.modules:
        from .versions import available_cores

        os.environ.setdefault("OMP_NUM_THREADS", str(available_cores()))
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - ImportError, or e.g. MXNet 1.9 failing on NumPy 2: same advice
        why = " ".join(f"{exc.__class__.__name__}: {exc}".split())[:160]
        what = "the conversion half" if EXTRAS[module][0] == "convert" else "it"
        raise MissingExtraError(
            f"{purpose} needs {module}, which cannot be imported here ({why}); install {what} with {install_hint(module)}"
        ) from None


def why_missing(module: str) -> str | None:
    """None where ``module`` imports here; else the one line :func:`require` would raise (for automatic choices)."""
    try:
        require(module, "this")
    except MissingExtraError as exc:
        return str(exc)
    return None
