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

import base64
import html
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Boxes drawn per engine on a sample image: the best-scoring ones (a synthetic or
#: untrained checkpoint can give thousands, which would hide the picture).
MAX_DRAWN_BOXES = 25
#: Width in pixels of the sample images on the page (they are downscaled to it).
SAMPLE_WIDTH = 256
#: Histogram bins, log-spaced over this range of tolerance units.
HIST_RANGE = (1e-6, 1e2)
HIST_BINS = 64
JPEG_QUALITY = 85
REFERENCE_COLOR = (255, 64, 64)  # RGB: MXNet boxes
CANDIDATE_COLOR = (0, 220, 0)  # RGB: converted model boxes


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
    #: artifact -> (reference faces, missed, extra): detection parity, part of each check's verdict
    faces: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- pictures


def tolerance_units(reference: np.ndarray, candidate: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """Element-wise ``|candidate - reference| / (atol + rtol * |reference|)``, flattened (``<= 1`` passes)."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    cand = np.asarray(candidate, dtype=np.float64).ravel()
    limit = atol + rtol * np.abs(ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        units = np.abs(cand - ref) / limit
    return np.where(limit > 0, units, np.where(cand == ref, 0.0, np.inf))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def histogram_png(output: str, series: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """A PNG histogram of each artifact's errors (tolerance units, log axis) for one output."""
    plt = _pyplot()
    lo, hi = HIST_RANGE
    bins = np.logspace(np.log10(lo), np.log10(hi), HIST_BINS + 1)
    fig, ax = plt.subplots(figsize=(5.6, 2.6 + 0.16 * len(series)), dpi=100)
    try:
        for label, units in series:
            finite = np.asarray(units, dtype=np.float64)
            exact = int(np.count_nonzero(finite == 0))
            shown = np.clip(finite[finite > 0], lo, hi)  # out-of-range errors pile into the end bins
            worst = float(np.max(finite)) if finite.size else 0.0
            ax.hist(shown, bins=bins, histtype="step", linewidth=1.6, label=f"{label} (max {worst:.3g}, {exact} exact)")
        ax.axvline(1.0, color="#c00", linestyle="--", linewidth=1.2)
        ax.text(1.0, 0.97, " tolerance", color="#c00", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("|IR - MXNet| / (atol + rtol·|MXNet|)", fontsize=8)
        ax.set_ylabel("elements", fontsize=8)
        ax.set_title(output, fontsize=9, family="monospace")
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.25)
        fig.tight_layout()
        # The legend goes under the axes, where it cannot hide a curve.
        height = fig.get_figheight()
        legend_in = 0.16 * len(series) + 0.15
        fig.subplots_adjust(bottom=(legend_in + 0.45) / height)
        fig.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.08, 0.0), frameon=False, ncol=1)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def overlay_jpeg(
    raw_bgr: np.ndarray, reference: np.ndarray, candidate: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)
) -> bytes:
    """The sample image (``[1,3,H,W]`` raw BGR or ``H x W x 3``) with both sets of boxes, as JPEG bytes.

    Reference (MXNet) boxes are drawn thick in red, the converted model's thin in green
    over them, so a green box inside a red one means agreement. Only the
    :data:`MAX_DRAWN_BOXES` best of each are drawn. ``scale`` is ``(sy, sx)``, network
    pixels per photo pixel, in which the boxes are given: the picture is drawn back in the
    photo's own proportions, :data:`SAMPLE_WIDTH` pixels wide.
    """
    from PIL import Image, ImageDraw

    arr = np.asarray(raw_bgr)
    if arr.ndim == 4:
        arr = arr[0].transpose(1, 2, 0)
    rgb = np.clip(arr[:, :, ::-1], 0, 255).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(rgb))
    sy, sx = scale
    photo_w, photo_h = img.width / sx, img.height / sy
    kx = SAMPLE_WIDTH / photo_w
    height = max(1, round(photo_h * kx))
    ky = height / photo_h
    img = img.resize((SAMPLE_WIDTH, height), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    for dets, color, width in ((reference, REFERENCE_COLOR, 3), (candidate, CANDIDATE_COLOR, 1)):
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        dets = dets[np.argsort(-dets[:, 4], kind="stable")][:MAX_DRAWN_BOXES]
        for x1, y1, x2, y2, _ in dets:
            draw.rectangle([x1 * kx, y1 * ky, x2 * kx, y2 * ky], outline=color, width=width)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)  # random-noise samples are 10x smaller than as PNG
    return buf.getvalue()


# --------------------------------------------------------------------------- page

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1200px;
       padding: 0 16px; color: #1d1d1f; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.verdict { font-size: 18px; font-weight: 600; padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.pass { background: #e3f6e5; color: #14591d; border: 1px solid #9fd8a6; }
.fail { background: #fde7e7; color: #8a1111; border: 1px solid #f0a3a3; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f4f4f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { color: #14591d; font-weight: 600; } td.bad { color: #8a1111; font-weight: 600; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; max-width: 260px; }
h3 { font-size: 14px; margin: 14px 0 6px; } table.outputs td { min-width: 90px; } small { color: #555; font-weight: 400; }
img { display: block; border: 1px solid #ddd; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px -1px 10px; }
"""


def _data_uri(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_html(data: ReportData) -> str:
    """The whole page as one string (no external resources)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(data.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(data.title)}</h1>",
        f'<div class="verdict {"pass" if data.passed else "fail"}">{"PASS" if data.passed else "FAIL"}: {_e(data.verdict)}</div>',
    ]
    parts += [f"<p>{_e(n)}</p>" for n in data.notes]

    parts.append("<h2>Outputs</h2>")
    parts.append(
        "<p>Each converted artifact against MXNet on the same raw-BGR samples. An output passes when every element has "
        "<code>|IR − MXNet| ≤ atol + rtol·|MXNet|</code>. Each cell gives the <b>worst error as a multiple of that "
        "limit</b> (≤ 1 passes) and, below it, the largest absolute error; the tolerance used heads each column.</p>"
    )
    parts.append(_output_table(data.rows, data.faces))
    if data.errors:
        parts.append("<h2>Error histograms</h2>")
        parts.append(
            "<p>Per output, how the element-wise errors of each artifact spread, in units of that element's tolerance "
            "(the dashed line is the limit). Elements with no error at all are counted in the legend; artifacts with identical outputs draw the same curve, the last one on top.</p>"
        )
        parts.append('<div class="grid">')
        for output, series in data.errors.items():
            png = histogram_png(output, series)
            parts.append(f'<figure><img alt="error histogram of {_e(output)}" src="{_data_uri(png)}"></figure>')
        parts.append("</div>")

    if data.overlays:
        parts.append("<h2>Detections</h2>")
        parts.append(
            '<p class="legend">Boxes decoded from each engine\'s outputs, per sample (rows) and artifact (columns):'
            '<span style="background:#ff4040"></span>MXNet (thick)<span style="background:#00dc00"></span>converted model '
            f"(thin, on top). At most {MAX_DRAWN_BOXES} best boxes of each are drawn; the counts are of all boxes at the "
            "threshold. A face clearly above it on one side and not found by the other is missed or extra and fails the check.</p>"
        )
        by_sample: dict[str, list[Overlay]] = {}
        for o in data.overlays:
            by_sample.setdefault(o.sample, []).append(o)
        for sample, overlays in by_sample.items():
            parts.append(f'<h3>{_e(sample)}</h3><div class="grid">')
            for o in overlays:
                cap = (f"{o.artifact}: MXNet {o.reference_boxes}, converted {o.candidate_boxes}, matched {o.matched}, "
                       f"missed {o.missed}, extra {o.extra}")  # fmt: skip
                uri = _data_uri(o.jpeg, "image/jpeg")
                parts.append(f'<figure><img alt="{_e(sample)} {_e(cap)}" src="{uri}"><figcaption>{_e(cap)}</figcaption></figure>')
            parts.append("</div>")

    parts.append("<h2>Environment</h2>")
    parts.append(_kv_table(data.environment))
    parts.append("<h2>Files and hashes</h2>")
    parts.append(_kv_table(data.hashes, mono_values=True, key_title="file", value_title="sha256"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _output_table(rows: Sequence[OutputRow], faces: Mapping[str, tuple[int, int, int]] | None = None) -> str:
    """Outputs down, artifacts across; each cell the worst ratio to tolerance and the max |error|."""
    artifacts = list(dict.fromkeys(r.artifact for r in rows))
    outputs = list(dict.fromkeys(r.output for r in rows))
    cell = {(r.artifact, r.output): r for r in rows}
    head = "".join(f"<th>{_e(a)}</th>" for a in artifacts)
    out = [f"<table class=outputs><tr><th>output</th><th>shape</th>{head}</tr>"]
    for name in outputs:
        shape = next(r.shape for r in rows if r.output == name)
        tds = []
        for a in artifacts:
            r = cell.get((a, name))
            if r is None:
                tds.append("<td></td>")
                continue
            cls = "ok" if r.passed else "bad"
            tds.append(
                f'<td class="num {cls}" title="atol {r.atol:g}, rtol {r.rtol:g}">{r.worst_ratio:.3g}× '
                f"{'✓' if r.passed else '✗'}<br><small>max |err| {r.max_abs_error:.2g}</small></td>"
            )
        out.append(f"<tr><td class=mono>{_e(name)}</td><td class=mono>{_e('x'.join(map(str, shape)))}</td>{''.join(tds)}</tr>")
    tol = []
    for a in artifacts:
        fams = dict.fromkeys(f"{r.atol:g}/{r.rtol:g}" for r in rows if r.artifact == a)
        tol.append(f"<td class=num><small>{_e(', '.join(fams))}</small></td>")
    if faces:
        tds = []
        for a in artifacts:
            found, missed, extra = faces.get(a, (0, 0, 0))
            cls = "ok" if missed == extra == 0 else "bad"
            tds.append(f'<td class="num {cls}">{found} faces<br><small>{missed} missed, {extra} extra</small></td>')
        out.append(f"<tr><td colspan=2>faces above the threshold (MXNet), and the artifact's missed and extra ones</td>"
                   f"{''.join(tds)}</tr>")  # fmt: skip
    out.append(f"<tr><td colspan=2><small>atol/rtol (cls_prob, bbox_pred)</small></td>{''.join(tol)}</tr>")
    out.append("</table>")
    return "".join(out)


def _kv_table(items: Mapping[str, Any], mono_values: bool = False, key_title: str = "", value_title: str = "") -> str:
    rows = [f"<table><tr><th>{_e(key_title)}</th><th>{_e(value_title)}</th></tr>" if key_title else "<table>"]
    cls = " class=mono" if mono_values else ""
    rows += [f"<tr><td>{_e(k)}</td><td{cls}>{_e(v)}</td></tr>" for k, v in items.items()]
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
    for c in checks:
        if c.detections:
            data.faces[_check_label(c)] = (sum(d.parity.reference for d in c.detections), c.missed, c.extra)
        for o in c.outputs:
            data.rows.append(
                OutputRow(
                    artifact=_check_label(c),
                    output=o.name,
                    shape=tuple(o.reference_shape),
                    max_abs_error=float(o.max_abs),
                    worst_ratio=float(o.margin),
                    atol=o.tolerance.atol,
                    rtol=o.tolerance.rtol,
                    passed=bool(o.passed),
                )  # fmt: skip
            )
    if raw:
        reference = raw.get("reference") or raw.get(result.reference)
        for c in result.checks:
            outs = raw.get(c.label)
            if not outs or not reference:
                continue
            for o in c.outputs:
                if o.problem:
                    continue
                units = np.concatenate(
                    [tolerance_units(r[o.name], x[o.name], o.tolerance.atol, o.tolerance.rtol) for r, x in zip(reference, outs)]
                )
                data.errors.setdefault(o.name, []).append((_check_label(c), units))
    else:
        data.notes.append("Histograms need the raw outputs, which this result does not hold; the tables above are complete.")
    samples = {s.index: s for s in result.samples}
    for c in result.checks:
        for d in c.detections:
            s = samples.get(d.sample)
            if s is None:
                continue
            jpeg = overlay_jpeg(s.tensor, d.reference, d.candidate, tuple(s.scale))
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
    if result.controls:
        caught = sum(1 for ctl in result.controls if ctl.caught)
        data.notes.append(
            f"Negative controls (copies of a checked model with one known defect each): {caught} of "
            f"{len(result.controls)} caught: "
            + "; ".join(
                f"{ctl.of} {ctl.name}: {'caught' if ctl.caught else 'MISSED'} (worst {ctl.check.margin:.3g}× tolerance)"
                for ctl in result.controls
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


def _check_label(check) -> str:
    hint = f", {check.execution_used} exec" if check.execution_used else ""
    return f"{check.label} ({check.tolerance_set} tol{hint})"


def verdict_text(result) -> str:
    """One sentence: what passed or failed, against what, how close to the tolerance."""
    checks = list(result.checks)
    failed = [c.label for c in checks if not c.passed] + [p.label for p in result.pairs if not p.passed]
    if failed:
        return f"{len(failed)} of {len(checks) + len(result.pairs)} checks differ from {result.reference} beyond tolerance: {', '.join(failed)}"
    worst = max((c.margin for c in checks), default=0.0)
    text = (
        f"all {len(checks)} converted model(s) match {result.reference} on {len(result.samples)} sample(s); "
        f"worst output at {worst:.3g}× its tolerance"
    )
    if result.pairs:
        text += f"; {len(result.pairs)} route-vs-route pair(s) agree"
    if result.self_test:
        text += "; every negative control was caught" if result.controls_caught else "; a negative control was NOT caught"
    return text


def write_report(result, path: str | Path, raw: RawOutputs | None = None) -> Path:
    """Write the HTML report of a verification to ``path`` (atomically); return the path."""
    path = Path(path)
    page = save_report(report_data(result, raw), path)
    log.info("report written: %s", page)
    return page
