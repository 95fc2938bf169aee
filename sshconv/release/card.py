"""The bundle's model card (``MODEL_CARD.md``): every figure read or measured from the bundle's own files.

:func:`card_facts` gathers the figures from a bundle folder: parameters and GFLOPs counted on its
FP32 IR (at every shape its verification ran), the input contract and the outputs from its
manifest, tolerances and margins from its verification report, mAP from its evaluation report and
frames/s from its benchmark report (when given), the checkpoint's sha256 and sources from the
manifest and the bundled model.yml. :func:`render_card` writes them in the sections of an Open
Model Zoo card, each figure saying which file it comes from. The card is a pure function of the
bundle's files: :func:`check_card` renders it again on arrival and names the first line that
differs, so a card that claims what the files do not show is caught.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import IntegrityError, SshconvError
from ..model.parse import load_model_spec
from ..synthetic.synth import is_synthetic
from .fields import Field
from .layout import ARTIFACTS, BENCH_REPORT, CARD, EVAL_REPORT, MODEL_YML, VERIFY_REPORT, read_json


def card_facts(bundle: Path, error: type[SshconvError] = IntegrityError) -> dict[str, Any]:
    """Every figure the card shows, from the files of ``bundle`` (a bundle folder, or one being built).

    A report whose fields are missing or of another kind is ``error`` naming the file and the field: damage in a
    bundle received (:class:`IntegrityError`, the default), bad input in one being built from reports given.
    """
    from ..conversion.manifest import read_manifest

    spec = load_model_spec(bundle / MODEL_YML)
    manifest = read_manifest(bundle / ARTIFACTS)
    verify = _report(bundle, VERIFY_REPORT, error)
    shapes = sorted({_shape(s["shape"]) for s in verify.get("samples", []).each()}, key=lambda s: (s[2] * s[3], s))
    counted = _count(manifest, [(1, 3, h, w) for _, _, h, w in shapes] or [tuple(spec.input.shape)])
    facts: dict[str, Any] = {
        "description": spec.description, "task": spec.task_type, "license": spec.license, "framework": spec.framework,
        "synthetic": is_synthetic(spec), "input": manifest.input, "outputs": manifest.outputs, "faces": manifest.faces,
        "checkpoint": manifest.source_hashes(),
        "downloads": [{"name": f.name, "sha256": f.sha256, "size": f.size, "urls": list(f.urls)} for f in spec.files],
        "tools": manifest.tools, "artifacts": [a.label for a in manifest.models() + manifest.faces_models()],
        "verified": _verified(verify), "shapes": ["x".join(map(str, s)) for s in shapes], **counted,
    }  # fmt: skip
    if (bundle / EVAL_REPORT).is_file():
        facts["eval"] = _evaluated(_report(bundle, EVAL_REPORT, error))
    if (bundle / BENCH_REPORT).is_file():
        facts["bench"] = _benched(_report(bundle, BENCH_REPORT, error))
    return facts


def _shape(field: Field) -> tuple:
    dims = field.numbers()
    if len(dims) != 4 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise field.fail(f"expected an input shape N,C,H,W, found {dims[:8]}")
    return tuple(dims)


def _report(bundle: Path, name: str, error: type[SshconvError]) -> Field:
    fix = "ask for the bundle again" if error is IntegrityError else "give the report as sshconv wrote it"
    path = bundle / name
    return Field(read_json(path, error, fix), path, error, fix)


def report_facts(report: Field, where: str) -> dict[str, Any]:
    """What the card shows from an evaluation (``EVAL_REPORT``) or benchmark report: the figures, each field checked."""
    return _evaluated(report) if where == EVAL_REPORT else _benched(report)


def _count(manifest, shapes) -> dict[str, Any]:
    """Parameters and GFLOPs per image at each shape, counted on the bundle's FP32 IR as OpenVINO reads it."""
    import openvino as ov

    from ..runtimes.openvino import conv_gflops, count_parameters, read_openvino_model

    irs = [a for a in manifest.irs() if a.weights == "FP32"]
    if not irs:
        raise IntegrityError(f"{manifest.path}: lists no FP32 IR to count the model on; bundle a conversion with FP32 IRs")
    ir = irs[0]
    model = read_openvino_model(ov.Core(), manifest.file(ir))
    gflops = {}
    for shape in shapes:
        model.reshape({model.inputs[0]: list(shape)})
        gflops[f"{shape[2]}x{shape[3]}"] = round(conv_gflops(model), 4)
    return {"counted_on": f"{ARTIFACTS}/{ir.path}", "mparams": round(count_parameters(model) / 1e6, 4), "gflops": gflops}


def _verified(report: Field) -> dict[str, Any]:
    """What the verification report says of each model: tolerances and margin, or recall/precision, or faces."""
    checks = []
    for c in report.get("checks", []).each():
        tolerances = {}
        for o in c.get("outputs", []).each():
            family = "cls_prob" if "cls_prob" in o["name"].text() else "bbox_pred"
            tolerances[family] = (o["tolerance"]["atol"].number(), o["tolerance"]["rtol"].number())
        parity = c.get("detection_parity", {})
        thresholds = parity.get("thresholds").raw
        checks.append({"label": c["label"].text(), "set": c["tolerance_set"].text(), "passed": c["passed"].flag(),
                       "margin": c["margin"].number(), "tolerances": tolerances, "thresholds": thresholds,
                       "recall": parity["recall"].number() if thresholds else None,
                       "precision": parity["precision"].number() if thresholds else None})  # fmt: skip
    faces = []
    for f in report.get("faces_artifacts", []).each():
        if f.get("control").raw:
            continue
        recall = f.get("recall").optional("number")  # with recall (at a floor) the card gives precision, else IoU and drift
        faces.append({"label": f["label"].text(), "passed": f["passed"].flag(), "faces": f["faces"].number(),
                      "recall": recall, "precision": f["precision"].number() if recall is not None else None,
                      "min_iou": f["min_iou"].number() if recall is None else None,
                      "box_drift": f["max_box_drift"].number() if recall is None else None})  # fmt: skip
    margins = [c["margin"] for c in checks if c["thresholds"] is None]
    return {"passed": report.get("passed").optional("flag"), "reference": report.get("reference").optional("text"),
            "checks": checks, "faces": faces, "worst_margin": max(margins) if margins else None,
            "environment": report.get("environment", {}).obj()}  # fmt: skip


def _evaluated(report: Field) -> dict[str, Any]:
    results = {}
    for label, r in report.get("results", {}).items():
        wider = r.get("wider").optional("obj")
        results[label] = {"map": r.get("map").optional("number"),
                          "wider": None if wider is None else {k: r["wider"].get(k).optional("number") for k in WIDER_SETS}}  # fmt: skip
    metric = report.get("metric", {})
    protocol = metric.get("description").optional("text") or metric.get("protocol").optional("text")
    return {"photos": report.get("dataset", {}).get("photos").optional("number"), "protocol": protocol, "results": results}


def _benched(report: Field) -> dict[str, Any]:
    cases = [{"name": c["name"].text(), "shape": "x".join(map(str, c["input_shape"].numbers())), "fps": c["fps"].number(),
              "execution": c.get("effective_execution").optional("text") or c.get("execution").optional("text")}
             for c in report.get("cases", []).each()]  # fmt: skip
    return {
        "cpu": report.get("cpu", "").text(),
        "cpu_flags": report.get("engine_config", {}).get("cpu_flags", "").text(),
        "mode": report.get("mode").optional("text"),
        "cases": cases,
    }


#: The WIDER sets an evaluation report gives an AP for.
WIDER_SETS = ("easy", "medium", "hard")


def render_card(facts: dict[str, Any]) -> str:
    """The model card's Markdown text for ``facts`` (:func:`card_facts`); the same facts give the same bytes."""
    f, lines = facts, []
    add = lines.append
    add("# ssh-mxnet\n")
    add("## Use Case and High-Level Description\n")
    add(f"{f['description'] or 'SSH: Single Stage Headless face detector (deepinsight mxnet-SSH, sshb).'}\n")
    if f["synthetic"]:
        add("**This bundle was made from a synthetic checkpoint of the same architecture** (`sshconv synth`), not the "
            "released weights: every figure below is real for these files, accuracy says nothing of the real model.\n")  # fmt: skip
    add("## Specification\n")
    add("| Metric | Value | Where it comes from |\n|---|---|---|")
    add(f"| Type | {f['task'] or 'detection'} | model.yml |")
    for shape, g in f["gflops"].items():
        add(f"| GFLOPs per image at {shape} | {g:.4f} | counted on `{f['counted_on']}` |")
    add(f"| MParams | {f['mparams']:.4f} | counted on `{f['counted_on']}` |")
    add(f"| Source framework | {f['framework']} | model.yml |\n")
    add("## Accuracy\n")
    _accuracy(f.get("eval"), add)
    add("## Input\n")
    i = f["input"]
    add(f"Raw model (`{ARTIFACTS}/ir/...`, `{ARTIFACTS}/onnx/...`): input `{i.get('name')}`, shape "
        f"{'x'.join(map(str, i.get('shape', [])))} ({i.get('layout')}), {i.get('channel_order')} pixels in "
        f"{i.get('value_range')}. Baked in: {i.get('preprocessing')}. Shapes: {i.get('shapes')}.\n")  # fmt: skip
    if f["faces"]:
        fc = f["faces"]
        add(f"Faces model (`models/ssh-mxnet-faces`, `{ARTIFACTS}/.../ssh-mxnet-faces.*`): input `frame`, uint8 "
            f"N x H x W x 3 BGR, any size; fit `{fc.get('fit')}`, score floor {fc.get('score_floor')}, NMS "
            f"{fc.get('nms_threshold')}, top {fc.get('pre_nms_top_n')} per stride.\n")  # fmt: skip
    add("## Output\n")
    for o in f["outputs"]:
        add(f"- `{o['name']}`: {'x'.join(map(str, o['shape']))} at the default input")
    if f["faces"]:
        add(
            "- faces model: `faces` K x 5 (x1, y1, x2, y2, score in frame pixels), `face_image` K, and "
            "`bboxes`/`scores`/`labels` for OpenVINO Model API"
        )
    add("")
    _verification(f["verified"], f["shapes"], add)
    _performance(f.get("bench"), add)
    add("## Provenance\n")
    for d in f["downloads"]:
        where = "made by `sshconv synth` (no URL was used)" if f["synthetic"] else f"from {', '.join(d['urls']) or 'a file'}"
        add(f"- archive `{d['name']}` (sha256 `{d['sha256']}`, {d['size']} bytes) {where}")
    for name, sha in f["checkpoint"].items():
        add(f"- converted from `{name}`: sha256 `{sha}`")
    add("- converted with: " + ", ".join(f"{k} {v}" for k, v in sorted(f["tools"].items())))
    env = f["verified"]["environment"]
    add(
        "- verified with: "
        + ", ".join(f"{k} {env[k]}" for k in ("sshconv", "python", "numpy", "openvino") if k in env)
        + f", on {env.get('cpu', 'an unnamed CPU')} ({env.get('cpu_flags') or 'no flags recorded'})"
    )
    add(f"- models in this bundle: {', '.join(f['artifacts'])}\n")
    add("## Legal Information\n")
    add(f"{f['license'] or 'See the upstream repository (deepinsight/mxnet-SSH) for the license.'}\n")
    return "\n".join(lines)


def _accuracy(ev: dict | None, add) -> None:
    if not ev:
        add("No evaluation report was bundled: no accuracy is claimed.\n")
        return
    add(f"{ev['protocol']}, {ev['photos']} photos (`{EVAL_REPORT}`):\n")
    add("| Model | mAP (OMZ) | WIDER Easy / Medium / Hard |\n|---|---|---|")
    for label, r in ev["results"].items():
        w = r.get("wider")
        wider = " / ".join(f"{w[k]:.4f}" if isinstance(w.get(k), (int, float)) else "-" for k in ("easy", "medium", "hard")) \
            if isinstance(w, dict) else "not evaluated"  # fmt: skip
        omz_map = f"{r['map']:.2f} %" if isinstance(r.get("map"), (int, float)) else "not evaluated"
        add(f"| {label} | {omz_map} | {wider} |")
    add("")


def _verification(v: dict, shapes: list[str], add) -> None:
    add("## Verification\n")
    add(f"Against {v['reference']} at {', '.join(shapes)} (`{VERIFY_REPORT}`): "
        f"{'PASS' if v['passed'] else 'FAIL'}; worst margin {_fmt(v['worst_margin'])} (max |d| / tolerance, <= 1 passes).\n")  # fmt: skip
    add("| Model | Tolerance set | cls_prob atol/rtol | bbox_pred atol/rtol | Margin or recall/precision | Result |")
    add("|---|---|---|---|---|---|")
    for c in v["checks"]:
        tol = [("{:g} / {:g}".format(*c["tolerances"][k]) if k in c["tolerances"] else "-") for k in ("cls_prob", "bbox_pred")]
        score = f"recall {c['recall']:.3f}, precision {c['precision']:.3f}" if c["thresholds"] else f"margin {_fmt(c['margin'])}"
        add(f"| {c['label']} | {c['set']} | {tol[0]} | {tol[1]} | {score} | {'PASS' if c['passed'] else 'FAIL'} |")
    for fc in v["faces"]:
        how = (f"recall {fc['recall']:.3f}, precision {fc['precision']:.3f}" if fc["recall"] is not None
               else f"min IoU {fc['min_iou']:.4f}, corners within {fc['box_drift']:.2g} px")  # fmt: skip
        add(f"| {fc['label']} | faces | - | - | {fc['faces']} faces, {how} | {'PASS' if fc['passed'] else 'FAIL'} |")
    add("")


def _performance(bench: dict | None, add) -> None:
    add("## Performance\n")
    if not bench:
        add("No benchmark report was bundled: no speed is claimed.\n")
        return
    add(f"CPU: {bench['cpu'] or 'not named'} (flags: {bench['cpu_flags'] or 'not recorded'}); {bench['mode']} mode "
        f"(`{BENCH_REPORT}`):\n")  # fmt: skip
    add("| Model | Input | Execution | Frames/s |\n|---|---|---|---|")
    for c in bench["cases"]:
        add(f"| {c['name']} | {c['shape']} | {c['execution']} | {c['fps']:.2f} |")
    add("")


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{float(v):.4g}"


def check_card(bundle: Path) -> None:
    """The bundle's card says what its files show, else :class:`IntegrityError` naming the first line that differs."""
    path = bundle / CARD
    try:
        shipped = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{path}: unreadable ({exc.__class__.__name__}); ask for the bundle again") from None
    expected = render_card(card_facts(bundle)).splitlines()
    for n, (got, want) in enumerate(zip(shipped, expected), start=1):
        if got != want:
            raise IntegrityError(f"{path}: line {n} says {got.strip()!r}, but the bundle's files show {want.strip()!r}")
    if len(shipped) != len(expected):
        n = min(len(shipped), len(expected)) + 1
        raise IntegrityError(f"{path}: {'has lines' if len(shipped) > len(expected) else 'lacks lines'} from line {n} "
                             "that the bundle's files do not give")  # fmt: skip
