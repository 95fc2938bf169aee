"""FP32 IR -> INT8 IR by NNCF's post-training quantization: ``sshconv quantize``.

NNCF (the ``int8`` extra; the release that matches the installed OpenVINO) runs the FP32 IR
on calibration photos, collects each activation's range, and inserts FakeQuantize
operations with 8-bit weights; OpenVINO's CPU plugin then runs the quantized layers in
INT8. The calibration inputs go through what ``detect`` does to a photo (fitted to the
network input with OpenCV's bilinear arithmetic), raw BGR, since the IR subtracts the mean
and reverses the channels itself:

* default: generated labelled photos (``sshconv photos``'s generator, seeded): the
  synthetic checkpoint saturates on noise, so noise would calibrate nothing useful;
* ``calibration``: a folder of the user's own photos, its sub-folders too (WIDER's
  ``images/<event>/``): the first ``count`` in path order.

What went in is recorded (:attr:`QuantizeResult.record`): the calibration's source, seed
and the sha256 of every input tensor, NNCF's settings and the NNCF and OpenVINO versions.
With a conversion folder (:func:`quantize_artifacts`), every FP32 IR gets an INT8 sibling
``ir/<route>/INT8/ssh-mxnet.{xml,bin}``, listed in the manifest with that record.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, ModelFileError, SshconvError, UsageError, first_line, param
from ..events import Emitter, EventHandler
from ..fsutil import ensure_dir, sha256_file
from ..model.spec import ModelSpec
from ..versions import openvino_version, package_version
from .ir import save_ir
from .manifest import Artifact, ir_path, read_manifest

log = logging.getLogger(__name__)

#: Calibration photos by default. NNCF's own default subset is 300; measured here
#: (scripts/measure_int8.py), 64 generated photos give the same recall, precision and AP as 300
#: in a fifth of the time.
DEFAULT_CALIBRATION_COUNT = 64
#: Seed of the generated calibration photos: a stream neither verify (seed 0) nor the measurements use.
DEFAULT_CALIBRATION_SEED = 8
PRESETS = ("performance", "mixed")
QUANTIZED_WEIGHTS = "INT8"


@dataclass(frozen=True)
class QuantizeOptions:
    """How to quantize: the calibration inputs and NNCF's settings.

    ``calibration`` is a folder of photos (default: ``count`` generated photos from ``seed``);
    ``preset`` is NNCF's (``performance``: symmetric activations; ``mixed``: asymmetric
    activations, symmetric weights); ``ignore`` are regular expressions of layer names and
    ``ignore_types`` OpenVINO operation types that stay in FP32 (NNCF's ignored scope).
    """

    calibration: str | Path | None = None
    count: int = DEFAULT_CALIBRATION_COUNT
    seed: int = DEFAULT_CALIBRATION_SEED
    preset: str = PRESETS[0]
    ignore: tuple[str, ...] = ()
    ignore_types: tuple[str, ...] = ()
    fast_bias_correction: bool = True

    def settings(self) -> dict[str, Any]:
        return {"preset": self.preset, "ignored_scope": {"patterns": list(self.ignore), "types": list(self.ignore_types)},
                "fast_bias_correction": self.fast_bias_correction, "subset_size": self.count}  # fmt: skip


@dataclass
class QuantizeResult:
    """One quantized IR: where it came from, where it went, and what went in."""

    source: Path
    output: Path
    record: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "output": str(self.output), **self.record}


class CalibrationSet:
    """The calibration inputs, raw BGR ``(1, 3, H, W)`` float32, made again on every pass (memory stays flat).

    Photos from a folder are all read once up front, so that an unreadable one stops the
    command before NNCF starts. Each pass emits one ``progress`` event per input.
    """

    def __init__(self, shape, options: QuantizeOptions, emit: Emitter | None = None) -> None:
        if options.count < 1:
            raise UsageError(f"{param('count')} {options.count}: expected at least 1 calibration photo")
        self.height, self.width = int(shape[2]), int(shape[3])
        self.options = options
        self.emit = emit
        self.paths: list[Path] = []
        self.file_sha256: list[str] = []
        if options.calibration is not None:
            from ..detection.images import IMAGE_SUFFIXES, load_bgr

            folder = Path(options.calibration)
            found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise InputError(
                    f"calibration folder {folder}: holds no image files ({', '.join(IMAGE_SUFFIXES)}); pass a folder of photos"
                )
            self.folder = folder
            self.paths = found[: options.count]
            for p in self.paths:
                load_bgr(p)  # one-line error for an unreadable photo, now
                self.file_sha256.append(sha256_file(p))
        self.tensor_sha256: list[str] = []

    def __len__(self) -> int:
        return len(self.paths) if self.paths else self.options.count

    def __iter__(self) -> Iterator[Any]:
        import numpy as np

        from ..detection.images import fit_to_network

        hashes = []
        for i, bgr in enumerate(self._pictures()):
            tensor = fit_to_network(bgr, self.height, self.width, mode="resize").tensor
            hashes.append(hashlib.sha256(np.ascontiguousarray(tensor, dtype=np.float32).tobytes()).hexdigest())
            if self.emit is not None:
                self.emit.progress(i + 1, len(self), "image", item=self.name(i))
            yield tensor
        self.tensor_sha256 = hashes

    def _pictures(self):
        if self.paths:
            from ..detection.images import load_bgr

            for p in self.paths:
                yield load_bgr(p)
            return
        import numpy as np

        from ..dataset.photos import photo_bgr

        rng = np.random.default_rng(self.options.seed)
        for _ in range(self.options.count):
            yield photo_bgr(rng)[0]

    def name(self, i: int) -> str:
        return (
            self.paths[i].relative_to(self.folder).as_posix()
            if self.paths
            else f"generated photo #{i} (seed {self.options.seed})"
        )

    def describe(self) -> dict[str, Any]:
        """What calibrated the model: source, count, and each input's name and sha256 (file and fitted tensor)."""
        if len(self.tensor_sha256) != len(self):
            list(iter(self))  # NNCF stopped early: hash what it was given
        images = []
        for i in range(len(self)):
            entry = {"name": self.name(i), "tensor_sha256": self.tensor_sha256[i]}
            if self.paths:
                entry["file_sha256"] = self.file_sha256[i]
            images.append(entry)
        source = str(Path(self.options.calibration).absolute()) if self.paths else "generated photos (sshconv photos)"
        return {"source": source, "seed": None if self.paths else self.options.seed, "count": len(self),
                "fitted": f"resize to {self.height}x{self.width} (OpenCV bilinear), raw BGR", "images": images}  # fmt: skip


def quantize_ir(
    spec: ModelSpec,
    ir: str | Path,
    output: str | Path,
    options: QuantizeOptions = QuantizeOptions(),
    *,
    calibration: CalibrationSet | None = None,
    on_event: EventHandler | None = None,
) -> QuantizeResult:
    """Quantize the FP32 IR ``ir`` to an INT8 IR at ``output`` (``.xml``; its ``.bin`` beside it).

    ``calibration`` reuses a set already made (its inputs are regenerated on each pass).
    Raises :class:`~sshconv.errors.UsageError` for a bad option or an IR that is not FP32.
    """
    from ..runtimes.openvino import check_model_file, ir_weights

    _check_options(options)
    src = check_model_file(ir)
    out = Path(output)
    if out.suffix.lower() != ".xml" or src.suffix.lower() != ".xml":
        raise UsageError(
            f"quantize: {param('ir')} and {param('output')} are IR .xml files, e.g. {param('output')} int8/ssh-mxnet.xml"
        )
    if out.absolute() == src.absolute():
        raise UsageError(f"quantize: {param('output')} would overwrite the FP32 IR it reads; pass another path")
    weights = ir_weights(src)
    if weights != "FP32":
        raise UsageError(f"{src}: its weights are {weights}; quantize an FP32 IR (`sshconv convert` makes one by default)")
    emit = Emitter("quantize", on_event)
    calib = calibration or CalibrationSet(spec.input.shape, options, emit)
    ensure_dir(out.parent, "output folder")
    emit.start(len(calib), "image", item=str(src))
    t0 = time.perf_counter()
    model = _read(spec, src)
    quantized = _nncf_quantize(model, calib, options)
    save_ir(quantized, out, "FP32")  # FakeQuantize'd weights are stored as int8 by OpenVINO's writer
    seconds = time.perf_counter() - t0
    record = {
        "from": {"path": str(src), "sha256": sha256_file(src), "bin_sha256": sha256_file(src.with_suffix(".bin"))},
        "calibration": calib.describe(), "settings": options.settings(),
        "tools": {"nncf": package_version("nncf"), "openvino": openvino_version()}, "seconds": round(seconds, 3),
    }  # fmt: skip
    emit("done", item=str(out), seconds=round(seconds, 3))
    return QuantizeResult(src, out, record)


def quantize_artifacts(
    spec: ModelSpec,
    artifacts: str | Path,
    options: QuantizeOptions = QuantizeOptions(),
    *,
    via: str | Sequence[str] = "all",
    on_event: EventHandler | None = None,
):
    """Quantize every FP32 IR of a conversion folder (of the routes ``via`` names) into ``ir/<route>/INT8/``.

    The manifest's hashes are checked first (exit 4 for a changed file). The entries of the
    INT8 IRs about to be replaced are dropped from the manifest before anything is written,
    and the new ones added when every IR is done: a manifest never lists a file that is not
    what it says. Returns the updated :class:`~sshconv.conversion.manifest.Manifest`.
    """
    from .options import ROUTES, choices

    _check_options(options)
    wanted = choices(via, ROUTES, "route", "via")
    manifest = read_manifest(artifacts)
    manifest.check()
    sources = [a for a in manifest.irs(wanted) if a.weights == "FP32"]
    if not sources:
        raise ModelFileError(
            f"{manifest.path}: lists no FP32 IR to quantize; convert into {manifest.folder} with FP32 weights (the default)"
        )
    emit = Emitter("quantize", on_event)
    calib = CalibrationSet(spec.input.shape, options, emit)  # an unreadable photo stops us before anything is written
    redo = {a.route for a in sources}
    manifest.artifacts = [a for a in manifest.artifacts if not (a.weights == QUANTIZED_WEIGHTS and a.route in redo)]
    records = {k: v for k, v in manifest.quantization.items() if k not in {_label(r) for r in redo}}
    manifest.quantization = records
    manifest.write()
    for a in sources:
        out = ir_path(manifest.folder, a.route, QUANTIZED_WEIGHTS)
        res = quantize_ir(spec, manifest.file(a), out, options, calibration=calib, on_event=on_event)
        res.record["from"]["path"] = a.path  # relative to the folder, as the artifacts are
        for path, kind in ((out, "ir-xml"), (out.with_suffix(".bin"), "ir-bin")):
            shape = a.input_shape if kind == "ir-xml" else ()
            manifest.artifacts.append(Artifact.of_file(manifest.folder, path, kind, a.route, QUANTIZED_WEIGHTS, shape))
            emit("artifact", item=manifest.artifacts[-1].path, **manifest.artifacts[-1].to_dict())
        records[_label(a.route)] = res.record
    if QUANTIZED_WEIGHTS not in manifest.weights:
        manifest.weights.append(QUANTIZED_WEIGHTS)
    manifest.write()
    return manifest


def _label(route: str) -> str:
    return f"ir/{route}/{QUANTIZED_WEIGHTS}"


def _check_options(options: QuantizeOptions) -> None:
    """Bad options, and a missing NNCF, fail before anything is read or written."""
    _import_nncf()
    if options.preset not in PRESETS:
        raise UsageError(f"{param('preset')} {options.preset!r}: expected one of {', '.join(PRESETS)}")
    if options.count < 1:
        raise UsageError(f"{param('count')} {options.count}: expected at least 1 calibration photo")
    if options.calibration is not None and not Path(options.calibration).is_dir():
        raise UsageError(f"{param('calibration')} {options.calibration}: not a folder; pass a folder of photos")


def _import_nncf():
    """NNCF (the ``int8`` extra), imported without its greeting on stdout, its logger quiet but for errors."""
    from ..extras import require

    with contextlib.redirect_stdout(io.StringIO()):
        nncf = require("nncf", "quantizing")
    logging.getLogger("nncf").setLevel(logging.ERROR)
    return nncf


def _read(spec: ModelSpec, path: Path):
    import openvino as ov

    from ..runtimes.openvino import check_model_contract, read_openvino_model

    return check_model_contract(read_openvino_model(ov.Core(), path), str(path), spec, spec.input.shape)


def _nncf_quantize(model, calibration: CalibrationSet, options: QuantizeOptions):
    """NNCF's post-training quantization, its console output kept off sshconv's stdout (the library never prints)."""
    nncf = _import_nncf()
    scope = None
    if options.ignore or options.ignore_types:
        scope = nncf.IgnoredScope(patterns=list(options.ignore), types=list(options.ignore_types))
    preset = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}[options.preset]
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            return nncf.quantize(
                model, nncf.Dataset(calibration), preset=preset, subset_size=len(calibration),
                fast_bias_correction=options.fast_bias_correction, ignored_scope=scope,
            )  # fmt: skip
    except SshconvError:
        raise  # a calibration photo that went bad between passes
    except Exception as exc:  # noqa: BLE001 - NNCF raises its own types (ValidationError, RuntimeError) across releases
        if scope is not None and "ignored" in str(exc).lower():
            raise UsageError(
                f"quantize: NNCF's ignored scope: {first_line(exc)}; check {param('ignore')}/{param('ignore_types')}"
            ) from None
        raise ModelFileError(f"NNCF cannot quantize the model ({first_line(exc)})") from None
    finally:
        log.debug("NNCF said: %s", chatter.getvalue()[-2000:])


def quantize(
    spec: ModelSpec,
    *,
    artifacts: str | Path | None = None,
    ir: str | Path | None = None,
    output: str | Path | None = None,
    options: QuantizeOptions = QuantizeOptions(),
    via: str | Sequence[str] = "all",
    on_event: EventHandler | None = None,
):
    """What ``sshconv quantize`` does: :func:`quantize_artifacts` (a conversion folder) or :func:`quantize_ir`
    (one IR to ``output``), with the combinations checked here. Returns the manifest or the :class:`QuantizeResult`."""
    if (artifacts is None) == (ir is None):
        raise UsageError(
            f"quantize: pass {param('artifacts')} (every FP32 IR of a conversion) or {param('ir')} with {param('output')}"
        )
    if ir is not None:
        if output is None:
            raise UsageError(f"quantize: {param('ir')} needs {param('output')}, where the INT8 IR goes")
        if via != "all":
            raise UsageError(f"quantize: {param('via')} picks routes of {param('artifacts')}; drop it with {param('ir')}")
        return quantize_ir(spec, ir, output, options, on_event=on_event)
    if output is not None:
        raise UsageError(
            f"quantize: {param('output')} goes with {param('ir')}; with {param('artifacts')} the INT8 IRs go to "
            "O/ir/<route>/INT8/"
        )
    return quantize_artifacts(spec, artifacts, options, via=via, on_event=on_event)
