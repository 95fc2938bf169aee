"""How long `sshconv --help` and `import sshconv` with its stage API take, and that nothing heavy loads.

    python scripts/bench_startup.py [--repeat 10]

Prints the median wall time of each (target: `sshconv --help` under 0.3 s) and the heavy
modules (MXNet, OpenVINO, ONNX, NumPy, matplotlib) that either pulled in (target: no
framework; NumPy is allowed for the stage API, whose verifier works on arrays).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_SECONDS = 0.3
HEAVY = ("mxnet", "openvino", "onnx", "numpy", "matplotlib")
PROBE = "import sys; {code}; print('HEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules))"


def _time(code: str, repeat: int) -> tuple[float, str]:
    times, heavy = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)], capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        heavy = next((ln[6:] for ln in out.stdout.splitlines() if ln.startswith("HEAVY:")), "?")
    return statistics.median(times), heavy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=10)
    args = p.parse_args()
    help_code = "from sshconv.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    help_code = "exec(" + repr(help_code) + ")"
    api_code = "from sshconv import load_model_spec, download_model, convert, verify, detect"
    bare, _ = _time("pass", args.repeat)
    for label, code in (("sshconv --help", help_code), ("from sshconv import <stage API>", api_code)):
        t, heavy = _time(code, args.repeat)
        print(f"{label:<34} median {t:.3f} s (Python alone {bare:.3f} s); heavy modules loaded: {heavy or 'none'}")
    t, _ = _time(help_code, args.repeat)
    print(f"target: sshconv --help under {TARGET_SECONDS} s: {'met' if t < TARGET_SECONDS else 'NOT met'} ({t:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
