"""Measure what bf16 execution does to the SSH outputs, on a CPU without bf16, by emulation.

    python scripts/measure_bf16.py --golden golden.npz --ir converted/ir/mo/FP32/ssh-mxnet.xml
    python scripts/measure_bf16.py                    # synthesize, convert and save a golden file first (conversion stack)

The CPU plugin's bf16 mode rounds weights and activations to bfloat16 (8-bit mantissa)
between layers and accumulates in f32. This script emulates that on any CPU: a copy of the
IR with every weight constant rounded to bfloat16 and a Convert f32 -> bf16 -> f32 after
every operation, run with f32 execution. It prints, per output family, the largest
absolute error against the golden file's MXNet outputs (the figures BF16 tolerances are
derived from), the margin of the real check under model.yml's BF16 tolerances, and the
margins of the negative controls (each built on the FP32 IR, then emulated) under them.
On a CPU that runs bf16 itself (AVX512-BF16, AMX), the same figures for real bf16 execution follow.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def _prepare(folder: Path) -> tuple[Path, Path]:
    ckpt, out, golden = folder / "synth", folder / "converted", folder / "golden.npz"
    subprocess.run([sys.executable, "-m", "sshconv", "synth", "--output-dir", ckpt], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "sshconv", "convert", "--input-dir", ckpt, "--output-dir", out, "--via", "mo",
                    "--precision", "FP32"], check=True, capture_output=True)  # fmt: skip
    ir = out / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    subprocess.run([sys.executable, "-m", "sshconv", "verify", "--input-dir", ckpt, "--ir", ir, "--samples", "3",
                    "--save-golden", golden], check=True, capture_output=True)  # fmt: skip
    return golden, ir


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--golden", type=Path)
    p.add_argument("--ir", type=Path, help="the FP32 IR the golden file was made for")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        golden, ir = (args.golden, args.ir) if args.golden and args.ir else _prepare(Path(tmp))
        return _measure(golden, ir)


def _measure(golden: Path, ir: Path) -> int:
    import openvino as ov

    from sshconv.model import load_model_spec
    from sshconv.runtimes import OpenVINORunner
    from sshconv.verification.bf16 import emulate_bf16
    from sshconv.verification.compare import compare_outputs
    from sshconv.verification.controls import control_models
    from sshconv.verification.golden import load_golden
    from sshconv.verification.tolerances import resolve_tolerances
    from sshconv.versions import cpu_name

    spec = load_model_spec()
    samples, refs, _ = load_golden(golden)
    model = ov.Core().read_model(str(ir))
    bf16 = resolve_tolerances(spec, "BF16")

    modes = ["emulated"]
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        modes.append("real")  # this CPU runs bf16 itself: measure that too

    def run(m, mode):
        model_, execution = (emulate_bf16(m), "f32") if mode == "emulated" else (m, "bf16")
        with OpenVINORunner(model_, spec, execution, spec.input.shape) as runner:
            return [runner.infer(s.tensor) for s in samples], runner.execution_used

    print(f"{len(samples)} inputs ({', '.join(s.label for s in samples)}); IR {ir}; CPU {cpu_name()}")
    tol = {o.family: (bf16[o.name].atol, bf16[o.name].rtol) for o in spec.outputs}
    print(f"model.yml BF16 tolerances (atol, rtol): {tol}")
    for mode in modes:
        outs, used = run(model, mode)
        worst = {
            family: max(float(np.abs(o[n] - r[n]).max()) for o, r in zip(outs, refs) for n in spec.output_names if family in n)
            for family in ("cls_prob", "bbox_pred")
        }
        margin = max(s.margin for s in compare_outputs(refs, outs, bf16))
        print(f"\n{mode} bf16 ({used} execution): max abs error vs MXNet: cls_prob {worst['cls_prob']:.4g}, "
              f"bbox_pred {worst['bbox_pred']:.4g}; margin under the BF16 tolerances {margin:.3g} (<= 1 passes)")  # fmt: skip
        for name, desc, control in control_models(model, spec.input):
            m = max(s.margin for s in compare_outputs(refs, run(control, mode)[0], bf16))
            print(f"  control {name:<14} margin {m:10.3g}  {'caught' if m > 1 else 'NOT caught'}  ({desc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
