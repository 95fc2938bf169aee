"""``sshconv detect``, ``sshconv bench`` and ``sshconv demo``."""

from __future__ import annotations

from pathlib import Path

from .common import (
    add_artifacts,
    add_calibration_count,
    add_fail_fast,
    add_input_dir,
    add_ir,
    add_json,
    add_model,
    add_onnx,
    add_photos,
    add_progress,
    add_runtime,
    add_shapes,
    command,
    json_targets,
    load_spec,
    print_json,
    run_with_progress,
)  # fmt: skip


def cmd_detect(args) -> int:
    from ..deploy.detect import detect

    results = run_with_progress(
        args, detect, args.images, args.ir, out=args.out, out_dir=args.out_dir, threshold=args.threshold, fit=args.fit,
        max_faces=args.max_faces, spec=load_spec(args),
    )  # fmt: skip
    if args.json:
        print_json([r.to_dict() for r in results])
        return 0
    for r in results:
        drawn = f" -> {r.drawn} (boxes {r.boxes_json})" if r.drawn else ""
        print(f"{r.image}: {len(r.boxes)} faces ({r.width}x{r.height}){drawn}")
        for x1, y1, x2, y2, score in r.boxes:
            print(f"  {score:.3f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]")
    return 0


def add_detect(sub) -> None:
    from ..detection.fitting import DEFAULT_FIT, FITS, NATIVE_MAX_PIXELS, UPSTREAM_LONG, UPSTREAM_SHORT

    p = command(
        sub, "detect", "Find faces on photos with the converted IR; draw them and give the boxes as JSON.",
        "sshconv detect photo.jpg --ir out/ir/mo/FP32/ssh-mxnet.xml --out photo-faces.png\n"
        "sshconv detect frame-1080p.jpg --ir out/ir/mo/FP32/ssh-mxnet.xml --fit native --out-dir faces", cmd_detect,
    )  # fmt: skip
    p.add_argument("images", metavar="IMAGE", nargs="+", type=Path, help="photos (JPEG, PNG, BMP, ...; any size)")
    add_ir(p)
    p.add_argument(
        "--out", metavar="OUT.png", type=Path, help="write the photo with boxes here (one IMAGE only), boxes to OUT.json"
    )
    p.add_argument(
        "--out-dir", metavar="DIR", type=Path, help="write DIR/<name>.png with boxes and DIR/<name>.json for each IMAGE"
    )
    # The default is the decoder's SCORE_THRESHOLD, applied by the library (importing the decoder here would load numpy).
    p.add_argument("--threshold", metavar="T", type=float, help="face score threshold (default: the decoder's, 0.5)")
    p.add_argument(
        "--fit", metavar="|".join(FITS) + "|HxW", default=None,
        help=f"how photos are fitted to the input (default {DEFAULT_FIT}): resize stretches to model.yml's size, letterbox "
        f"keeps the aspect ratio and pads; upstream scales the shorter side to {UPSTREAM_SHORT} (the longer at most "
        f"{UPSTREAM_LONG}) as mxnet-SSH's test_ssh.py does; native runs the photo as it is (scaled down past "
        f"{NATIVE_MAX_PIXELS:,} pixels, one 1920x1080 frame); HxW stretches to that size",
    )  # fmt: skip
    p.add_argument("--max-faces", metavar="N", type=int, help="keep only the N best-scoring faces per photo (default: all)")
    add_model(p)
    add_progress(p)
    add_json(p)


def cmd_bench(args) -> int:
    from ..deploy.bench import run_bench
    from ..model.shapes import parse_shapes

    spec = load_spec(args)
    printed, json_file = json_targets(args)
    res = run_with_progress(
        args, run_bench, args.input_dir, ir=args.ir, artifacts=args.artifacts, seconds=args.seconds, spec=spec,
        mxnet=not args.no_mxnet, onnx=args.onnx, runtime=args.runtime, mode=args.mode, json_report=json_file,
        shapes=None if args.shapes is None else parse_shapes(args.shapes), faces=args.faces,
    )  # fmt: skip
    if printed:
        print_json(res.to_dict())
        return 0
    print(format_bench_table(res))
    from ..deploy.bench import faces_overhead

    for row in faces_overhead(res):
        print(f"frame to faces @ {row['shape']}: {row['faces']} {row['faces_s']:.3f} s ({row['faces_overhead']:+.1%} over the "
              f"network alone, {row['network_s']:.3f} s); raw + Python decoder {row['decoder_s']:.3f} s "
              f"({row['decoder_overhead']:+.1%})")  # fmt: skip
    if json_file is not None:
        print(f"JSON report: {json_file}")
    return 0


def format_bench_table(res) -> str:
    """The benchmark as a text table (also used by the demo): each engine against its own precision's ceiling."""
    throughput = res.mode == "throughput"
    several = len(res.shapes) > 1
    ceilings = ", ".join(
        f"{k} {c.gflops_per_s:.0f}" + (f" (ran {c.execution_used})" if c.execution_used != k else "") for k, c in res.ceilings.items()
    )
    lines = [
        f"CPU {res.cpu}; {res.mode} mode" + ("; streams x requests per engine" if throughput else ""),
        f"ceilings (OpenVINO's best matrix multiply: MatMul, or a 3x3 convolution's implicit GEMM; GFLOP/s): {ceilings}",
        "GFLOP per frame: " + ", ".join(f"{k} {v:.2f}" for k, v in res.gflop_per_frame.items()),
        f"{'engine':<34} {'shape':>13} {'exec':>5} {'median s':>9} {'± s':>7} {'runs':>5} {'frames/s':>9} "
        f"{'GFLOP/s':>8} {'of ceiling':>12} {'peak MB':>8} {'vs MXNet':>9}" + (f" {'str x req':>9}" if throughput else ""),
    ]  # fmt: skip
    for c in res.cases:
        speed = f"{c.speedup_vs_mxnet:.2f}x" if c.speedup_vs_mxnet else "-"
        shape = f"{c.input_shape[0]}x{c.input_shape[2]}x{c.input_shape[3]}"
        lines.append(
            f"{c.name:<34} {shape:>13} {c.effective_execution:>5} {c.median_s:>9.3f} {c.spread_s:>7.3f} {len(c.times_s):>5} "
            f"{c.fps:>9.2f} {c.gflops_per_s:>8.1f} {f'{c.of_ceiling:.0%} {c.ceiling}':>12} {c.peak_rss_mb:>8.0f} {speed:>9}"
            + (f" {f'{c.streams} x {c.requests}':>9}" if throughput else "")
        )  # fmt: skip
    if several:
        lines.append("frames/s counts images (a batch of 2 is two frames); vs MXNet compares engines at the same shape")
    asked_bf16 = [c for c in res.cases if c.execution == "bf16" and c.effective_execution != "bf16"]
    if asked_bf16:
        lines.append("note: this CPU has no BF16 support; the CPU plugin ran the bf16 requests in f32")
    return "\n".join(lines)


def add_bench(sub) -> None:
    from ..deploy.bench import BENCH_SECONDS, MODES

    p = command(
        sub, "bench", "Time MXNet and the IRs (FP32 and BF16 execution, FP16 and INT8 IRs), each against this machine's "
        "measured ceiling at its own precision.",
        "sshconv bench --input-dir ./synthetic --artifacts ./converted --seconds 10\n"
        "sshconv bench --artifacts ./converted --no-mxnet --shapes 1x720x1280,2x640x640\n"
        "sshconv bench --artifacts ./converted --mode throughput --json-file bench.json", cmd_bench,
        notes="What is timed is one of --ir, --onnx or --artifacts (its IRs, and its ONNX file with --runtime onnxruntime). "
        "MXNet is timed too, for speed-ups, from --input-dir or, with --artifacts, from the checkpoint its manifest names.",
    )  # fmt: skip
    add_model(p)
    add_input_dir(p)
    p.add_argument("--no-mxnet", action="store_true", help="time the IR(s) only")
    p.add_argument(
        "--mode", choices=MODES, default=MODES[0],
        help="latency: one frame at a time (default); throughput: OpenVINO's throughput hint, its streams and async requests",
    )  # fmt: skip
    add_ir(p)
    add_artifacts(p)
    add_onnx(p)
    add_runtime(p)
    add_shapes(p)
    p.add_argument(
        "--faces", action="store_true",
        help="with --artifacts: also time frame to faces, each faces artifact against its raw model + sshconv's decoder",
    )  # fmt: skip
    p.add_argument(
        "--seconds",
        metavar="S",
        type=float,
        default=BENCH_SECONDS,
        help=f"timed seconds per engine after warm-up (default {BENCH_SECONDS:g})",
    )
    add_progress(p)
    add_json(p, file=True)


def cmd_demo(args) -> int:
    from ..demo import run_demo
    from ..errors import EXIT_MISMATCH

    res = run_with_progress(
        args, run_demo, args.workdir, samples=args.samples, bench_seconds=args.bench_seconds, self_test=args.self_test,
        eval_photos=args.eval_photos, fail_fast=args.fail_fast, photos=args.photos,
        calibration_count=args.calibration_count,
    )  # fmt: skip
    if args.json:
        print_json(res.to_dict())
        return 0 if res.passed else EXIT_MISMATCH
    print(f"{'step':<9} {'status':<8} {'seconds':>8}  detail")
    for s in res.steps:
        print(f"{s.name:<9} {s.status:<8} {s.seconds:>8.1f}  {s.detail}")
    print(f"\ncheckpoint: {res.checkpoint_dir}")
    print("artifacts:")
    for p in res.artifacts:
        print(f"  {p}")
    if res.bench is not None:
        print(f"\nbenchmark ({res.bench_json}):")
        print(format_bench_table(res.bench))
    print(f"\nverification: {'PASS' if res.passed else 'FAIL'}: {res.verdict}")
    for line in res.quantized:
        print(f"  INT8 detection parity: {line}")
    print(f"JSON report: {res.verify_json}")
    print(f"HTML report: {res.report}")
    if res.evaluation is not None:
        from .evaluate import print_eval

        print(f"\nevaluation ({res.eval_json}, {res.eval_html}):")
        print_eval(res.evaluation)
    if res.bundle is not None:
        print(f"\nbundle: {res.bundle.folder} ({res.bundle.files} files; Model Server repository: "
              f"{', '.join(res.bundle.served)}; {'signed' if res.bundle.signed else 'unsigned'})")  # fmt: skip
        key = f" --public-key {res.public_key}" if res.public_key else ""
        print(f"check it as its receiver would: sshconv verify --bundle {res.bundle.folder}{key}")
    return 0 if res.passed else EXIT_MISMATCH


def add_demo(sub) -> None:
    from ..demo import DEFAULT_WORKDIR, DEMO_BENCH_SECONDS, DEMO_CALIBRATION_COUNT, DEMO_EVAL_PHOTOS, DEMO_SAMPLES
    from ..model.spec import VERIFY_PHOTOS, VERIFY_PHOTOS_QUANTIZED

    p = command(
        sub, "demo", "The whole pipeline offline: synth, download --from-file, convert (both routes), quantize (INT8), "
        "verify + HTML report, bench, eval.",
        "sshconv demo --workdir ./sshconv-demo", cmd_demo,
    )  # fmt: skip
    p.add_argument(
        "--workdir",
        metavar="W",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"folder for everything the demo makes; re-running reuses it (default ./{DEFAULT_WORKDIR})",
    )
    p.add_argument(
        "--samples",
        metavar="N",
        type=int,
        default=DEMO_SAMPLES,
        help=f"seeded random images to verify on, besides 3 patterns (default {DEMO_SAMPLES})",
    )
    p.add_argument(
        "--bench-seconds",
        metavar="S",
        type=float,
        default=DEMO_BENCH_SECONDS,
        help=f"timed seconds per engine in the benchmark; 0 skips it (default {DEMO_BENCH_SECONDS:g})",
    )
    p.add_argument(
        "--eval-photos", metavar="N", type=int, default=DEMO_EVAL_PHOTOS,
        help=f"generated photos the evaluation runs on; 0 skips it (default {DEMO_EVAL_PHOTOS})",
    )  # fmt: skip
    add_photos(p, f"default {VERIFY_PHOTOS}; {VERIFY_PHOTOS_QUANTIZED} when an INT8 IR is checked")
    add_calibration_count(p, DEMO_CALIBRATION_COUNT)
    p.add_argument("--self-test", action="store_true", help="also run the verifier's negative controls (slower)")
    add_fail_fast(p)
    add_progress(p)
    add_json(p)
