"""Wall time and peak memory of a default `sshconv verify` of one conversion (target: < 30 s on 2 cores).

    python scripts/bench_verify.py                                  # synthesize + convert in a temp folder first
    python scripts/bench_verify.py --input-dir D --ir X.xml         # an existing checkpoint and IR
    python scripts/bench_verify.py --input-dir D --ir X.xml --self-test

The verification runs as a child process (`python -m sshconv verify ...`), so the figures
are its own: wall time from start to exit, and its peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 30.0


def _prepare(folder: Path) -> tuple[Path, Path]:
    from sshconv import convert
    from sshconv.model import load_model_spec
    from sshconv.synthetic.synth import synthesize

    ckpt = folder / "synth"
    synthesize(ckpt)
    out = folder / "converted"
    convert(load_model_spec(ckpt / "model.yml"), ckpt, out, via=("mo",), precisions=("FP32",))
    return ckpt, out / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input-dir", type=Path)
    p.add_argument("--ir", type=Path)
    p.add_argument("--self-test", action="store_true", help="time `verify --self-test` instead of the default")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.input_dir is None or args.ir is None:
            print("preparing: synthetic checkpoint and a Model Optimizer FP32 IR ...", flush=True)
            ckpt, ir = _prepare(Path(tmp))
        else:
            ckpt, ir = args.input_dir, args.ir
        cmd = [sys.executable, "-m", "sshconv", "verify", "--input-dir", str(ckpt), "--ir", str(ir)]
        if args.self_test:
            cmd.append("--self-test")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(proc.stdout.rstrip())
    if proc.returncode not in (0, 1):
        print(proc.stderr, file=sys.stderr)
    print(f"\ncommand: sshconv verify{' --self-test' if args.self_test else ''} (exit {proc.returncode})")
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    print(f"wall time: {wall:.1f} s (target < {TARGET_SECONDS:.0f} s for the default verify)")
    print(f"peak memory: {peak_mb:.0f} MB")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
