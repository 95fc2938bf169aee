"""``sshconv eval``: flags to :func:`~sshconv.evaluation.evaluate`, the result as a table."""

from __future__ import annotations

from pathlib import Path

from .common import add_input_dir, add_model, add_progress, command, load_spec, print_json, run_with_progress


def cmd_eval(args) -> int:
    from ..evaluation import evaluate

    spec = load_spec(args)
    result = run_with_progress(
        args, evaluate, spec, args.dataset, input_dir=args.input_dir, artifacts=args.artifacts, irs=args.ir or (),
        work_dir=args.work_dir, resume=args.resume, jobs=args.jobs, ray=args.ray, json_report=args.json,
    )  # fmt: skip
    html = None
    if args.html is not None:
        from ..evaluation.report import write_report

        html = write_report(result, args.html)
    if args.print_json:
        print_json(result.to_dict())
    else:
        print_eval(result)
    if args.json is not None:
        print(f"JSON report: {args.json}")
    if html is not None:
        print(f"HTML report: {html}")
    return 0


def print_eval(result) -> None:
    t = result.timing
    print(f"dataset: {result.dataset.folder} ({t['photos']} photos; {result.resumed} from the ledger {result.work_dir})")
    print(f"{'engine':<34} {'mAP %':>8} {'faces':>6} {'s/photo':>8}  faces vs MXNet (matched / missed / extra, photos differing)")
    for label, r in result.results.items():
        p = r.parity
        vs = "" if p is None else f"{p['matched']} / {p['missed']} / {p['extra']}, {p['differing']}"
        print(f"{label:<34} {r.ap.map_percent:8.2f} {r.ap.faces:6d} {r.seconds / max(r.photos, 1):8.3f}  {vs}")
    if result.worst:
        print("photos where faces differ most from MXNet's:")
        for w in result.worst:
            print(f"  {w['engine']:<30} {w['photo']}: matched {w['matched']}, missed {w['missed']}, extra {w['extra']}")
    if t.get("overhead_percent") is not None:
        print(f"time: {t['inference_seconds']:.1f} s of inference, {t['overhead_percent']:.1f} % more in the workers "
              f"(reading, resizing, decoding, matching); {t['wall_seconds_this_run']:.1f} s this run, "
              f"{result.workers['count']} worker(s) ({result.workers['kind']})")  # fmt: skip


def add_eval(sub) -> None:
    from ..evaluation import DEFAULT_WORK_DIR

    p = command(
        sub, "eval", "The card's WIDER FACE mAP (as OMZ's accuracy checker computes it) for MXNet and every artifact, "
        "with photo-by-photo face parity; resumable, on N processes or a Ray cluster.",
        "sshconv eval --dataset ./photos --input-dir ./checkpoint --artifacts ./converted --json eval.json --html eval.html\n"
        "sshconv eval --dataset ./WIDER --ir ./converted/ir/mo/FP32/ssh-mxnet.xml --work-dir ./eval-work --resume --jobs 2\n"
        "sshconv eval --dataset ./WIDER --input-dir ./checkpoint --artifacts ./converted --ray 10.0.0.5:6379",
        cmd_eval,
    )  # fmt: skip
    add_model(p)
    p.add_argument("--dataset", metavar="D", type=Path, required=True,
                   help="a folder in the WIDER FACE layout: images/<event>/<file> and wider_face_val_bbx_gt.txt")  # fmt: skip
    add_input_dir(p, "the MXNet checkpoint (sshb-symbol.json, sshb-0000.params): evaluated too, and the reference of the parity")
    p.add_argument("--artifacts", metavar="O", type=Path, help="every IR and ONNX file of this `sshconv convert` folder")
    p.add_argument("--ir", metavar="X.xml", type=Path, nargs="+", help="these IR (or ONNX) files")
    p.add_argument("--json", metavar="R", type=Path, help="write the results as JSON to R")
    p.add_argument(
        "--html", metavar="R.html", type=Path, help="write a page with the table, precision-recall curves and worst photos"
    )
    p.add_argument("--work-dir", metavar="W", type=Path,
                   help=f"where the ledger of per-photo results goes (default ./{DEFAULT_WORK_DIR})")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue the ledger in the work folder (same models and dataset only)")
    p.add_argument("--jobs", metavar="N", type=int,
                   help="worker processes here (default 1), or with --ray the cluster's workers (default one per node)")  # fmt: skip
    p.add_argument("--ray", metavar="ADDRESS", help="run the workers on this Ray cluster (host:port; the ray extra)")
    add_progress(p)
    p.add_argument("--print-json", action="store_true", help="print the results as JSON instead of the table")
