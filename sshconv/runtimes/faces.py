"""Faces artifacts (frame in, faces out) on OpenVINO or ONNX Runtime.

A faces artifact takes what OpenCV decodes (uint8, N x H x W x 3, BGR, any size) and returns
``faces`` (K x 5: x1, y1, x2, y2, score in the frame's pixels) and ``face_image`` (K: which frame),
plus Model API's ``bboxes``/``scores``/``labels``. :class:`FacesRunner` opens one (an ``.xml``, an
``.onnx`` or an ``ov.Model``) and checks it is one; ``with_input`` also returns the fitted network
input ``data`` (OpenVINO), which verification feeds the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ModelFileError, SshconvError, UsageError, first_line
from ..extras import EXECUTION
from ..model.spec import plain_name
from .openvino import EXECUTION_HINTS, _is_ov_model, _with_extra_outputs, check_model_file, precision_name, rt_text

FRAME_INPUT = "frame"
FACES_OUTPUTS = ("faces", "face_image")


class FacesRunner:
    """A faces artifact, active inside a ``with``; :meth:`infer_frames` runs a batch of frames."""

    def __init__(self, model: str | Path | Any, runtime: str = "openvino", execution: str | None = EXECUTION,
                 with_input: str | None = None, threads: int | None = None) -> None:  # fmt: skip
        self.source = model
        self.runtime = runtime
        self.execution = execution
        self.with_input = with_input  # the fitted input's tensor name, to return too (OpenVINO only)
        self.threads = threads
        self.execution_used: str | None = None
        self.fit = "none"  # what the artifact does to a frame before the network (its baked-in sshconv.fit)
        self._run = None

    @property
    def label(self) -> str:
        return "in-memory faces model" if _is_ov_model(self.source) else str(self.source)

    def __enter__(self) -> FacesRunner:
        if self.runtime == "onnxruntime":
            self._open_onnxruntime()
        else:
            self._open_openvino()
        return self

    def __exit__(self, *exc) -> None:
        self._run = None

    def _open_openvino(self) -> None:
        import openvino as ov

        core = ov.Core()
        if _is_ov_model(self.source):
            model = self.source.clone()  # reshaped per frame size: the caller's model stays as it is
        else:
            path = check_model_file(self.source)
            try:
                model = core.read_model(str(path))
            except RuntimeError as exc:
                raise ModelFileError(f"{path}: OpenVINO cannot read it ({first_line(exc)}); convert it again") from None
        _check_faces_model([plain_name(n) for p in model.inputs for n in p.get_names()],
                           [plain_name(n) for p in model.outputs for n in p.get_names()], self.label)  # fmt: skip
        try:
            self.fit = rt_text(model, ["sshconv", "fit"])
        except RuntimeError:  # no such runtime info: frames go in as they are
            pass
        if self.with_input:
            model = _with_extra_outputs(model, [self.with_input], self.label)
        config = {} if self.execution is None else {"INFERENCE_PRECISION_HINT": EXECUTION_HINTS[self.execution]}
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        compiled: dict[str, Any] = {}

        def run(frames: np.ndarray) -> dict[str, np.ndarray]:
            # Compiled for each frame size met (the last one kept): a static shape is what every OpenVINO
            # release compiles (2023.3's CPU plugin refuses a quantized model with dynamic height and width).
            if compiled.get("shape") != frames.shape:
                compiled.clear()
                model.reshape({0: list(frames.shape)})
                try:
                    c = core.compile_model(model, "CPU", config)
                except RuntimeError as exc:
                    raise ModelFileError(f"{self.label}: OpenVINO cannot compile it ({first_line(exc)})") from None
                self.execution_used = precision_name(c.get_property("INFERENCE_PRECISION_HINT"))
                compiled.update(shape=frames.shape, request=c.create_infer_request(),
                                ports=[(plain_name(p.get_any_name()), p) for p in c.outputs])  # fmt: skip
            res = compiled["request"].infer({0: frames})
            return {name: np.array(res[p]) for name, p in compiled["ports"]}

        self._run = run

    def _open_onnxruntime(self) -> None:
        from ..extras import require

        ort = require("onnxruntime", "running the faces ONNX file with ONNX Runtime")
        path = check_model_file(self.source)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.threads is not None:
            options.intra_op_num_threads = int(self.threads)
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
            raise ModelFileError(f"{path}: ONNX Runtime cannot load it ({first_line(exc)}); convert it again") from None
        names = [o.name for o in session.get_outputs()]
        _check_faces_model([i.name for i in session.get_inputs()], names, self.label)
        self.execution_used = EXECUTION
        self.fit = session.get_modelmeta().custom_metadata_map.get("sshconv.fit", "none")

        def run(frames: np.ndarray) -> dict[str, np.ndarray]:
            return dict(zip(names, session.run(None, {FRAME_INPUT: frames})))

        self._run = run

    def infer_frames(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs on ``frames`` (H x W x 3 or N x H x W x 3, uint8 BGR)."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise InputError(
                f"{self.label}: takes uint8 frames N x H x W x 3 (BGR, as OpenCV decodes them), got {frames.dtype} "
                f"{list(frames.shape)}"
            )
        if self.fit == "none":
            self._check_unfitted(frames.shape)
        return self._run(np.ascontiguousarray(frames))

    def _check_unfitted(self, shape: tuple[int, ...]) -> None:
        """Frames that go into the network as they are must be a size it takes, within the memory budget: refused
        here, in one line, before OpenVINO compiles for them (a 20000 x 20000 frame would take tens of GB)."""
        from ..model.shapes import check_shape

        n, h, w, _ = shape
        try:
            check_shape((n, 3, h, w))
        except UsageError as exc:
            raise InputError(f"{self.label} takes frames as they are (fit none, baked in): {exc}; or give frames to "
                             "a faces artifact converted with a fit (native or upstream)") from None  # fmt: skip

    def faces(self, bgr: np.ndarray) -> np.ndarray:
        """The faces (K x 5) of one frame."""
        return self.infer_frames(bgr)["faces"]


def _check_faces_model(inputs: list[str], outputs: list[str], label: str) -> None:
    if FRAME_INPUT not in inputs or any(o not in outputs for o in FACES_OUTPUTS):
        raise ModelFileError(
            f"{label}: not a faces artifact (expected input {FRAME_INPUT!r} and outputs {', '.join(FACES_OUTPUTS)}); "
            "pass an ssh-mxnet-faces file (a conversion with faces artifacts writes one beside each model)"
        )


def faces_file(path: str | Path) -> dict[str, str] | None:
    """What a faces artifact bakes in (its ``sshconv`` runtime info: fit, score floor, ...), or ``None`` for a raw model."""
    import openvino as ov

    path = check_model_file(path)
    try:
        model = ov.Core().read_model(str(path))
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: OpenVINO cannot read it ({first_line(exc)}); convert it again") from None
    if FRAME_INPUT not in {plain_name(n) for p in model.inputs for n in p.get_names()}:
        return None
    if path.suffix.lower() == ".onnx":  # the facts are the file's metadata, which OpenVINO does not read
        return _checked_facts(path, _onnx_facts(path))
    facts = {}
    for key in ("fit", "score_floor"):
        try:
            facts[key] = rt_text(model, ["sshconv", key])
        except RuntimeError:
            pass
    return _checked_facts(path, facts)


def _checked_facts(path: Path, facts: dict[str, str]) -> dict[str, str]:
    """The baked-in facts as a faces artifact of sshconv writes them: a floor in [0, 1), a fit it knows; a file whose
    metadata says otherwise (edited, or not ours) is a :class:`ModelFileError` naming the field, not a crash later."""
    from ..detection.fitting import FACES_FITS, check_fit

    def bad(key: str, what: str) -> ModelFileError:
        return ModelFileError(f"{path}: its baked-in sshconv.{key} is {str(facts[key])[:40]!r}, not {what}; "
                              "convert it again")  # fmt: skip

    if "score_floor" in facts:
        try:
            floor = float(facts["score_floor"])
        except ValueError:
            floor = float("nan")
        if not 0.0 <= floor < 1.0:
            raise bad("score_floor", "a score in [0, 1)")
    if "fit" in facts:
        try:
            check_fit(facts["fit"], FACES_FITS)
        except SshconvError:  # a UsageError for a flag; here it is the file's
            raise bad("fit", f"{', '.join(FACES_FITS)} or HxW") from None
    return facts


def _onnx_facts(path: Path) -> dict[str, str]:
    """The ``sshconv.*`` metadata of a faces ONNX file, read without the onnx package (ONNX Runtime, if present)."""
    try:
        import onnxruntime as ort
    except ImportError:
        try:
            import onnx
        except ImportError:
            return {}
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    else:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    return {k.removeprefix("sshconv."): v for k, v in meta.items() if k.startswith("sshconv.")}
