"""Route ``mo``: Model Optimizer's MXNet front end, driven by model.yml's ``model_optimizer_args``."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import OutputError, SpecError
from ..fsutil import resolve_inside, space_problem
from ..model.checkpoint import PARAMS_FILE
from ..model.mo_args import FILE_ARGUMENTS
from ..model.parse import substitute_dl_dir
from ..model.spec import ModelSpec

log = logging.getLogger(__name__)

#: Model Optimizer arguments that :func:`convert` decides itself (output place and precision).


def mo_arguments(spec: ModelSpec, input_dir: Path, shape: Sequence[int]) -> dict[str, Any]:
    """model.yml's ``model_optimizer_args`` as keyword arguments of ``openvino.tools.mo.convert_model``.

    ``--flag`` becomes ``flag=True``, ``--key=value`` becomes ``key="value"``; ``$dl_dir``
    is the checkpoint folder; the input shape is ``shape``. model.yml's arguments were
    vetted when it was parsed (:mod:`sshconv.model.mo_args`); the files they name must also
    resolve inside ``input_dir`` here, symbolic links followed.
    """
    kwargs: dict[str, Any] = {}
    for arg in substitute_dl_dir(spec.model_optimizer_args, input_dir):
        key, eq, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if key in FILE_ARGUMENTS and resolve_inside(value, input_dir) is None:
            raise SpecError(
                f"{spec.path}: model_optimizer_args: --{key}={value} leaves the checkpoint folder {input_dir} "
                "(a symbolic link?); it must name a file inside it"
            )
        kwargs[key] = value if eq else True
    kwargs["input_model"] = kwargs.get("input_model") or str(input_dir / PARAMS_FILE)
    kwargs["input_shape"] = "[" + ",".join(str(d) for d in shape) + "]"
    kwargs.setdefault("input", spec.input.name)
    return kwargs


def mo_model(spec: ModelSpec, input_dir: Path, shape: Sequence[int]):
    """The checkpoint through Model Optimizer's MXNet front end, as an in-memory ``ov.Model``."""
    from ..extras import require

    require("openvino.tools.mo", "the mo route (Model Optimizer)")
    from openvino.tools.mo import convert_model
    from openvino.tools.mo.utils.error import Error as MOError

    kwargs = mo_arguments(spec, input_dir, shape)
    log.debug("Model Optimizer: convert_model(%s)", kwargs)
    try:
        with quiet_stdout():
            return convert_model(**kwargs)
    except MOError as exc:
        if space_problem(exc) is not None:  # its working files hit a full disk: not the arguments' fault
            raise OutputError(
                f"Model Optimizer could not write its working files ({space_problem(exc)}); is the disk full? free some "
                f"space in {tempfile.gettempdir()} and the output folder, or pass another folder"
            ) from None
        first = " ".join(str(exc).split())[:300]
        raise SpecError(
            f"{spec.path}: Model Optimizer rejected model_optimizer_args {list(spec.model_optimizer_args)} "
            f"for {input_dir}: {first}"
        ) from None


@contextlib.contextmanager
def quiet_stdout():
    """Model Optimizer prints progress on stdout; the library never prints, so send it to the log."""
    buffer = _LogWriter()
    with contextlib.redirect_stdout(buffer):
        yield


class _LogWriter:
    def write(self, text: str) -> int:
        if text.strip():
            log.debug("%s", text.rstrip())
        return len(text)

    def flush(self) -> None:
        pass
