"""``sshconv verify``: flags to options, the result as text tables."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from .common import (
    JSON_FILE_NOTE,
    add_artifacts,
    add_fail_fast,
    add_html,
    add_images,
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
    run_with_progress,
)  # fmt: skip
from .release import add_cert_chain


def cmd_verify(args) -> int:
    from ..model.shapes import parse_shapes
    from ..verification import VerifyOptions, verify

    if args.bundle is not None or args.public_key is not None or args.cert_chain:
        return _verify_bundle(args)
    spec = load_spec(args)
    options = VerifyOptions(
        samples=args.samples, photos=args.photos, seed=args.seed, images=args.images,
        overrides=parse_overrides(args.atol, args.rtol), self_test=args.self_test, bf16=args.bf16, runtime=args.runtime,
        shapes=None if args.shapes is None else parse_shapes(args.shapes), fail_fast=args.fail_fast,
        reference=args.reference,
    )  # fmt: skip
    printed, json_file = json_targets(args)
    if args.html is not None:  # its folder checked before anything runs, as the JSON report's is
        from ..fsutil import ensure_dir

        ensure_dir(Path(args.html).parent, "HTML report folder")
    result = run_with_progress(
        args, verify, spec, input_dir=args.input_dir, ir=args.ir, onnx=args.onnx, artifacts=args.artifacts,
        golden=args.golden, against=args.against, options=options, save_golden_to=args.save_golden, json_report=json_file,
    )  # fmt: skip
    html = None
    if args.html is not None:
        from ..verification.report import write_report

        html = write_report(result, args.html)
    if printed:
        from ..verification.results import jsonable

        print(json.dumps(result.to_dict(boxes=True), indent=2, default=jsonable))
        return result.exit_code
    _print_verify(result)
    if html is not None:
        print(f"HTML report: {html}")
    return result.exit_code


def _verify_bundle(args) -> int:
    """``verify --bundle B``: the files and the signature, the models against the bundle's golden file, the card."""
    from ..release import verify_bundle
    from ..verification import VerifyOptions

    options = VerifyOptions(
        overrides=parse_overrides(args.atol, args.rtol), bf16=args.bf16, runtime=args.runtime, self_test=args.self_test,
        fail_fast=args.fail_fast,
    )
    others = {k: getattr(args, k) for k in ("input_dir", "ir", "onnx", "artifacts", "golden", "against", "model", "save_golden",
                                            "images", "shapes", "photos")}  # fmt: skip
    printed, json_file = json_targets(args)
    checked, result = run_with_progress(
        args, verify_bundle, args.bundle, public_key=args.public_key, cert_chain=args.cert_chain, options=options,
        others=others, json_report=json_file,
    )  # fmt: skip
    if args.html is not None:
        from ..verification.report import write_report

        write_report(result, args.html)
    if printed:
        from ..verification.results import jsonable

        print(json.dumps({"bundle": checked.to_dict(), **result.to_dict()}, indent=2, default=jsonable))
        return result.exit_code
    signed = f"signature by {checked.signed_by}: good" if checked.signed_by else "unsigned (no signature to check)"
    print(f"bundle {checked.folder}: {checked.files} files as listed, none changed, added or removed; {signed}")
    _print_verify(result)
    print("model card: every figure matches the bundle's files")
    return result.exit_code


def parse_overrides(atol: Sequence[str] = (), rtol: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    """``["cls_prob=1e-3", "rpn_bbox_pred_stride8=0.01"]`` -> ``{name: {"atol": v}}``; UsageError if malformed."""
    out: dict[str, dict[str, float]] = {}
    for key, items in (("atol", atol), ("rtol", rtol)):
        for item in items:
            name, sep, value = item.partition("=")
            try:
                v = float(value)
            except ValueError:
                v = float("nan")
            if not sep or not name or not math.isfinite(v) or v < 0:
                raise UsageError(f"--{key} {item!r}: expected NAME=VALUE with VALUE >= 0, e.g. --{key} cls_prob=1e-4")
            out.setdefault(name, {})[key] = v
    return out


def _print_verify(result) -> None:
    note = f" ({result.reference_note})" if result.reference_note else ""
    print(f"reference: {result.reference}{note}; {len(result.samples)} input(s): " + ", ".join(s.label for s in result.samples))
    if result.golden_written:
        print(f"golden file written: {result.golden_written}")
    for check in result.checks + result.pairs:
        _print_check(check)
    if result.controls:
        print("\nself-test (negative controls: each must FAIL):")
        for c in result.controls:
            word = "caught (FAIL as expected)" if c.caught else "NOT CAUGHT (passed: the verifier is blind to it)"
            if not c.caught and c.check.input_shapes[1:]:
                word += f" at {', '.join(c.missed_at)}"
            print(f"  {c.of:<14} {c.name:<14} {_score(c.check):<26} {word}  ({c.description})")
    _print_faces(result.faces)
    if result.stopped_after:
        print(f"\nfail fast: stopped after {result.stopped_after}, the models after it not run")
    verdict = "PASS" if result.passed else "FAIL"
    print(f"\nverdict: {verdict}")


def _print_faces(checks) -> None:
    """Faces artifacts: their boxes against the reference decoder's, then their controls."""
    for f in checks:
        if f.control is None and f is checks[0]:
            print("\nfaces artifacts (boxes against the reference decoder on the reference's outputs):")
        if f.control is not None and not any(c.control for c in checks[: checks.index(f)]):
            print("\nfaces self-test (negative controls: each must FAIL):")
        d = f.to_dict()
        how = (f"recall {f.recall:.2f} (>= {f.thresholds.recall:g}), precision {f.precision:.2f} (>= {f.thresholds.precision:g})"
               if f.thresholds else f"min IoU {d['min_iou']:.4f}, score drift {d['max_score_drift']:.2g}, "
               f"box drift {d['max_box_drift']:.2g} px")  # fmt: skip
        where = f"; failed at {', '.join(f.failed_shapes)}" if f.failed_shapes and not f.thresholds else ""
        verdict = ("caught (FAIL as expected)" if f.caught else "NOT CAUGHT") if f.control else ("PASS" if f.passed else "FAIL")
        print(f"  {f.label}: {d['faces']} faces (fit {f.fit}, floor {f.floor:g}), {d['missed']} missed, {d['extra']} extra, "
              f"{how}{where}  {verdict}")  # fmt: skip


def _print_check(check) -> None:
    used = f", ran {check.execution_used}" if check.execution_used else ""
    used = (f", {check.runtime}" if check.runtime != "openvino" else "") + used
    how = (
        f"{check.tolerance_set} tolerances" if check.detection_thresholds is None else "judged by faces; statistics informational"
    )
    print(f"\n{check.label}: {check.model} vs {check.reference} ({how}{used})")
    if check.note:
        print(f"  note: {check.note}")
    several = len(check.input_shapes) > 1
    print(f"  {'output' + (' @ input shape' if several else ''):<{52 if several else 30}} {'max abs':>10} {'max rel':>10} "
          f"{'atol':>9} {'rtol':>9} {'margin':>9}  result")  # fmt: skip
    for o in check.outputs:
        res = "PASS" if o.passed else "FAIL" + (f" ({o.problem})" if o.problem else f" ({o.violations} of {o.elements})")
        res = "info" if o.informational and not o.problem else res
        name = f"{o.name} @ {'x'.join(map(str, o.input_shape))}" if several else o.name
        print(f"  {name:<{52 if several else 30}} {o.max_abs:10.3g} {o.max_rel:10.3g} {o.tolerance.atol:9.2g} {o.tolerance.rtol:9.2g} "
              f"{o.margin:9.3g}  {res}")  # fmt: skip
    dets = check.detections
    if dets:
        faces = sum(d.parity.reference for d in dets)
        verdict = "PASS" if check.detections_passed else "FAIL"
        print(f"  faces: {faces} in the reference on {len(dets)} inputs, {check.missed} missed, {check.extra} extra, "
              f"largest score drift {check.max_score_drift:.3g}, box drift {check.max_box_drift:.2f} px  {verdict}")  # fmt: skip
        t = check.detection_thresholds
        if t is not None:
            print(f"  recall {check.recall:.3f} (>= {t.recall:g}), precision {check.precision:.3f} (>= {t.precision:g}); "
                  f"faces within {t.score_slack:g} of the threshold not counted")  # fmt: skip
    if check.divergence is not None:
        d = check.divergence
        where = (
            f"first diverging tensor: {d.tensor} (max|d|/max|ref| {d.error:.3g} > {d.threshold:g})"
            if d.tensor
            else "no intermediate tensor diverges"
        )
        print(f"  {where}; {d.note}")
    if several:
        for shape, v in check.shape_verdicts().items():
            print(f"  at {shape:<16} {'PASS' if v['passed'] else 'FAIL'} (margin {float(v['margin']):.3g}, "
                  f"{v['missed']} missed, {v['extra']} extra)")  # fmt: skip
    failed = f"; failed at {', '.join(check.failed_shapes)}" if several and not check.passed else ""
    print(f"  {check.label}: {'PASS' if check.passed else 'FAIL'} ({_score(check)}{failed})")


def _score(check) -> str:
    """A check's deciding figure: its margin, or a quantized model's recall and precision."""
    if check.detection_thresholds is not None:
        return f"recall {check.recall:.2f}, precision {check.precision:.2f}"
    return f"margin {check.margin:.3g}"


def add_verify(sub) -> None:
    from ..model.spec import VERIFY_PHOTOS as DEFAULT_PHOTOS
    from ..model.spec import VERIFY_PHOTOS_QUANTIZED
    from ..model.spec import VERIFY_SAMPLES as DEFAULT_SAMPLES
    from ..model.spec import VERIFY_SEED as DEFAULT_SEED

    p = command(
        sub, "verify", "Run the MXNet checkpoint and the converted model side by side; exit 1 if they differ.",
        "sshconv verify --input-dir ./ssh --ir out/ir/mo/FP32/ssh-mxnet.xml --self-test --json-file report.json\n"
        "sshconv verify --golden golden.npz --artifacts out --html report.html\n"
        "sshconv verify --input-dir ./ssh --artifacts out --shapes sweep --self-test --save-golden golden.npz\n"
        "sshconv verify --bundle release --public-key key.pub\n"
        "sshconv verify --input-dir ./ssh --artifacts out --reference numpy --samples 1 --photos 1",
        cmd_verify,
        notes="What is checked is one of --ir, --onnx or --artifacts (every model of the folder, and same-weights IRs of "
        "the two routes against each other); the reference is the checkpoint (--input-dir), a golden file (--golden) or "
        "another model (--against). --shapes runs MXNet and every model at each shape (--shapes sweep: the card's shape, "
        "a 16:9 frame, a size no multiple of 8, a batch of 2); a golden file holds its own shapes. " + JSON_FILE_NOTE,
    )  # fmt: skip
    add_model(p)
    add_input_dir(p)
    add_ir(p)
    add_onnx(p)
    add_artifacts(p)
    p.add_argument(
        "--samples",
        metavar="N",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"seeded random images (default {DEFAULT_SAMPLES}); flat, gradient and 0/255 patterns are always added",
    )
    add_photos(p, f"default {DEFAULT_PHOTOS}; {VERIFY_PHOTOS_QUANTIZED} when an INT8 IR is checked")
    p.add_argument(
        "--seed", metavar="S", type=int, default=DEFAULT_SEED,
        help=f"seed of the random images and generated photos (default {DEFAULT_SEED})",
    )  # fmt: skip
    add_images(p)
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
    add_fail_fast(p)
    p.add_argument(
        "--reference", choices=("auto", "mxnet", "numpy"), default="auto",
        help="what runs the checkpoint (--input-dir): mxnet; numpy, sshconv's float64 interpreter, no MXNet needed (about "
        "10 s a 640x640 frame on 2 cores); auto (the default): mxnet where it imports, else numpy, said in the report",
    )  # fmt: skip
    p.add_argument("--save-golden", metavar="F", type=Path, help="save the inputs and the reference's outputs (npz, with hashes)")
    p.add_argument("--golden", metavar="F", type=Path, help="verify against a golden file instead of MXNet")
    p.add_argument(
        "--against", metavar="MODEL", type=Path, help="verify against another IR or ONNX file instead of MXNet (no MXNet needed)"
    )
    p.add_argument("--bundle", metavar="B", type=Path, help="check a bundle as its receiver: files, signature, models, card")
    p.add_argument("--public-key", metavar="KEY.pub", type=Path, help="the public key the bundle's signature must be made with")
    add_cert_chain(p)
    add_shapes(p)
    add_runtime(p)
    add_json(p, file=True, legacy_path=True)
    add_html(p)
    add_progress(p)
