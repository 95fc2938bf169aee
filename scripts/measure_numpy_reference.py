"""What the reference without MXNet costs: the float64 NumPy interpreter of a checkpoint, per frame, on this CPU.

    python scripts/measure_numpy_reference.py --input-dir ./synthetic
    python scripts/measure_numpy_reference.py --input-dir ./synthetic --shapes 1x3x640x640 1x3x481x777 --frames 3

Reads the checkpoint with sshconv's own readers (no MXNet), runs seeded random raw-BGR frames through
``sshconv.runtimes.numpy_ref.NumpyRunner`` and prints, per input shape, the seconds per frame (median of
``--frames``), the peak memory of the process, and the CPU with its core count. Where MXNet imports, it also
prints MXNet's seconds per frame (``OMP_NUM_THREADS`` = cores, its best) and the largest difference between the two on the same frames.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input-dir", type=Path, required=True, help="the checkpoint folder (and its model.yml, if any)")
    ap.add_argument("--shapes", nargs="+", default=["1x3x640x640"], help="input shapes NxCxHxW (default 1x3x640x640)")
    ap.add_argument("--frames", type=int, default=2, help="frames timed per shape (default 2)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))  # MXNet at its best: a thread per core

    from sshconv.model.parse import load_model_spec
    from sshconv.runtimes.numpy_ref import NumpyRunner
    from sshconv.versions import cpu_name

    yml = args.input_dir / "model.yml"
    spec = load_model_spec(yml if yml.is_file() else None)
    rng = np.random.default_rng(0)
    try:
        import mxnet  # noqa: F401

        from sshconv.runtimes.mxnet import MXNetRunner
    except ImportError:
        MXNetRunner = None
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; NumPy {np.__version__}")
    for text in args.shapes:
        shape = tuple(int(v) for v in text.lower().split("x"))
        frames = [rng.uniform(0, 255, size=shape).astype(np.float32) for _ in range(args.frames)]
        with NumpyRunner(args.input_dir, spec, input_shape=shape) as runner:
            seconds, ours = [], []
            for frame in frames:
                t0 = time.perf_counter()
                ours.append(runner.infer(frame))
                seconds.append(time.perf_counter() - t0)
        line = f"{text}: NumPy float64 {statistics.median(seconds):.1f} s a frame"
        if MXNetRunner is not None:
            with MXNetRunner(args.input_dir, spec, input_shape=shape) as mx_runner:
                mx_runner.infer(frames[0])  # warm-up
                t0 = time.perf_counter()
                theirs = [mx_runner.infer(f) for f in frames]
                mx_s = (time.perf_counter() - t0) / len(frames)
            diff = max(float(np.abs(o[k] - t[k]).max()) for o, t in zip(ours, theirs) for k in o)
            line += f"; MXNet {mx_s:.2f} s a frame ({statistics.median(seconds) / mx_s:.0f}x); largest difference {diff:.2e}"
        print(line)
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
