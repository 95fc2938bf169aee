"""``sshconv convert``."""

from __future__ import annotations

from pathlib import Path

from .common import (
    add_artifacts,
    add_calibration_count,
    add_faces,
    add_input_dir,
    add_ir,
    add_json,
    add_model,
    add_progress,
    command,
    faces_options,
    load_spec,
    print_json,
    run_with_progress,
)  # fmt: skip


def cmd_convert(args) -> int:
    from ..conversion.core import convert_from

    spec = load_spec(args)
    manifest = run_with_progress(
        args, convert_from, spec, args.output_dir, input_dir=args.input_dir, from_onnx=args.from_onnx,
        via=args.via, precisions=args.precision, input_shape=args.input_shape, faces=faces_options(args, spec),
    )  # fmt: skip
    if args.json:
        print_json(manifest.to_dict())
        return 0
    inp = manifest.input
    print(
        f"input {inp['name']} {inp['shape']} {inp['layout']}: raw {inp['channel_order']} 0..255 ({inp['preprocessing']}, inside the model)"
    )
    if inp.get("shapes"):
        print(f"input shapes: {inp['shapes']}")
    for a in manifest.artifacts:
        print(f"{a.route:<4} {a.weights}  {a.path}  sha256 {a.sha256[:12]}…  {a.size:,} bytes")
    for o in manifest.outputs:
        print(f"output {o['name']} {o['shape']}")
    times = ", ".join(f"{k} {v:.1f} s" for k, v in manifest.timings.items())
    print(f"manifest: {manifest.path} ({times})")
    return 0


def add_convert(sub) -> None:
    from ..conversion.options import ROUTES, WEIGHTS

    p = command(
        sub, "convert", "Convert the MXNet checkpoint to OpenVINO IR (Model Optimizer, MXNet -> ONNX, or without MXNet), raw-BGR input.",
        "sshconv convert --input-dir ./synthetic --output-dir ./converted --via all --precision all", cmd_convert,
        notes="The checkpoint is --input-dir (default: `sshconv download`'s folder, if it holds one), or an ONNX "
        "artifact with --from-onnx.",
    )  # fmt: skip
    add_model(p)
    add_input_dir(p)
    p.add_argument("--output-dir", metavar="O", type=Path, required=True, help="folder for ir/, onnx/ and manifest.json")
    p.add_argument(
        "--from-onnx", metavar="X.onnx", type=Path,
        help="convert this ONNX artifact (preprocessing inside) with the installed OpenVINO instead; no MXNet needed",
    )  # fmt: skip
    p.add_argument(
        "--via", choices=(*ROUTES, "all", "auto"), default="auto",
        help="mo: Model Optimizer; onnx: MXNet -> ONNX -> IR; native: sshconv's own builder, no MXNet; all; auto (the "
        "default): mo and onnx where MXNet imports, else native",
    )  # fmt: skip
    p.add_argument(
        "--precision",
        choices=(*WEIGHTS, "all"),
        default="all",
        help="IR weights: FP32, FP16 (compressed), or both (default all)",
    )
    p.add_argument(
        "--input-shape", metavar="1,3,H,W", help="IR input shape, H and W multiples of 32 (default: model.yml's, 1,3,640,640)"
    )
    add_faces(p, "each IR and the ONNX file")
    add_progress(p)
    add_json(p)


def cmd_quantize(args) -> int:
    from ..conversion.quantize import QuantizeOptions, QuantizeResult, quantize

    spec = load_spec(args)
    options = QuantizeOptions(
        calibration=args.calibration, count=args.calibration_count, seed=args.calibration_seed, preset=args.preset,
        ignore=tuple(args.ignore), ignore_types=tuple(args.ignore_type),
    )  # fmt: skip
    faces = faces_options(args, spec)
    if faces is not None and args.artifacts is None:
        from ..errors import UsageError

        raise UsageError("quantize: --faces goes with --artifacts (the faces artifacts are listed in its manifest)")
    if faces is not None:
        from ..conversion.faces import check_same_faces

        check_same_faces(args.artifacts, faces)  # before minutes of quantizing
    res = run_with_progress(
        args, quantize, spec, artifacts=args.artifacts, ir=args.ir, output=args.out, options=options, via=args.via
    )
    if faces is not None:
        from ..conversion.faces import add_faces

        res = add_faces(spec, args.artifacts, faces, weights=("INT8",))
    if isinstance(res, QuantizeResult):
        if args.json:
            print_json(res.to_dict())
            return 0
        calib = res.record["calibration"]
        print(f"{res.output}: INT8 IR of {res.source} ({calib['count']} calibration photos, {res.record['seconds']:.1f} s)")
        return 0
    manifest = res
    if args.json:
        print_json(manifest.to_dict())
        return 0
    for a in manifest.artifacts:
        if a.weights == "INT8" and a.kind in ("ir-xml", "ir-bin", "faces-ir-xml", "faces-ir-bin"):
            print(f"{a.route:<4} {a.weights}  {a.path}  sha256 {a.sha256[:12]}…  {a.size:,} bytes")
    for label, rec in manifest.quantization.items():
        calib = rec["calibration"]
        print(f"{label}: from {rec['from']['path']}, {calib['count']} calibration photos ({calib['source']}), "
              f"nncf {rec['tools']['nncf']}, {rec['seconds']:.1f} s")  # fmt: skip
    print(f"manifest: {manifest.path}")
    return 0


def add_quantize(sub) -> None:
    from ..conversion.options import ROUTES
    from ..conversion.quantize import DEFAULT_CALIBRATION_COUNT, DEFAULT_CALIBRATION_SEED, PRESETS

    p = command(
        sub, "quantize", "Quantize FP32 IRs to INT8 with NNCF (post-training, calibrated on photos); the int8 extra.",
        "sshconv quantize --artifacts ./converted\n"
        "sshconv quantize --ir ./converted/ir/mo/FP32/ssh-mxnet.xml --out ./int8/ssh-mxnet.xml --calibration ./my-photos",
        cmd_quantize,
        notes="With --artifacts every FP32 IR of the folder (of the routes --via names) is quantized into "
        "O/ir/<route>/INT8/ and listed in its manifest; with --ir one IR is quantized to --out.",
    )  # fmt: skip
    add_model(p)
    add_artifacts(p)
    p.add_argument(
        "--via",
        choices=(*ROUTES, "all"),
        default="all",
        help="with --artifacts: the FP32 IRs of this route, or of every route in the folder (default all)",
    )
    add_ir(p)
    p.add_argument("--out", metavar="Y.xml", type=Path, help="where the INT8 IR goes (with --ir); its .bin beside it")
    p.add_argument(
        "--calibration", metavar="DIR", type=Path,
        help="calibrate on the photos in DIR and its sub-folders (the first N by path), fitted as `detect` fits them "
        "(default: generated photos)",
    )  # fmt: skip
    add_calibration_count(p, DEFAULT_CALIBRATION_COUNT)
    p.add_argument(
        "--calibration-seed", metavar="S", type=int, default=DEFAULT_CALIBRATION_SEED,
        help=f"seed of the generated calibration photos (default {DEFAULT_CALIBRATION_SEED})",
    )  # fmt: skip
    add_faces(p, "each INT8 IR (with --artifacts)")
    p.add_argument("--preset", choices=PRESETS, default=PRESETS[0], help=f"NNCF's quantization preset (default {PRESETS[0]})")
    p.add_argument(
        "--ignore", metavar="REGEX", action="append", default=[],
        help="keep layers whose name matches in FP32 (NNCF's ignored scope); repeatable, e.g. --ignore 'rpn_cls_score.*'",
    )  # fmt: skip
    p.add_argument(
        "--ignore-type", metavar="OP", action="append", default=[],
        help="keep every operation of this OpenVINO type in FP32; repeatable, e.g. --ignore-type Multiply",
    )  # fmt: skip
    add_progress(p)
    add_json(p)
