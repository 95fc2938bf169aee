"""Stage 2, conversion: the MXNet checkpoint to OpenVINO IR and ONNX, raw-BGR input, with a manifest.

:func:`convert` (:mod:`.core`) runs the routes :mod:`.mo` and :mod:`.mxnet_onnx`, finishes
each IR the same way (:mod:`.ir`) and records what it made (:mod:`.manifest`, which every
later stage reads through :func:`read_manifest`). (The package is ``conversion`` so that
``sshconv.convert`` stays the function.)
"""

from .core import convert, convert_onnx
from .manifest import ARTIFACT_NAME, MANIFEST_NAME, Artifact, Manifest, ir_path, onnx_path, read_manifest
from .options import ROUTES, WEIGHTS, default_input_dir, parse_input_shape

__all__ = [
    "ARTIFACT_NAME",
    "MANIFEST_NAME",
    "ROUTES",
    "WEIGHTS",
    "Artifact",
    "Manifest",
    "convert",
    "convert_onnx",
    "default_input_dir",
    "ir_path",
    "onnx_path",
    "parse_input_shape",
    "read_manifest",
]
