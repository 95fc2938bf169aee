"""Model Optimizer arguments from model.yml: untrusted input, allowed only where they describe the model.

model.yml files travel (a colleague's copy, a mirror, an old zoo checkout), and Model
Optimizer has options that load and run Python code, write files and logs, or change what
it produces. So an argument passes only if it describes this model: its input, shape,
mean and scale values, channel order and layout, and the checkpoint files, which must
name files inside the checkpoint folder (``$dl_dir/NAME``). Anything else is refused,
naming the argument and why. Output folder, name and precision are sshconv's to decide.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

#: Arguments that describe this model (value syntax is Model Optimizer's to check).
ALLOWED = frozenset({
    "input", "input_shape", "mean_values", "scale_values", "scale", "reverse_input_channels",
    "layout", "source_layout", "target_layout", "framework", "input_model", "input_symbol",
    "nd_prefix_name", "pretrained_model_name", "legacy_mxnet_model",
})  # fmt: skip
#: Arguments that name a file, which must be ``$dl_dir/NAME`` inside the checkpoint folder.
FILE_ARGUMENTS = frozenset({"input_model", "input_symbol"})
#: Why some well-known arguments are refused (the rest: "does not describe the model").
REFUSED = {
    "extensions": "it loads and runs Python code from a folder that model.yml names",
    "transformations_config": "it loads a transformation config, which can run code",
    "output_dir": "it writes files where model.yml says; sshconv decides where the IR goes",
    "model_name": "it names the files written; sshconv decides the artifact names",
    "save_params_from_nd": "it writes files next to the checkpoint",
    "log_level": "it changes what Model Optimizer logs",
    "silent": "it changes what Model Optimizer prints",
    "progress": "it changes what Model Optimizer prints",
    "stream_output": "it changes what Model Optimizer prints",
    "output": "it changes which outputs the converted model has; they come from model.yml's outputs",
    "data_type": "it changes the IR's precision, which sshconv decides",
    "compress_to_fp16": "it changes the IR's precision, which sshconv decides",
    "static_shape": "it changes the converted model",
    "use_new_frontend": "it changes how the model is read",
    "use_legacy_frontend": "it changes how the model is read",
}
_KEY = re.compile(r"^--([A-Za-z][A-Za-z0-9_-]*)$")


def check_mo_argument(arg: str) -> str | None:
    """``None`` if ``arg`` may be passed to Model Optimizer, else why not (one phrase)."""
    key_text, eq, value = arg.partition("=")
    m = _KEY.match(key_text)
    if not m:
        return "an argument must be --key or --key=value"
    key = m.group(1).replace("-", "_")
    if key in REFUSED:
        return f"--{key} is not allowed: {REFUSED[key]}"
    if key not in ALLOWED:
        return f"--{key} is not allowed: it does not describe the model (allowed: {', '.join(sorted(ALLOWED))})"
    if key in FILE_ARGUMENTS:
        prefix = "$dl_dir/"
        rel = value[len(prefix) :] if value.startswith(prefix) else None
        parts = PurePosixPath(rel).parts if rel else ()
        if not eq or not rel or rel.startswith("/") or "\\" in rel or ".." in parts or "$" in rel:
            return f"--{key} must name a file inside the checkpoint folder, as $dl_dir/NAME"
    if key == "framework" and value != "mxnet":
        return f"--framework={value} is not allowed: this model is an MXNet checkpoint (--framework=mxnet)"
    return None
