"""The command line: a thin layer over the library.

Each command parses its flags, calls one library function and prints the result.
Every :class:`~sshconv.errors.SshconvError` becomes one line on stderr and its exit
code; a traceback is shown only with ``-v``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EXIT_CODES, EXIT_USAGE, SshconvError, UsageError

log = logging.getLogger("sshconv")

EPILOG_EXIT_CODES = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and raises instead of exiting."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`")


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def _command(sub, name: str, summary: str, example: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\nexample:\n{textwrap.indent(example.strip(), '  ')}",
        epilog=EPILOG_EXIT_CODES,
        formatter_class=_formatter,
    )
    p.set_defaults(func=func)
    _add_common(p)
    return p


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs, and tracebacks on errors")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="M", type=Path, help="model.yml to use (default: the packaged one)")


def _add_input_dir(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--input-dir", metavar="D", type=Path, required=required,
        help="folder with sshb-symbol.json and sshb-0000.params",
    )  # fmt: skip


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False, default=str))


def _load_spec(args):
    from .spec import load_model_spec

    return load_model_spec(args.model)


# --------------------------------------------------------------------------- info


def cmd_info(args) -> int:
    from .info import describe

    report = describe(_load_spec(args), args.input_dir)
    if args.json:
        _print_json(report)
        return 0
    print(f"model.yml: {report['model_yml']}  framework: {report['framework']}")
    for f in report["files"]:
        print(f"file {f['name']}: {f['size']} bytes, sha256 {f['sha256']}")
        for url in f["sources"]:
            print(f"  source: {url}")
    inp = report["input"]
    print(
        f"input {inp['name']} {inp['shape']}: raw BGR 0..255; mean {inp['mean_values']} (RGB), channels reversed: {inp['reverse_input_channels']}"
    )
    if "params" in report:
        print(f"checkpoint {report['checkpoint']}: {report['params']:,} parameters, {report['gflops']:.4f} GFLOPs")
    for o in report["outputs"]:
        print(f"output {o['name']} {o['shape']}")
    return 0


def _add_info(sub) -> None:
    p = _command(
        sub, "info", "Show what model.yml says and, with a checkpoint, the graph's outputs, parameters and GFLOPs.",
        "sshconv info --input-dir ./ssh --json", cmd_info,
    )  # fmt: skip
    _add_model(p)
    _add_input_dir(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


# --------------------------------------------------------------------------- synth


def cmd_synth(args) -> int:
    from .synth import synthesize

    res = synthesize(args.output_dir, seed=args.seed)
    summary = {
        "folder": str(res.folder), "seed": res.seed, "symbol": str(res.symbol), "params": str(res.params),
        "archive": str(res.archive), "archive_size": res.archive_size, "archive_sha256": res.archive_sha256,
        "model_yml": str(res.model_yml),
    }  # fmt: skip
    if args.json:
        _print_json(summary)
    else:
        print(f"synthetic checkpoint (seed {res.seed}) in {res.folder}:")
        for key in ("symbol", "params", "archive", "model_yml"):
            print(f"  {summary[key]}")
        print(f"  archive sha256 {res.archive_sha256}, {res.archive_size} bytes")
    return 0


def _add_synth(sub) -> None:
    from .synth import DEFAULT_SEED

    p = _command(
        sub, "synth", "Write a synthetic checkpoint of the exact SSH architecture (seeded, calibrated weights).",
        "sshconv synth --output-dir ./synthetic --seed 7", cmd_synth,
    )  # fmt: skip
    p.add_argument("--output-dir", metavar="D", type=Path, required=True, help="folder to write into")
    p.add_argument("--seed", metavar="N", type=int, default=DEFAULT_SEED, help=f"weight seed (default {DEFAULT_SEED})")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


# --------------------------------------------------------------------------- download


class _DownloadProgress:
    """Turns download events into a tqdm bar (``bar``), JSON lines (``json``) or nothing, on stderr."""

    def __init__(self, mode: str):
        self.mode, self.bar = mode, None

    def __call__(self, event: dict) -> None:
        if self.mode == "json":
            print(json.dumps(event, default=str), file=sys.stderr, flush=True)
        elif self.mode == "bar":
            self._bar(event)

    def _bar(self, event: dict) -> None:
        kind = event["event"]
        if kind == "start":
            from tqdm import tqdm

            self.close()
            self.bar = tqdm(total=event["size"], initial=event["offset"], unit="B", unit_scale=True, unit_divisor=1024, desc=event["file"], file=sys.stderr, leave=True)  # fmt: skip
        elif kind == "progress" and self.bar is not None:
            self.bar.update(event["bytes"] - self.bar.n)
        elif kind in ("retry", "error"):
            (self.bar.write if self.bar is not None else lambda m: print(m, file=sys.stderr))(
                f"{event['url']}: {event['reason']}"
            )
        elif kind == "done":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_download(args) -> int:
    from .download import download_model

    mode = args.progress or ("bar" if sys.stderr.isatty() else "none")
    progress = _DownloadProgress(mode)
    try:
        res = download_model(
            _load_spec(args), args.output_dir, cache_dir=args.cache_dir, mirrors=args.mirror or (),
            from_file=args.from_file or (), retries=args.retries, timeout=args.timeout, offline=args.offline,
            on_event=progress,
        )  # fmt: skip
    finally:
        progress.close()
    if args.json:
        _print_json(res.to_dict())
        return 0
    for f in res.files:
        how = {"existing": "already present, verified", "cache": "from the cache"}.get(f.source, f"from {f.source}")
        extra = f", {f.bytes_transferred:,} bytes transferred" if f.bytes_transferred else ""
        print(f"{f.name}: {how}{extra} (sha256 {f.sha256[:12]}…)")
    for p in res.postprocessing:
        print(f"{p.kind} {p.file}: {', '.join(p.outputs) or '-'}")
    print(f"output folder: {res.output_dir}" + (" (up to date)" if res.up_to_date else ""))
    return 0


def _add_download(sub) -> None:
    from .download import DEFAULT_RETRIES, DEFAULT_TIMEOUT

    p = _command(
        sub, "download", "Fetch the files of model.yml by checksum (sources, mirrors, cache, resume), then unpack them.",
        "sshconv download --output-dir ./ssh --mirror https://mirror.example.com/models/ssh\n"
        "sshconv download --output-dir ./ssh --from-file ~/Downloads/ssh-model-final.zip", cmd_download,
    )  # fmt: skip
    _add_model(p)
    p.add_argument("--output-dir", metavar="D", type=Path, help="folder for the files (default $SSHCONV_HOME/ssh-mxnet, else ~/.local/share/sshconv/ssh-mxnet)")  # fmt: skip
    p.add_argument("--cache-dir", metavar="C", type=Path, help="content-addressed cache (default $SSHCONV_CACHE_DIR, else ~/.cache/sshconv)")  # fmt: skip
    p.add_argument("--mirror", metavar="URL_PREFIX", action="append", help="try URL_PREFIX/NAME after model.yml's sources (repeatable; a folder works too)")  # fmt: skip
    p.add_argument("--from-file", metavar="PATH", action="append", type=Path, help="import a local copy after checking its size and sha256 (repeatable)")  # fmt: skip
    p.add_argument("--retries", metavar="N", type=int, default=DEFAULT_RETRIES, help=f"extra attempts per source on transient failures (default {DEFAULT_RETRIES})")  # fmt: skip
    p.add_argument("--timeout", metavar="S", type=float, default=DEFAULT_TIMEOUT, help=f"connect and read timeout in seconds (default {DEFAULT_TIMEOUT:g})")  # fmt: skip
    p.add_argument("--offline", action="store_true", help="never touch the network: output folder, cache and --from-file only")
    p.add_argument(
        "--progress", choices=("bar", "json", "none"), help="progress on stderr (default: bar on a terminal, else none)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary (files, paths, sha256, sources, bytes)")


# --------------------------------------------------------------------------- convert


def _convert_progress(detail: dict) -> None:
    """One line on stderr per finished step, on a terminal only."""
    if not sys.stderr.isatty():
        return
    event = detail["event"]
    if event == "artifact":
        print(f"  wrote {detail['path']} ({detail['size']:,} bytes)", file=sys.stderr, flush=True)
    elif event in ("checkpoint", "route"):
        what = detail.get("route") or f"checkpoint {detail.get('folder')}"
        print(f"{what}: {detail['seconds']:.1f} s", file=sys.stderr, flush=True)


def cmd_convert(args) -> int:
    from .convert import convert, default_input_dir

    input_dir = args.input_dir if args.input_dir is not None else default_input_dir()
    manifest = convert(
        _load_spec(args), input_dir, args.output_dir, via=args.via, precisions=args.precision,
        input_shape=args.input_shape, on_event=_convert_progress,
    )  # fmt: skip
    if args.json:
        _print_json(manifest)
        return 0
    inp = manifest["input"]
    print(
        f"input {inp['name']} {inp['shape']} {inp['layout']}: raw {inp['channel_order']} 0..255 ({inp['preprocessing']}, inside the model)"
    )
    for a in manifest["artifacts"]:
        print(f"{a['route']:<4} {a['precision']}  {a['path']}  sha256 {a['sha256'][:12]}…  {a['size']:,} bytes")
    for o in manifest["outputs"]:
        print(f"output {o['name']} {o['shape']}")
    times = ", ".join(f"{k} {v:.1f} s" for k, v in manifest["timings"].items())
    print(f"manifest: {Path(manifest['output_dir']) / 'manifest.json'} ({times})")
    return 0


def _add_convert(sub) -> None:
    p = _command(
        sub, "convert", "Convert the MXNet checkpoint to OpenVINO IR (Model Optimizer and/or MXNet -> ONNX), raw-BGR input.",
        "sshconv convert --input-dir ./synthetic --output-dir ./converted --via all --precision all", cmd_convert,
    )  # fmt: skip
    _add_model(p)
    p.add_argument(
        "--input-dir", metavar="D", type=Path,
        help="folder with sshb-symbol.json and sshb-0000.params (default: `sshconv download`'s folder, if it holds them)",
    )  # fmt: skip
    p.add_argument("--output-dir", metavar="O", type=Path, required=True, help="folder for ir/, onnx/ and manifest.json")
    p.add_argument(
        "--via", choices=("mo", "onnx", "all"), default="all", help="Model Optimizer, MXNet -> ONNX -> IR, or both (default all)"
    )
    p.add_argument(
        "--precision",
        choices=("FP32", "FP16", "all"),
        default="all",
        help="IR weights: FP32, FP16 (compressed), or both (default all)",
    )
    p.add_argument(
        "--input-shape", metavar="1,3,H,W", help="IR input shape, H and W multiples of 32 (default: model.yml's, 1,3,640,640)"
    )
    p.add_argument(
        "--json", action="store_true", help="print the manifest (artifacts, sha256s, input contract, outputs, versions, times)"
    )


# --------------------------------------------------------------------------- detect, bench, demo


class _StepBar:
    """An ``on_event(message, done, total)`` callback that drives a tqdm bar on stderr (on a TTY only)."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar = None

    def __call__(self, message: str, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=self.desc, unit="step", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False
            )
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(message[-60:], refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _with_bar(desc: str, func, *args, **kwargs):
    bar = _StepBar(desc)
    try:
        return func(*args, on_event=bar, **kwargs)
    finally:
        bar.close()


def cmd_detect(args) -> int:
    from .deploy import detect

    results = _with_bar(
        "detect", detect, args.images, args.ir, out=args.out, out_dir=args.out_dir, threshold=args.threshold, fit=args.fit,
        max_faces=args.max_faces,
    )  # fmt: skip
    if args.json:
        _print_json([r.to_dict() for r in results])
        return 0
    for r in results:
        drawn = f" -> {r.drawn} (boxes {r.boxes_json})" if r.drawn else ""
        print(f"{r.image}: {len(r.boxes)} faces ({r.width}x{r.height}){drawn}")
        for x1, y1, x2, y2, score in r.boxes:
            print(f"  {score:.3f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]")
    return 0


def _add_detect(sub) -> None:
    from .deploy import DEFAULT_FIT, FIT_MODES

    p = _command(
        sub, "detect", "Find faces on photos with the converted IR; draw them and give the boxes as JSON.",
        "sshconv detect photo.jpg --ir out/ir/mo/FP32/ssh-mxnet.xml --out photo-faces.png", cmd_detect,
    )  # fmt: skip
    p.add_argument("images", metavar="IMAGE", nargs="+", type=Path, help="photos (JPEG, PNG, BMP, ...; any size)")
    p.add_argument("--ir", metavar="X.xml", type=Path, required=True, help="the IR .xml (its .bin beside it)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--out", metavar="OUT.png", type=Path, help="write the photo with boxes here (one IMAGE only), boxes to OUT.json"
    )
    where.add_argument(
        "--out-dir", metavar="DIR", type=Path, help="write DIR/<name>.png with boxes and DIR/<name>.json for each IMAGE"
    )
    # The default is the decoder's SCORE_THRESHOLD, applied by the library (importing the decoder here would load numpy).
    p.add_argument("--threshold", metavar="T", type=float, help="face score threshold (default: the decoder's, 0.5)")
    p.add_argument(
        "--fit", choices=FIT_MODES, default=DEFAULT_FIT, help=f"how photos are fitted to the input (default {DEFAULT_FIT})"
    )
    p.add_argument("--max-faces", metavar="N", type=int, help="keep only the N best-scoring faces per photo (default: all)")
    p.add_argument("--json", action="store_true", help="print the boxes of every photo as JSON")


def cmd_bench(args) -> int:
    from .bench import run_bench

    spec = _load_spec(args)
    res = _with_bar(
        "bench",
        run_bench,
        args.input_dir,
        ir=args.ir,
        artifacts=args.artifacts,
        seconds=args.seconds,
        spec=spec,
        mxnet=not args.no_mxnet,
    )
    if args.json:
        _print_json(res.to_dict())
        return 0
    print(format_bench_table(res))
    return 0


def format_bench_table(res) -> str:
    """The benchmark as a text table (also used by the demo)."""
    peak = res.matmul_peak
    lines = [
        f"input {'x'.join(map(str, res.input_shape))}, {res.gflop_per_frame:.2f} GFLOP/frame; "
        f"FP32 matmul ceiling {peak.gflops_per_s:.1f} GFLOP/s ({peak.cores} cores, {peak.size}x{peak.size} GEMM)",
        f"{'engine':<34} {'exec':>5} {'median s':>9} {'± s':>7} {'runs':>5} {'frames/s':>9} {'GFLOP/s':>8} {'of peak':>8} {'vs MXNet':>9}",
    ]
    for c in res.cases:
        speed = f"{c.speedup_vs_mxnet:.2f}x" if c.speedup_vs_mxnet else "-"
        lines.append(
            f"{c.name:<34} {c.effective_execution:>5} {c.median_s:>9.3f} {c.spread_s:>7.3f} {len(c.times_s):>5} "
            f"{c.fps:>9.2f} {c.gflops_per_s:>8.1f} {c.gflops_per_s / peak.gflops_per_s:>7.0%} {speed:>9}"
        )
    asked_bf16 = [c for c in res.cases if c.execution == "bf16" and c.effective_execution != "bf16"]
    if asked_bf16:
        lines.append("note: this CPU has no BF16 support; the CPU plugin ran the bf16 requests in f32")
    return "\n".join(lines)


def _add_bench(sub) -> None:
    from .bench import BENCH_SECONDS

    p = _command(
        sub, "bench", "Time MXNet and the IR (FP32 and BF16 execution, FP16 IR) against this machine's FP32 ceiling.",
        "sshconv bench --input-dir ./synthetic --artifacts ./converted --seconds 10", cmd_bench,
    )  # fmt: skip
    _add_model(p)
    p.add_argument(
        "--input-dir", metavar="D", type=Path,
        help="the MXNet checkpoint folder, to time MXNet too and give speed-ups (default: with --artifacts, the one its manifest names)",
    )  # fmt: skip
    p.add_argument("--no-mxnet", action="store_true", help="time the IR(s) only")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--ir", metavar="X.xml", type=Path, help="time this IR")
    which.add_argument("--artifacts", metavar="O", type=Path, help="time every IR in this `sshconv convert` output folder")
    p.add_argument(
        "--seconds",
        metavar="S",
        type=float,
        default=BENCH_SECONDS,
        help=f"timed seconds per engine after warm-up (default {BENCH_SECONDS:g})",
    )
    p.add_argument("--json", action="store_true", help="print every timing as JSON")


def cmd_demo(args) -> int:
    from .demo import run_demo
    from .errors import EXIT_MISMATCH

    res = _with_bar(
        "demo", run_demo, args.workdir, samples=args.samples, bench_seconds=args.bench_seconds, self_test=args.self_test,
    )  # fmt: skip
    if args.json:
        _print_json(res.to_dict())
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
    print(f"JSON report: {res.verify_json}")
    print(f"HTML report: {res.report}")
    return 0 if res.passed else EXIT_MISMATCH


def _add_demo(sub) -> None:
    from .demo import DEFAULT_WORKDIR, DEMO_BENCH_SECONDS, DEMO_SAMPLES

    p = _command(
        sub, "demo", "The whole pipeline offline: synth, download --from-file, convert (both routes), verify + HTML report, bench.",
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
    p.add_argument("--self-test", action="store_true", help="also run the verifier's negative controls (slower)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


# --------------------------------------------------------------------------- verify


def cmd_verify(args) -> int:
    from .verify import parse_overrides, verify

    spec = _load_spec(args)
    result = verify(
        spec, input_dir=args.input_dir, ir=args.ir, onnx=args.onnx, artifacts=args.artifacts,
        samples=args.samples, seed=args.seed, images=args.images,
        overrides=parse_overrides(args.atol, args.rtol), golden=args.golden, save_golden_to=args.save_golden,
        self_test=args.self_test, bf16=args.bf16, json_report=args.json,
    )  # fmt: skip
    html = None
    if args.html is not None:
        from .report import write_report

        html = write_report(result, args.html)
    _print_verify(result)
    if html is not None:
        print(f"HTML report: {html}")
    return result.exit_code


def _print_verify(result) -> None:
    print(f"reference: {result.reference}; {len(result.samples)} input(s): " + ", ".join(s.label for s in result.samples))
    if result.golden_written:
        print(f"golden file written: {result.golden_written}")
    for check in result.checks + result.pairs:
        _print_check(check)
    if result.controls:
        print("\nself-test (negative controls: each must FAIL):")
        for c in result.controls:
            word = "caught (FAIL as expected)" if c.caught else "NOT CAUGHT (passed: the verifier is blind to it)"
            print(f"  {c.of:<14} {c.name:<14} margin {c.check.margin:10.3g}  {word}  ({c.description})")
    verdict = "PASS" if result.passed else "FAIL"
    print(f"\nverdict: {verdict}")


def _print_check(check) -> None:
    used = f", ran {check.precision_used}" if check.precision_used else ""
    print(f"\n{check.label}: {check.model} vs {check.reference} ({check.precision} tolerances{used})")
    if check.note:
        print(f"  note: {check.note}")
    print(f"  {'output':<30} {'max abs':>10} {'max rel':>10} {'atol':>9} {'rtol':>9} {'margin':>9}  result")
    for o in check.outputs:
        res = "PASS" if o.passed else "FAIL" + (f" ({o.problem})" if o.problem else f" ({o.violations} of {o.elements})")
        print(f"  {o.name:<30} {o.max_abs:10.3g} {o.max_rel:10.3g} {o.tolerance.atol:9.2g} {o.tolerance.rtol:9.2g} "
              f"{o.margin:9.3g}  {res}")  # fmt: skip
    dets = check.detections
    counts = ", ".join(f"{d.parity.matched}/{max(d.parity.reference, d.parity.candidate)}" for d in dets)
    print(f"  detections: matched {check.matched_fraction:.1%} (per input {counts}), "
          f"largest box drift {check.max_box_drift:.2f} px")  # fmt: skip
    if check.divergence is not None:
        d = check.divergence
        where = (
            f"first diverging tensor: {d.tensor} (max|d|/max|ref| {d.error:.3g} > {d.threshold:g})"
            if d.tensor
            else "no intermediate tensor diverges"
        )
        print(f"  {where}; {d.note}")
    print(f"  {check.label}: {'PASS' if check.passed else 'FAIL'} (margin {check.margin:.3g})")


def _add_verify(sub) -> None:
    from .spec import VERIFY_SAMPLES as DEFAULT_SAMPLES
    from .spec import VERIFY_SEED as DEFAULT_SEED

    p = _command(
        sub, "verify", "Run the MXNet checkpoint and the converted model side by side; exit 1 if they differ.",
        "sshconv verify --input-dir ./ssh --ir out/ir/mo/FP32/ssh-mxnet.xml --self-test --json report.json", cmd_verify,
    )  # fmt: skip
    _add_model(p)
    _add_input_dir(p)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--ir", metavar="X.xml", type=Path, help="an OpenVINO IR to check")
    target.add_argument("--onnx", metavar="X.onnx", type=Path, help="an ONNX file to check (run by OpenVINO)")
    target.add_argument(
        "--artifacts", metavar="O", type=Path, help="every model in a `sshconv convert` output folder, and IR vs IR"
    )
    p.add_argument(
        "--samples",
        metavar="N",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"seeded random images (default {DEFAULT_SAMPLES}); flat, gradient and 0/255 patterns are always added",
    )
    p.add_argument(
        "--seed", metavar="S", type=int, default=DEFAULT_SEED, help=f"seed of the random images (default {DEFAULT_SEED})"
    )
    p.add_argument("--images", metavar="DIR", type=Path, help="also check these photos (resized to the network input)")
    p.add_argument(
        "--atol",
        metavar="NAME=V",
        action="append",
        default=[],
        help="absolute tolerance for an output or family (cls_prob, bbox_pred); repeatable",
    )
    p.add_argument(
        "--rtol", metavar="NAME=V", action="append", default=[], help="relative tolerance for an output or family; repeatable"
    )
    p.add_argument("--bf16", action="store_true", help="also run each FP32 model with bf16 execution, with the BF16 tolerances")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="also run negative controls (no mean, no channel reversal, 1%% scaled weights); each must fail",
    )
    golden = p.add_mutually_exclusive_group()
    golden.add_argument("--save-golden", metavar="F", type=Path, help="save the inputs and MXNet outputs (npz, with hashes)")
    golden.add_argument("--golden", metavar="F", type=Path, help="verify against a golden file instead of MXNet")
    p.add_argument("--json", metavar="REPORT", type=Path, help="write every statistic, versions, hashes and seed to REPORT")
    p.add_argument(
        "--html",
        metavar="REPORT.html",
        type=Path,
        help="write a self-contained HTML report: verdict, tables, error histograms, detections",
    )


# --------------------------------------------------------------------------- registry

#: One function per command adds its sub-parser; the order here is the order in --help.
COMMANDS = [_add_info, _add_synth, _add_download, _add_convert, _add_detect, _add_bench, _add_demo, _add_verify]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sshconv",
        description="Acquire, convert and verify the SSH face detector (ssh-mxnet) as OpenVINO IR.",
        epilog="example:\n  sshconv demo --workdir ./sshconv-demo\n\n" + EPILOG_EXIT_CODES,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"sshconv {__version__}")
    _add_common(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that every cleanup path runs."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sshconv")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.propagate = False  # frameworks add handlers to the root logger: say things once


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    _setup_logging(verbose)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _is_main_thread() else None
    try:
        args = build_parser().parse_args(argv)
        if not hasattr(args, "func"):
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except SshconvError as exc:
        if verbose:
            log.exception("error")
        print(f"sshconv: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except _Terminated:
        print("sshconv: terminated (SIGTERM); nothing half-written was left, run the command again to finish", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("sshconv: interrupted; nothing half-written was left, run the command again to finish", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in sshconv, not a user error
        if verbose:
            raise
        print(
            f"sshconv: internal error: {_one_line(f'{exc.__class__.__name__}: {exc}')} (run with -v for the traceback and report it)",
            file=sys.stderr,
        )
        return 70
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
