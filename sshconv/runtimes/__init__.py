"""Runtimes, one module per framework, each a :class:`~.base.Runner` with the same raw-BGR contract.

* :mod:`.mxnet`: :class:`MXNetRunner`, the reference (the checkpoint, preprocessed in NumPy);
* :mod:`.numpy_ref`: :class:`NumpyRunner`, the same checkpoint interpreted in float64 NumPy, without MXNet;
* :mod:`.openvino`: :class:`OpenVINORunner`, IR or ONNX files on the CPU plugin;
* :mod:`.onnxruntime`: :class:`OnnxRuntimeRunner`, the ONNX file on ONNX Runtime (the ``onnxruntime`` extra).

Importing this package imports NumPy, not the frameworks: each is imported when a runner activates.
Which runner an engine gets is decided in one place, :func:`sshconv.engines.open_runner`.
"""

from ..extras import RUNTIMES
from .base import Runner, check_raw_input, reference_preprocess
from .mxnet import MXNetRunner
from .numpy_ref import NumpyRunner
from .onnxruntime import OnnxRuntimeRunner
from .openvino import OpenVINORunner, check_model_contract, check_model_file, ir_weights, read_openvino_model

__all__ = [
    "RUNTIMES",
    "MXNetRunner",
    "NumpyRunner",
    "OnnxRuntimeRunner",
    "OpenVINORunner",
    "Runner",
    "check_model_contract",
    "check_model_file",
    "check_raw_input",
    "ir_weights",
    "read_openvino_model",
    "reference_preprocess",
]
