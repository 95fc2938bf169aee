"""Runtimes, one module per framework, each a :class:`~.base.Runner` with the same raw-BGR contract.

* :mod:`.mxnet`: :class:`MXNetRunner`, the reference (the checkpoint, preprocessed in NumPy);
* :mod:`.openvino`: :class:`OpenVINORunner`, IR or ONNX files on the CPU plugin.

Importing this package imports NumPy, not the frameworks: each is imported when a runner activates.
"""

from .base import Runner, check_raw_input, reference_preprocess
from .mxnet import MXNetRunner
from .openvino import OpenVINORunner, check_model_contract, check_model_file, ir_weights, read_openvino_model

__all__ = [
    "MXNetRunner",
    "OpenVINORunner",
    "Runner",
    "check_model_contract",
    "check_model_file",
    "check_raw_input",
    "ir_weights",
    "read_openvino_model",
    "reference_preprocess",
]
