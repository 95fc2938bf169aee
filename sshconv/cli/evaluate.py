"""``sshconv eval``: flags to :func:`~sshconv.evaluation.evaluate`, the result as a table."""

from __future__ import annotations

from pathlib import Path

from .common import (
    JSON_FILE_NOTE,
    add_artifacts,
    add_html,
    add_input_dir,
    add_ir,
    add_json,
    add_model,
    add_onnx,
    add_progress,
    command,
    deprecated,
    json_targets,
    load_spec,
    print_json,
    run_with_progress,
)  # fmt: skip


def cmd_eval(args) -> int:
    from ..evaluation import evaluate

    spec = load_spec(args)
    printed, json_file = json_targets(args)
    if args.print_json:
        deprecated("--print-json", "--json")
        printed = True
    result = run_with_progress(
        args, evaluate, spec, args.dataset, input_dir=args.input_dir, artifacts=args.artifacts,
        irs=[*args.ir, *args.onnx], work_dir=args.work_dir, resume=args.resume, jobs=args.jobs, ray=args.ray,
        json_report=json_file, protocol=args.protocol, metric=args.metric, submission_dir=args.submission_dir,
        worker_wait=args.worker_wait,
    )  # fmt: skip
    html = None
    if args.html is not None:
        from ..evaluation.report import write_report

        html = write_report(result, args.html)
    if printed:
        print_json(result.to_dict())
        return 0
    print_eval(result)
    for label, folder in result.submissions.items():
        print(f"submission ({label}): {folder}")
    if json_file is not None:
        print(f"JSON report: {json_file}")
    if html is not None:
        print(f"HTML report: {html}")
    return 0


def print_eval(result) -> None:
    t = result.timing
    protocol, metric = result.method
    print(f"dataset: {result.dataset.folder} ({t['photos']} photos; {result.resumed} from the ledger {result.work_dir})")
    print(f"protocol: {protocol}; metric: {metric}")
    has_parity = any(r.parity is not None for r in result.results.values())
    vs_head = "  faces vs MXNet (matched / missed / extra, photos differing)" if has_parity else ""
    map_head = f" {'mAP %':>8} {'faces':>6}" if metric != "wider" else ""
    wider_head = f" {'Easy':>7} {'Medium':>7} {'Hard':>7}" if metric != "omz-map" else ""
    print(f"{'engine':<34}{map_head}{wider_head} {'s/photo':>8}{vs_head}")
    for label, r in result.results.items():
        p = r.parity
        vs = "" if p is None else f"  {p['matched']} / {p['missed']} / {p['extra']}, {p['differing']}"
        cells = f" {r.ap.map_percent:8.2f} {r.ap.faces:6d}" if metric != "wider" else ""
        if r.wider is not None:
            cells += "".join(f" {w.ap:7.4f}" if w.ap is not None else f" {'-':>7}" for w in r.wider.values())
        print(f"{label:<34}{cells} {r.seconds / max(r.photos, 1):8.3f}{vs}")
    if result.checkpoint.get("synthetic"):
        print(
            "note: MXNet runs a synthetic checkpoint (sshconv synth): these figures judge the conversions, not the real detector"
        )
    if result.worst:
        print("photos where faces differ most from MXNet's:")
        for w in result.worst:
            print(f"  {w['engine']:<30} {w['photo']}: matched {w['matched']}, missed {w['missed']}, extra {w['extra']}")
    if t.get("overhead_percent") is not None:
        print(f"time: {t['inference_seconds']:.1f} s of inference, {t['overhead_percent']:.1f} % more in the workers "
              f"(reading, resizing, decoding, matching); {t['wall_seconds_this_run']:.1f} s this run, "
              f"{result.workers['count']} worker(s) ({result.workers['kind']})")  # fmt: skip


def add_eval(sub) -> None:
    from ..evaluation import DEFAULT_METRIC, DEFAULT_PROTOCOL, DEFAULT_WORK_DIR, METRICS, PROTOCOLS, WORKER_WAIT

    p = command(
        sub, "eval", "The card's WIDER FACE mAP (as OMZ's accuracy checker computes it) and/or the official WIDER FACE "
        "Easy/Medium/Hard APs for MXNet and every artifact, with photo-by-photo face parity; resumable, on N processes "
        "or a Ray cluster.",
        "sshconv eval --dataset ./photos --input-dir ./checkpoint --artifacts ./converted --json-file eval.json --html eval.html\n"
        "sshconv eval --dataset ./WIDER --input-dir ./checkpoint --artifacts ./converted --protocol upstream --metric both "
        "--submission-dir ./submissions\n"
        "sshconv eval --dataset ./WIDER --ir ./converted/ir/mo/FP32/ssh-mxnet.xml --resume --jobs 2\n"
        "sshconv eval --dataset ./WIDER --input-dir ./checkpoint --artifacts ./converted --ray 10.0.0.5:6379",
        cmd_eval,
        notes="The checkpoint (--input-dir) is evaluated too and is the reference of the face parity. Each run keeps its "
        "ledger in a folder of its own under the work folder, named after what it evaluates: the same run started again "
        "continues where it stopped, a different run (other models, dataset or settings) starts its own beside it, and "
        "--resume asks for the earlier run, refused (naming what changed) if its models or dataset changed. " + JSON_FILE_NOTE,
    )  # fmt: skip
    add_model(p)
    p.add_argument("--dataset", metavar="D", type=Path, required=True,
                   help="a folder in the WIDER FACE layout: images/ (or WIDER_val/images/), wider_face_val_bbx_gt.txt "
                   "(or wider_face_split/...) and, for --metric wider, eval_tools/ground_truth/*.mat")  # fmt: skip
    p.add_argument("--protocol", choices=PROTOCOLS, default=DEFAULT_PROTOCOL,
                   help="how photos become detections: omz (640x640, the card's mAP; default), upstream (shorter side "
                   "1200, longer at most 1600) or upstream-pyramid (four scales), as mxnet-SSH's test_ssh.py")  # fmt: skip
    p.add_argument("--metric", choices=METRICS, default=DEFAULT_METRIC,
                   help="omz-map (the accuracy checker's mAP; default), wider (WIDER FACE's official Easy/Medium/Hard AP, "
                   "needs the dataset's .mat files) or both")  # fmt: skip
    p.add_argument("--submission-dir", metavar="S", type=Path,
                   help="write each engine's WIDER FACE submission files to S/<engine>/<event>/<photo>.txt")
    add_input_dir(p)
    add_artifacts(p)
    add_ir(p, several=True)
    add_onnx(p, several=True)
    add_json(p, file=True, legacy_path=True)
    add_html(p)
    p.add_argument("--work-dir", metavar="W", type=Path,
                   help=f"where the runs' ledgers of per-photo results go, one folder a run (default ./{DEFAULT_WORK_DIR})")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue this run's ledger where it stopped")
    p.add_argument("--jobs", metavar="N", type=int,
                   help="worker processes here (default 1), or with --ray the cluster's workers (default one per node)")  # fmt: skip
    p.add_argument("--ray", metavar="ADDRESS", help="run the workers on this Ray cluster (host:port; the ray extra)")
    p.add_argument("--worker-wait", metavar="S", type=float,
                   help=f"with --ray: seconds the run may have no worker (lost with their nodes, none started again) before "
                        f"it stops, keeping its photos (default {WORKER_WAIT:g})")  # fmt: skip
    add_progress(p)
    p.add_argument("--print-json", action="store_true", help="deprecated: the same as --json")
