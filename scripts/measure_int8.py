"""INT8 by NNCF: how well it keeps the faces, how fast it runs, against the FP32 IR and MXNet at its best.

    python scripts/measure_int8.py --artifacts converted              # a `sshconv convert` folder (mo FP32 IR)
    python scripts/measure_int8.py                                    # synthesize and convert first (conversion stack)
    python scripts/measure_int8.py --artifacts converted --counts 16,64,300 --variants --seconds 10

Prints, for each calibration size (and with ``--variants``: preset ``mixed``, the heads kept
in FP32): the quantization's wall time; recall and precision of the INT8 IR's faces against
the FP32 IR's on 40 generated photos (verify's check; threshold 0.95 each); AP@0.5 on the
measurement set of ``scripts/measure_detector.py`` (200 unseen photos) next to the FP32 IR's.
Then a wrong conversion (channels not reversed) quantized the same way, which must fail.
Then speed, latency and throughput modes (``sshconv bench``): MXNet (OpenMP threads = cores),
the FP32 IR and the INT8 IR, and the two ratios the goals name (INT8 >= 1.8x the FP32 IR's
frames/s and >= 1.8x MXNet's), with the CPU's flags.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.8
PHOTOS = 40


def _convert(folder: Path) -> Path:
    ckpt, out = folder / "synth", folder / "converted"
    subprocess.run([sys.executable, "-m", "sshconv", "synth", "--output-dir", ckpt], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "sshconv", "convert", "--input-dir", ckpt, "--output-dir", out, "--via", "mo",
                    "--precision", "FP32"], check=True, capture_output=True)  # fmt: skip
    return out


def _ap(ir: Path) -> float:
    script = Path(__file__).with_name("measure_detector.py")
    out = subprocess.run([sys.executable, script, "--ir", ir, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["ap_at_0.5_faces_24px_up"]


def _parity(spec, fp32: Path, int8: Path) -> dict:
    from sshconv.verification import VerifyOptions, verify

    res = verify(spec, against=fp32, ir=int8, options=VerifyOptions(samples=0, photos=PHOTOS))
    c = res.checks[0]
    faces = sum(d.parity.reference_clear for d in c.detections)
    return {"recall": round(c.recall, 3), "precision": round(c.precision, 3), "faces": faces, "passed": c.passed,
            "max_score_drift": round(c.max_score_drift, 3)}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifacts", type=Path, help="a `sshconv convert` folder with ir/mo/FP32 (default: synthesize and convert)")
    p.add_argument("--input-dir", type=Path, help="the checkpoint, to time MXNet (default: the one the manifest names)")
    p.add_argument("--counts", default="16,64", help="calibration sizes to try, comma-separated (default 16,64)")
    p.add_argument(
        "--variants", action="store_true", help="also preset mixed and the heads (rpn_*) kept in FP32, at the default size"
    )
    p.add_argument("--no-ap", action="store_true", help="skip the AP measurement (200 photos per model)")
    p.add_argument("--seconds", type=float, default=8.0, help="timed seconds per engine and mode (default 8)")
    args = p.parse_args()

    import openvino as ov

    from sshconv.conversion.quantize import DEFAULT_CALIBRATION_COUNT, QuantizeOptions, quantize_ir
    from sshconv.deploy.bench import run_bench
    from sshconv.engines import checkpoint_of
    from sshconv.model.parse import load_model_spec
    from sshconv.verification.controls import control_models
    from sshconv.versions import cpu_flags, cpu_name, package_version

    spec = load_model_spec()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        artifacts = args.artifacts or _convert(tmp)
        fp32 = artifacts / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
        print(f"CPU: {cpu_name()} ({cpu_flags()}); nncf {package_version('nncf')}, openvino {ov.get_version()}")
        if not args.no_ap:
            print(f"FP32 IR: AP@0.5 {_ap(fp32):.4f}")
        variants = [(f"{n} photos", QuantizeOptions(count=int(n))) for n in args.counts.split(",")]
        if args.variants:
            n = DEFAULT_CALIBRATION_COUNT
            variants += [(f"{n} photos, preset mixed", QuantizeOptions(count=n, preset="mixed")),
                         (f"{n} photos, heads in FP32", QuantizeOptions(count=n, ignore=("rpn_.*",)))]  # fmt: skip
        int8_default = None
        for name, options in variants:
            out = tmp / name.replace(" ", "_").replace(",", "") / "ssh-mxnet.xml"
            t0 = time.perf_counter()
            quantize_ir(spec, fp32, out, options)
            seconds = time.perf_counter() - t0
            parity = _parity(spec, fp32, out)
            ap = "" if args.no_ap else f", AP@0.5 {_ap(out):.4f}"
            print(f"INT8, {name}: quantized in {seconds:.0f} s; against the FP32 IR on {PHOTOS} photos ({parity['faces']} faces): "
                  f"recall {parity['recall']:.3f}, precision {parity['precision']:.3f}, largest score drift "
                  f"{parity['max_score_drift']:.3f}{ap}")  # fmt: skip
            if options.count == DEFAULT_CALIBRATION_COUNT and not options.ignore and options.preset == "performance":
                int8_default = out
            int8_default = int8_default or out

        model = ov.Core().read_model(str(fp32))
        wrong = dict((n, m) for n, _, m in control_models(model, weights=False))["no_reverse"]
        wrong_xml = tmp / "wrong" / "ssh-mxnet.xml"
        wrong_xml.parent.mkdir()
        ov.save_model(wrong, str(wrong_xml), compress_to_fp16=False)
        count = int(args.counts.split(",")[0])
        quantize_ir(spec, wrong_xml, tmp / "wrong-int8" / "ssh-mxnet.xml", QuantizeOptions(count=count))
        parity = _parity(spec, fp32, tmp / "wrong-int8" / "ssh-mxnet.xml")
        print(f"wrong conversion (channels not reversed), quantized on {count} photos: recall {parity['recall']:.3f}, "
              f"precision {parity['precision']:.3f} -> {'PASSES (the check is blind!)' if parity['passed'] else 'fails, as it must'}")  # fmt: skip

        input_dir = args.input_dir or checkpoint_of(artifacts)
        for mode in ("latency", "throughput"):
            fps = {}
            for label, ir in (("fp32", fp32), ("int8", int8_default)):
                res = run_bench(input_dir if label == "fp32" else None, ir=ir, seconds=args.seconds, spec=spec, bf16=False,
                                mxnet=label == "fp32" and input_dir is not None, mode=mode)  # fmt: skip
                for c in res.cases:
                    fps["mxnet" if c.runtime == "mxnet" else label] = (c.fps, c.streams, c.requests)
            line = ", ".join(f"{k} {v[0]:.2f} frames/s ({v[1]} x {v[2]})" for k, v in fps.items())
            print(f"{mode}: {line}")
            ratio = fps["int8"][0] / fps["fp32"][0]
            print(f"  INT8 / FP32 IR: {ratio:.2f}x (goal >= {GOAL}x: {'met' if ratio >= GOAL else 'NOT met'})")
            if "mxnet" in fps:
                ratio = fps["int8"][0] / fps["mxnet"][0]
                print(f"  INT8 / MXNet at its best: {ratio:.2f}x (goal >= {GOAL}x: {'met' if ratio >= GOAL else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
