"""One self-contained HTML page that shows a verification to a person.

The page holds, with nothing to fetch (images are PNG/JPEG embedded as base64 data
URIs, the style sheet is inline):

* the verdict, and a table of every converted artifact's outputs against the
  reference (largest absolute error, largest error relative to the tolerance, pass/fail);
* per output, a histogram of the element-wise errors of every artifact, in units of
  that element's tolerance ``atol + rtol * |reference|`` (so ``1`` is the limit, and the
  FP32 and FP16 artifacts read on one axis);
* each sample image with the MXNet boxes and each artifact's boxes drawn over it;
* the environment (versions, CPU) and the hashes of every file involved.

The page is built from a :class:`ReportData`; :func:`write_report` fills one from the
verifier's result. matplotlib (Agg, no display) is imported only when a page is drawn.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..detection.pictures import MAX_DRAWN_BOXES, SAMPLE_WIDTH, overlay_jpeg
from ..html import CSS, data_uri, escape
from .pictures import histogram_png, tolerance_units

log = logging.getLogger(__name__)

__all__ = ["SAMPLE_WIDTH", "ReportData", "overlay_jpeg", "render_html", "report_data", "tolerance_units", "write_report"]


@dataclass
class OutputRow:
    """One output of one artifact, compared with the reference."""

    artifact: str
    output: str
    shape: tuple[int, ...]
    max_abs_error: float
    worst_ratio: float  # max over elements of |error| / (atol + rtol * |reference|); <= 1 passes
    atol: float
    rtol: float
    passed: bool
    informational: bool = False  # a quantized model's: shown, not judged (its faces are)


@dataclass
class Overlay:
    """One sample image with the reference's and one artifact's boxes."""

    sample: str
    artifact: str
    jpeg: bytes
    reference_boxes: int
    candidate_boxes: int
    matched: int
    missed: int = 0
    extra: int = 0


@dataclass
class ReportData:
    title: str
    passed: bool
    verdict: str
    rows: list[OutputRow] = field(default_factory=list)
    #: output name -> [(artifact, errors in tolerance units, flattened)]
    errors: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)
    overlays: list[Overlay] = field(default_factory=list)
    #: artifact -> (reference faces, missed, extra, passed, a quantized model's recall and precision or ""):
    #: detection parity, part of each check's verdict
    faces: dict[str, tuple[int, int, int, bool, str]] = field(default_factory=dict)
    judged: dict[str, str] = field(default_factory=dict)  # label -> how it was judged (tolerance set, execution)
    environment: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    faces_artifacts: list[dict[str, Any]] = field(default_factory=list)  # FacesCheck.to_dict() of each, controls last


# --------------------------------------------------------------------------- page


def render_html(data: ReportData) -> str:
    """The whole page as one string (no external resources)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(data.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(data.title)}</h1>",
        f'<div class="verdict {"pass" if data.passed else "fail"}">{"PASS" if data.passed else "FAIL"}: {escape(data.verdict)}</div>',
    ]
    parts += [f"<p>{escape(n)}</p>" for n in data.notes]

    if data.rows:
        parts.append("<h2>Outputs</h2>")
        parts.append(
            "<p>Each converted artifact against MXNet on the same raw-BGR samples. An output passes when every element has "
            "<code>|IR − MXNet| ≤ atol + rtol·|MXNet|</code>. Each cell gives the <b>worst error as a multiple of that "
            "limit</b> (≤ 1 passes) and, below it, the largest absolute error; the tolerance used heads each column. "
            "An INT8 IR is judged by its faces (recall and precision against MXNet's, in the faces row); its cells are "
            "informational, measured against the BF16 tolerances for scale.</p>"
        )
        parts.append(_output_table(data.rows, data.faces, data.judged))
    if data.faces_artifacts:
        parts.append("<h2>Faces artifacts</h2>")
        parts.append(
            "<p>Frame in, faces out: each faces artifact's boxes against sshconv's Python decoder run on the reference's "
            "outputs for the very tensor the artifact's network got. Every face of either side must pair with one of the "
            "other at IoU ≥ 0.99, no corner moved by more than a quarter pixel (FP32), scores within the class tolerance (an INT8 one: recall and precision). Controls are "
            "copies with one thing broken; each must fail.</p>"
        )
        parts.append(_faces_table(data.faces_artifacts))
    if data.errors:
        parts.append("<h2>Error histograms</h2>")
        parts.append(
            "<p>Per output, how the element-wise errors of each artifact spread, in units of that element's tolerance "
            "(the dashed line is the limit). Elements with no error at all are counted in the legend; artifacts with identical outputs draw the same curve, the last one on top.</p>"
        )
        parts.append('<div class="grid">')
        for output, series in data.errors.items():
            png = histogram_png(output, series)
            parts.append(f'<figure><img alt="error histogram of {escape(output)}" src="{data_uri(png)}"></figure>')
        parts.append("</div>")

    if data.overlays:
        parts.append("<h2>Detections</h2>")
        parts.append(
            '<p class="legend">Boxes decoded from each engine\'s outputs, per sample (rows) and artifact (columns):'
            '<span style="background:#ff4040"></span>MXNet (thick)<span style="background:#00dc00"></span>converted model '
            '(thin, on top)<span style="background:#286eff"></span>the labelled faces, on generated photos. '
            f"Photos come first. At most {MAX_DRAWN_BOXES} best boxes of each are drawn; the counts are of all boxes at the "
            "threshold. A face clearly above it on one side and not found by the other is missed or extra and fails the check.</p>"
        )
        by_sample: dict[str, list[Overlay]] = {}
        for o in data.overlays:
            by_sample.setdefault(o.sample, []).append(o)
        for sample, overlays in by_sample.items():
            parts.append(f'<h3>{escape(sample)}</h3><div class="grid">')
            for o in overlays:
                cap = (f"{o.artifact}: MXNet {o.reference_boxes}, converted {o.candidate_boxes}, matched {o.matched}, "
                       f"missed {o.missed}, extra {o.extra}")  # fmt: skip
                uri = data_uri(o.jpeg, "image/jpeg")
                parts.append(
                    f'<figure><img alt="{escape(sample)} {escape(cap)}" src="{uri}"><figcaption>{escape(cap)}</figcaption></figure>'
                )
            parts.append("</div>")

    parts.append("<h2>Environment</h2>")
    parts.append(_kv_table(data.environment))
    parts.append("<h2>Files and hashes</h2>")
    parts.append(_kv_table(data.hashes, mono_values=True, key_title="file", value_title="sha256"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _output_table(
    rows: Sequence[OutputRow], faces: Mapping[str, tuple[int, int, int, bool, str]] | None = None,
    judged: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """Outputs down, artifacts across; each cell the worst ratio to tolerance and the max |error|."""
    artifacts = list(dict.fromkeys(r.artifact for r in rows))
    outputs = list(dict.fromkeys(r.output for r in rows))
    cell = {(r.artifact, r.output): r for r in rows}
    head = "".join(f"<th>{escape(a)}</th>" for a in artifacts)
    out = [f"<table class=outputs><tr><th>output</th><th>shape</th>{head}</tr>"]
    for name in outputs:
        shape = next(r.shape for r in rows if r.output == name)
        tds = []
        for a in artifacts:
            r = cell.get((a, name))
            if r is None:
                tds.append("<td></td>")
                continue
            cls = "info" if r.informational and r.passed else "ok" if r.passed else "bad"
            mark = "info" if r.informational and r.passed else "✓" if r.passed else "✗"
            tds.append(
                f'<td class="num {cls}" title="atol {r.atol:g}, rtol {r.rtol:g}">{r.worst_ratio:.3g}× '
                f"{mark}<br><small>max |err| {r.max_abs_error:.2g}</small></td>"
            )
        out.append(
            f"<tr><td class=mono>{escape(name)}</td><td class=mono>{escape('x'.join(map(str, shape)))}</td>{''.join(tds)}</tr>"
        )
    tol = []
    for a in artifacts:
        fams = dict.fromkeys(f"{r.atol:g}/{r.rtol:g}" for r in rows if r.artifact == a)
        tol.append(f"<td class=num><small>{escape(', '.join(fams))}</small></td>")
    if faces:
        tds = []
        for a in artifacts:
            found, missed, extra, passed, rates = faces.get(a, (0, 0, 0, True, ""))
            cls = "ok" if passed else "bad"
            rates = f"<br><small>{escape(rates)}</small>" if rates else ""
            tds.append(f'<td class="num {cls}">{found} faces<br><small>{missed} missed, {extra} extra</small>{rates}</td>')
        out.append(f"<tr><td colspan=2>faces above the threshold (MXNet), and the artifact's missed and extra ones</td>"
                   f"{''.join(tds)}</tr>")  # fmt: skip
    out.append(f"<tr><td colspan=2><small>atol/rtol (cls_prob, bbox_pred)</small></td>{''.join(tol)}</tr>")
    if judged:
        how = "".join(f"<td class=num><small>{escape(judged.get(a, ''))}</small></td>" for a in artifacts)
        out.append(f"<tr><td colspan=2><small>judged by, and the execution the CPU ran</small></td>{how}</tr>")
    out.append("</table>")
    return "".join(out)


def _faces_table(rows: Sequence[Mapping[str, Any]]) -> str:
    out = ["<table><tr><th>faces artifact</th><th>fit, floor</th><th>faces</th><th>missed</th><th>extra</th>"
           "<th>min IoU</th><th>score, box drift</th><th>result</th></tr>"]  # fmt: skip
    for r in rows:
        control = r.get("control")
        good = r["caught"] if control else r["passed"]
        verdict = ("caught" if good else "NOT caught") if control else ("PASS" if good else "FAIL")
        if "recall" in r:
            verdict += f" (recall {r['recall']:.2f}, precision {r['precision']:.2f})"
        elif r["failed_shapes"] and not control:
            verdict += f" at {', '.join(r['failed_shapes'])}"
        name = f"{r['label']}<br><small>{escape(r.get('description', ''))}</small>" if control else escape(r["label"])
        out.append(
            f"<tr><td>{name}</td><td>{escape(str(r['fit']))}, {r['score_floor']:g}</td><td>{r['faces']}</td>"
            f"<td>{r['missed']}</td><td>{r['extra']}</td><td>{r['min_iou']:.4f}</td><td>{r['max_score_drift']:.2g}, {r['max_box_drift']:.2g} px</td>"
            f'<td class="{"ok" if good else "bad"}">{escape(verdict)}</td></tr>'
        )
    out.append("</table>")
    return "".join(out)


def _kv_table(items: Mapping[str, Any], mono_values: bool = False, key_title: str = "", value_title: str = "") -> str:
    rows = [f"<table><tr><th>{escape(key_title)}</th><th>{escape(value_title)}</th></tr>" if key_title else "<table>"]
    cls = " class=mono" if mono_values else ""
    rows += [f"<tr><td>{escape(k)}</td><td{cls}>{escape(v)}</td></tr>" for k, v in items.items()]
    rows.append("</table>")
    return "".join(rows)


def save_report(data: ReportData, path: str | Path) -> Path:
    """Render ``data`` and write the page to ``path`` atomically."""
    from ..fsutil import atomic_write_text

    return atomic_write_text(path, render_html(data))


# --------------------------------------------------------------------------- from the verifier

#: ``{check label or "reference": [one {output name: array} per sample]}``: the raw outputs
#: the histograms are drawn from.
RawOutputs = Mapping[str, Sequence[Mapping[str, np.ndarray]]]


def report_data(result, raw: RawOutputs | None = None, title: str = "sshconv verify: ssh-mxnet") -> ReportData:
    """A :class:`ReportData` from a :class:`sshconv.verification.VerifyResult`.

    ``raw`` (default: ``result.raw_outputs`` if the verifier kept them) gives the
    element-wise errors for the histograms; without it the page has the tables and
    pictures but no histograms, and says so.
    """
    raw = raw if raw is not None else getattr(result, "raw_outputs", None)
    checks = list(result.checks) + list(result.pairs)
    data = ReportData(title=title, passed=bool(result.passed), verdict=verdict_text(result))
    data.faces_artifacts = [f.to_dict() for f in getattr(result, "faces", [])]
    for c in checks:
        data.judged[_check_label(c)] = _judged(c)
        if c.detections:
            rates = "" if c.detection_thresholds is None else f"recall {c.recall:.2f}, precision {c.precision:.2f}"
            data.faces[_check_label(c)] = (sum(d.parity.reference for d in c.detections), c.missed, c.extra,
                                           c.detections_passed, rates)  # fmt: skip
        several = len(c.input_shapes) > 1
        for o in c.outputs:
            data.rows.append(
                OutputRow(
                    artifact=_check_label(c),
                    output=f"{o.name} @ {'x'.join(map(str, o.input_shape))}" if several else o.name,
                    shape=tuple(o.reference_shape),
                    max_abs_error=float(o.max_abs),
                    worst_ratio=float(o.margin),
                    atol=o.tolerance.atol,
                    rtol=o.tolerance.rtol,
                    passed=bool(o.passed),
                    informational=bool(o.informational),
                )  # fmt: skip
            )
    if raw:
        reference = raw.get("reference") or raw.get(result.reference)
        for c in result.checks:
            outs = raw.get(c.label)
            if not outs or not reference:
                continue
            for o in c.outputs:
                if o.problem or o.informational:  # INT8's errors would only stretch the float tolerances' scale
                    continue
                # One statistics entry per input shape: each histogram takes that shape's samples only.
                mine = [i for i, s in enumerate(result.samples) if not o.input_shape or tuple(s.tensor.shape) == o.input_shape]
                units = np.concatenate(
                    [tolerance_units(reference[i][o.name], outs[i][o.name], o.tolerance.atol, o.tolerance.rtol) for i in mine]
                )
                label = _check_label(c) + (f" @ {'x'.join(map(str, o.input_shape))}" if len(c.input_shapes) > 1 else "")
                data.errors.setdefault(o.name, []).append((label, units))
    else:
        data.notes.append("Histograms need the raw outputs, which this result does not hold; the tables above are complete.")
    samples = {s.index: s for s in result.samples}
    for c in result.checks:
        # Photos first: a reader looks for faces before noise and patterns.
        for d in sorted(c.detections, key=lambda d: (getattr(samples.get(d.sample), "kind", "") != "photo", d.sample)):
            s = samples.get(d.sample)
            if s is None:
                continue
            jpeg = overlay_jpeg(s.tensor, d.reference, d.candidate, tuple(s.scale), truth=s.faces or None)
            data.overlays.append(
                Overlay(
                    f"sample {s.index}: {s.label}",
                    _check_label(c),
                    jpeg,
                    d.parity.reference,
                    d.parity.candidate,
                    d.parity.matched,
                    d.parity.missed,
                    d.parity.extra,
                )
            )
    data.notes.insert(0, checkpoint_text(result))
    if result.controls:
        caught = sum(1 for ctl in result.controls if ctl.caught)
        data.notes.append(
            f"Negative controls (copies of a checked model with one known defect each): {caught} of "
            f"{len(result.controls)} caught: "
            + "; ".join(
                f"{ctl.of} {ctl.name}: {'caught' if ctl.caught else 'MISSED'} ({_deciding(ctl.check)})" for ctl in result.controls
            )
        )
    data.environment = dict(result.environment)
    data.environment["reference"] = result.reference
    data.environment["samples"] = ", ".join(s.label for s in result.samples)
    for c in result.checks:
        data.environment[f"{c.label} execution"] = f"asked {c.execution or 'default'}, ran {c.execution_used or '?'}"
    data.hashes = dict(result.hashes)
    for c in result.checks:
        for name, digest in c.model_sha256.items():
            data.hashes[f"{c.label}: {name}"] = digest
    for s in result.samples:
        data.hashes[f"sample {s.index} ({s.label}) tensor"] = s.sha256
    return data


def checkpoint_text(result) -> str:
    """What checkpoint the page judges the artifacts against, in one sentence."""
    ck = result.checkpoint or {}
    ran = f" Run by {result.reference} ({result.reference_note})." if result.reference_note else ""
    params = {k.split(":", 1)[1]: v for k, v in result.hashes.items() if k.startswith("checkpoint:")}
    files = ", ".join(f"{n} sha256 {d[:12]}…" for n, d in sorted(params.items())) or "files not recorded"
    if ck.get("synthetic"):
        return (f"Judged against a synthetic checkpoint made by `sshconv synth` ({files}): the exact sshb architecture "
                "with designed and trained weights that find the faces of generated photos, not upstream's trained "
                "weights; its faces say whether the conversion is right, not how good the real detector is." + ran)  # fmt: skip
    return f"Judged against the checkpoint {files} (reference: {result.reference}).{ran}"


def _check_label(check) -> str:
    """The engine's label, as every command names it (sshconv.engines)."""
    return check.label


def _judged(check) -> str:
    how = "faces (INT8)" if check.detection_thresholds is not None else f"{check.tolerance_set} tolerances"
    return how + (f", ran {check.execution_used}" if check.execution_used else "")


def _deciding(check) -> str:
    """What decided a check: the worst output's multiple of its tolerance, or a quantized model's recall and precision."""
    if check.detection_thresholds is not None:
        return f"recall {check.recall:.2f}, precision {check.precision:.2f}"
    return f"worst {check.margin:.3g}× tolerance"


def verdict_text(result) -> str:
    """One sentence: what passed or failed, against what, how close to the tolerance."""
    checks = list(result.checks)
    faces = [f for f in getattr(result, "faces", []) if not f.control]
    failed = [_with_shapes(c) for c in checks if not c.passed] + [_with_shapes(p) for p in result.pairs if not p.passed]
    failed += [f.label for f in faces if not f.passed]
    if failed:
        total = len(checks) + len(result.pairs) + len(faces)
        text = f"{len(failed)} of {total} checks differ from {result.reference} beyond tolerance: {', '.join(failed)}"
        stopped = getattr(result, "stopped_after", None)
        return text + (f" (fail fast: stopped after {stopped}, the models after it not run)" if stopped else "")
    judged = [c for c in checks if c.detection_thresholds is None]
    worst = max((c.margin for c in judged), default=0.0)
    shapes = list(dict.fromkeys(tuple(s.tensor.shape) for s in result.samples))
    at = f" at {len(shapes)} input shapes ({', '.join('x'.join(map(str, x)) for x in shapes)})" if len(shapes) > 1 else ""
    what = f"all {len(checks)} converted model(s) match {result.reference}" if checks else "checked against " + result.reference
    text = f"{what} on {len(result.samples)} sample(s){at}"
    if judged:
        text += f"; worst output at {worst:.3g}× its tolerance"
    by_faces = [c for c in checks if c.detection_thresholds is not None]
    if by_faces:
        text += (
            f"; {len(by_faces)} INT8 IR(s) keep the reference's faces (recall >= {min(c.recall for c in by_faces):.2f}, "
            f"precision >= {min(c.precision for c in by_faces):.2f})"
        )
    if result.pairs:
        text += f"; {len(result.pairs)} route-vs-route pair(s) agree"
    if faces:
        text += f"; {len(faces)} faces artifact(s) give the reference decoder's faces"
    if result.self_test:
        text += "; every negative control was caught" if result.controls_caught else "; a negative control was NOT caught"
    return text


def _with_shapes(check) -> str:
    """A failed check's label, with the input shapes it failed at when it was checked at several."""
    if len(check.input_shapes) < 2:
        return check.label
    return f"{check.label} (failed at {', '.join(check.failed_shapes)})"


def write_report(result, path: str | Path, raw: RawOutputs | None = None) -> Path:
    """Write the HTML report of a verification to ``path`` (atomically); return the path."""
    path = Path(path)
    page = save_report(report_data(result, raw), path)
    log.info("report written: %s", page)
    return page
