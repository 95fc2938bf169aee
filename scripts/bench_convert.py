"""Time the three conversion routes of `sshconv convert` on the full-size model, in one run (conversion stack).

Each route runs in a child process of its own (`convert(via=(route,))`, FP32 and FP16),
so that its peak memory (the child's peak RSS) is its own. Prints the wall times, the
ratio of the ONNX route's to the Model Optimizer route's (target: <= 1.5x), the native
route's (no MXNet: the symbol built with OpenVINO's own operations) beside them, and the peaks.

    python scripts/bench_convert.py                      # on a fresh synthetic checkpoint
    python scripts/bench_convert.py --input-dir ./ssh    # on a checkpoint folder
    python scripts/bench_convert.py --stock-export       # also time mxnet's exporter unmodified

Timings are noisy on a shared machine; `--repeat N` runs each route N times (alternating)
and reports the median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: The issue's target: the ONNX route's wall time at most this multiple of the MO route's.
TARGET_RATIO = 1.5

_CHILD = r"""
import json, resource, sys, tempfile, time
route, input_dir = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if route == "stock-export":
    import numpy as np, mxnet as mx
    from sshconv.model.checkpoint import load_checkpoint
    from sshconv.conversion.mxnet_onnx import register_mxnet_onnx_converters
    ckpt = load_checkpoint(input_dir)
    register_mxnet_onnx_converters()
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        mx.onnx.export_model(ckpt.symbol, {**ckpt.arg_params, **ckpt.aux_params}, [(1, 3, 640, 640)], np.float32, out + "/m.onnx")
    timings = {"export_model": time.perf_counter() - t1}
else:
    from sshconv import convert
    from sshconv.model import load_model_spec
    spec = load_model_spec()
    with tempfile.TemporaryDirectory() as out:
        timings = convert(spec, input_dir, out, via=(route,), precisions=("FP32", "FP16")).timings
wall = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps({"route": route, "wall_s": wall, "peak_mb": peak_mb, "timings": timings}))
"""


def run_child(route: str, input_dir: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, route, str(input_dir)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{route} route failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input-dir", type=Path, help="checkpoint folder (default: synthesize one in a temporary folder)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per route; the median is reported (default 1)")
    ap.add_argument(
        "--stock-export", action="store_true", help="also time mxnet's exporter without sshconv's raw-weight converter"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        input_dir = args.input_dir
        if input_dir is None:
            from sshconv.synthetic.synth import synthesize

            input_dir = Path(tmp) / "synth"
            print(f"synthesizing a full-size checkpoint in {input_dir} ...", flush=True)
            synthesize(input_dir)
        runs: dict[str, list[dict]] = {"mo": [], "onnx": [], "native": []}
        for _ in range(args.repeat):
            for route in runs:
                res = run_child(route, input_dir)
                runs[route].append(res)
                steps = ", ".join(f"{k} {v:.2f}" for k, v in res["timings"].items())
                print(f"  {route:<6} convert() {res['wall_s']:.2f} s, peak RSS {res['peak_mb']:.0f} MB  ({steps})", flush=True)
        stock = run_child("stock-export", input_dir) if args.stock_export else None

    from sshconv.versions import available_cores, cpu_name

    print(f"on {cpu_name()}, {available_cores()} cores")
    med = {r: statistics.median(x["wall_s"] for x in runs[r]) for r in runs}
    peak = {r: max(x["peak_mb"] for x in runs[r]) for r in runs}
    ratio = med["onnx"] / med["mo"]
    print(f"MO route   (checkpoint -> Model Optimizer -> IR FP32+FP16): {med['mo']:.2f} s, peak RSS {peak['mo']:.0f} MB")
    print(f"ONNX route (checkpoint -> ONNX -> IR FP32+FP16):            {med['onnx']:.2f} s, peak RSS {peak['onnx']:.0f} MB")
    print(f"native route (checkpoint read by NumPy -> OpenVINO ops -> IR FP32+FP16, no MXNet): {med['native']:.2f} s, "
          f"peak RSS {peak['native']:.0f} MB ({med['native'] / med['mo']:.2f}x the MO route)")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"ratio ONNX/MO: {ratio:.2f} ({verdict} the target <= {TARGET_RATIO})")
    if stock is not None:
        print(
            f"reference: mxnet's exporter unmodified, export_model alone {stock['timings']['export_model']:.2f} s, peak RSS {stock['peak_mb']:.0f} MB"
        )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
