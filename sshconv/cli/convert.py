"""``sshconv convert``."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .common import add_input_dir, add_model, add_progress, command, load_spec, print_json, run_with_progress


def cmd_convert(args) -> int:
    from ..conversion import convert, default_input_dir

    if args.from_onnx is not None:
        from ..conversion import convert_onnx

        if args.input_dir is not None or args.input_shape is not None or args.via != "all":
            raise UsageError(
                "convert: --from-onnx takes the ONNX file's own input shape and route; drop --input-dir, --input-shape, --via"
            )
        manifest = run_with_progress(
            args, convert_onnx, load_spec(args), args.from_onnx, args.output_dir, precisions=args.precision
        )
    else:
        input_dir = args.input_dir if args.input_dir is not None else default_input_dir()
        manifest = run_with_progress(
            args, convert, load_spec(args), input_dir, args.output_dir, via=args.via, precisions=args.precision,
            input_shape=args.input_shape,
        )  # fmt: skip
    if args.json:
        print_json(manifest.to_dict())
        return 0
    inp = manifest.input
    print(
        f"input {inp['name']} {inp['shape']} {inp['layout']}: raw {inp['channel_order']} 0..255 ({inp['preprocessing']}, inside the model)"
    )
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
        sub, "convert", "Convert the MXNet checkpoint to OpenVINO IR (Model Optimizer and/or MXNet -> ONNX), raw-BGR input.",
        "sshconv convert --input-dir ./synthetic --output-dir ./converted --via all --precision all", cmd_convert,
    )  # fmt: skip
    add_model(p)
    add_input_dir(p, "folder with sshb-symbol.json and sshb-0000.params (default: `sshconv download`'s folder, if it holds them)")
    p.add_argument("--output-dir", metavar="O", type=Path, required=True, help="folder for ir/, onnx/ and manifest.json")
    p.add_argument(
        "--from-onnx", metavar="X.onnx", type=Path,
        help="convert this ONNX artifact (preprocessing inside) with the installed OpenVINO instead; no MXNet needed",
    )  # fmt: skip
    p.add_argument(
        "--via", choices=(*ROUTES, "all"), default="all", help="Model Optimizer, MXNet -> ONNX -> IR, or both (default all)"
    )
    p.add_argument(
        "--precision",
        choices=(*WEIGHTS, "all"),
        default="all",
        help="IR weights: FP32, FP16 (compressed), or both (default all)",
    )
    p.add_argument(
        "--input-shape", metavar="1,3,H,W", help="IR input shape, H and W multiples of 32 (default: model.yml's, 1,3,640,640)"
    )
    add_progress(p)
    p.add_argument(
        "--json", action="store_true", help="print the manifest (artifacts, sha256s, input contract, outputs, versions, times)"
    )
