"""The model: model.yml's facts (:mod:`.spec`, parsed by :mod:`.parse`), the SSH graph
(:mod:`.network`), its MXNet checkpoint files (:mod:`.checkpoint`) and Model Optimizer's arguments (:mod:`.mo_args`).
A synthetic checkpoint of this architecture is made by :mod:`sshconv.synthetic`.

Nothing here imports MXNet until a graph or checkpoint is actually built or read.
"""

from .parse import load_model_spec, parse_model_spec, substitute_dl_dir
from .spec import PACKAGED_MODEL_YML, InputSpec, ModelSpec, OutputSpec, Tolerance, plain_name

__all__ = [
    "PACKAGED_MODEL_YML",
    "InputSpec",
    "ModelSpec",
    "OutputSpec",
    "Tolerance",
    "load_model_spec",
    "parse_model_spec",
    "plain_name",
    "substitute_dl_dir",
]
