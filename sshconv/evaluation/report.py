"""The evaluation as one self-contained HTML page: the table, a precision-recall plot per engine, the worst photos.

The plots are inline SVG drawn here (no plotting library); the worst photos are JPEGs with
MXNet's faces (thick, red) and the engine's (thin, green) drawn over them, as verify's
report draws them, embedded as data URIs. Nothing on the page is fetched.
"""

from __future__ import annotations

from pathlib import Path

from ..engines import REFERENCE
from ..html import CSS, data_uri, escape
from . import omz
from .worker import FACE_THRESHOLD

PLOT_SIZE = (320, 240)
MARGIN = 36


#: The colours of WIDER's three settings' curves (Easy, Medium, Hard).
SETTING_COLOURS = {"easy": "#2a9d2a", "medium": "#e08a00", "hard": "#c62828"}


def _pr_svg(label: str, curves: dict[str, list[tuple[float, float]]], caption: str) -> str:
    """Precision (up) against recall (across), both 0..1, one SVG polyline per named curve."""
    w, h = PLOT_SIZE
    pw, ph = w - MARGIN - 8, h - MARGIN - 8

    def xy(r: float, p: float) -> str:
        return f"{MARGIN + r * pw:.1f},{8 + (1 - p) * ph:.1f}"

    lines = "".join(
        f'<polyline fill="none" stroke="{SETTING_COLOURS.get(name, "#1f6fd1")}" stroke-width="1.5" '
        f'points="{" ".join(xy(r, p) for r, p in curve)}"><title>{escape(name)}</title></polyline>'
        for name, curve in curves.items()
    )
    ticks = "".join(
        f'<text x="{MARGIN + v * pw:.0f}" y="{h - 18}" font-size="10" text-anchor="middle">{v:.1f}</text>'
        f'<text x="{MARGIN - 4}" y="{8 + (1 - v) * ph + 3:.0f}" font-size="10" text-anchor="end">{v:.1f}</text>'
        for v in (0.0, 0.5, 1.0)
    )
    return (
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="precision-recall curve of {escape(label)}">'
        f'<rect x="{MARGIN}" y="8" width="{pw}" height="{ph}" fill="#fafafa" stroke="#bbb"/>{ticks}'
        f'<text x="{MARGIN + pw / 2:.0f}" y="{h - 4}" font-size="11" text-anchor="middle">recall</text>'
        f'<text x="10" y="{8 + ph / 2:.0f}" font-size="11" text-anchor="middle" transform="rotate(-90 10 {8 + ph / 2:.0f})">precision</text>'
        f"{lines}</svg><figcaption>{escape(caption)}</figcaption></figure>"
    )


def render_html(result) -> str:
    from ..detection.images import load_bgr
    from ..detection.pictures import overlay_jpeg

    t = result.timing
    protocol, metric = result.method
    with_map, with_wider = metric != "wider", metric != "omz-map"
    has_parity = any(r.parity is not None for r in result.results.values())
    parity_head = "<th>matched</th><th>missed</th><th>extra</th><th>photos differing</th>" if has_parity else ""
    lo, hi = omz.HEIGHT_RANGE
    how = (f"Protocol <b>{escape(protocol)}</b>: " + ("every photo resized to "
           f"{omz.INPUT_SIZE}x{omz.INPUT_SIZE}, the accuracy checker's retinaface adapter (keep_top_k {omz.KEEP_TOP_K} per "
           f"stride, NMS {omz.NMS_THRESHOLD:g}). " if protocol == "omz" else "mxnet-SSH's test_ssh.py (the photo's own aspect "
           "ratio, " + ("shorter side 1200, longer at most 1600" if protocol == "upstream" else
                        "four scales, stride 32 skipped at the largest") + "; top 1000 per stride, one NMS 0.3, threshold 0.05). "))
    if with_map:
        how += (f"mAP as the Open Model Zoo's accuracy checker computes the card's number (faces outside heights {lo}–{hi} "
                "ignored; VOC AP). ")
    if with_wider:
        how += ("Easy / Medium / Hard: WIDER FACE's official evaluation (eval_tools), scores normalised over the dataset, "
                "1000 thresholds, overlap 0.5, the faces each setting's .mat counts. ")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>sshconv eval: ssh-mxnet on {escape(result.dataset.folder.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>sshconv eval: ssh-mxnet on {escape(result.dataset.folder)}</h1>",
        f"<p>{t['photos']} photos. {how}"
        + (f"Face parity: each engine's faces (score ≥ {FACE_THRESHOLD:g}) against MXNet's on the same photo.</p>"
           if has_parity else "No MXNet checkpoint was evaluated, so there is no face parity to show.</p>"),
        f"<p>{escape(checkpoint_text(result))}</p>",
        "<h2>Results</h2>",
        "<table><tr><th>engine</th>" + ("<th>mAP %</th>" + ("<th>Δ vs MXNet (pt)</th>" if has_parity else "")
                                         + "<th>faces counted</th><th>detections</th>" if with_map else "")
        + ("<th>Easy AP</th><th>Medium AP</th><th>Hard AP</th>" if with_wider else "")
        + f"<th>s / photo</th>{parity_head}</tr>",
    ]  # fmt: skip
    ref = result.results.get(REFERENCE)
    for label, r in result.results.items():
        p = r.parity or {}
        cells: list = []
        if with_map:
            delta = "" if ref is None or label == REFERENCE else f"{r.ap.map_percent - ref.ap.map_percent:+.2f}"
            cells += [f"{r.ap.map_percent:.2f}", *([delta] if has_parity else []), r.ap.faces, r.ap.detections]
        if with_wider:
            cells += [f"{w.ap:.4f}" if w.ap is not None else "–" for w in (r.wider or {}).values()]
        cells.append(f"{r.seconds / max(r.photos, 1):.3f}")
        if has_parity:
            cells += [p.get(k, "") for k in ("matched", "missed", "extra", "differing")]
        parts.append(f"<tr><td>{escape(label)}</td>" + "".join(f'<td class="num">{escape(c)}</td>' for c in cells) + "</tr>")
    parts.append("</table>")
    if with_map:
        parts.append('<h2>Precision and recall (OMZ mAP)</h2><div class="grid">')
        parts += [_pr_svg(label, {"map": result.curves.get(label, [])}, f"{label}: mAP {r.ap.map_percent:.2f} %")
                  for label, r in result.results.items()]  # fmt: skip
        parts.append("</div>")
    if with_wider:
        parts.append('<h2>Precision and recall (WIDER FACE, official evaluation)</h2><p class="legend">'
                     + "".join(f'<span style="background:{c}"></span>{s.title()}' for s, c in SETTING_COLOURS.items())
                     + '</p><div class="grid">')  # fmt: skip
        for label, r in result.results.items():
            if r.wider is not None:
                aps = " / ".join(f"{w.ap:.4f}" if w.ap is not None else "-" for w in r.wider.values())
                parts.append(_pr_svg(label, {s: w.curve() for s, w in r.wider.items()}, f"{label}: Easy / Medium / Hard AP {aps}"))
        parts.append("</div>")
    if result.worst:
        parts.append("<h2>Photos where the faces differ most from MXNet's</h2>")
        parts.append('<p class="legend"><span style="background:#ff4040"></span>MXNet (thick)'
                     '<span style="background:#00dc00"></span>the engine (thin, on top)'
                     '<span style="background:#286eff"></span>the labelled faces</p><div class="grid">')  # fmt: skip
        truth = _labelled_faces(result, {w["index"] for w in result.worst})
        for w in result.worst:
            try:
                bgr = load_bgr(result.dataset.images / w["photo"])
            except Exception:  # noqa: BLE001 - a photo gone since the run: the row is still listed
                bgr = None
            cap = f"{w['photo']}, {w['engine']}: matched {w['matched']}, missed {w['missed']}, extra {w['extra']}"
            if bgr is None:
                parts.append(f"<figure><figcaption>{escape(cap)} (photo not readable now)</figcaption></figure>")
                continue
            jpeg = overlay_jpeg(bgr, w["boxes"][REFERENCE], w["boxes"][w["engine"]], truth=truth.get(w["index"]))
            parts.append(
                f'<figure><img alt="{escape(cap)}" src="{data_uri(jpeg, "image/jpeg")}"><figcaption>{escape(cap)}</figcaption></figure>'
            )
        parts.append("</div>")
    if t.get("overhead_percent") is not None:
        parts.append(f"<p><small>{t['inference_seconds']:.1f} s of inference in all; the workers spent {t['overhead_percent']:.1f} % "
                     f"more reading, resizing, decoding and matching. {result.workers['count']} worker(s), {escape(result.workers['kind'])}."
                     "</small></p>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def checkpoint_text(result) -> str:
    """What checkpoint the evaluation ran, in one sentence (the reference of the parity, when there is one)."""
    mx = next((e for e in result.engines if e.is_reference), None)
    if mx is None:
        return "Models evaluated on their own: " + ", ".join(e.label for e in result.engines) + "."
    files = ", ".join(f"{n} sha256 {d[:12]}…" for n, d in sorted(mx.files.items()))
    if result.checkpoint.get("synthetic"):
        return (f"MXNet runs a synthetic checkpoint made by `sshconv synth` ({files}): the exact sshb architecture, "
                "weights that find generated photos' faces. These figures say whether the conversions keep its faces, "
                "not how the real detector scores.")  # fmt: skip
    return f"MXNet runs the checkpoint {files}."


def _labelled_faces(result, indices: set[int]) -> dict[int, list[tuple[int, int, int, int]]]:
    """The ground truth of the photos ``indices`` (x1 y1 x2 y2, upstream's +1 convention), read from the dataset again."""
    found = {}
    try:
        for i, photo in enumerate(result.dataset.photos()):
            if i in indices:
                found[i] = [(f.x, f.y, f.x + f.w - 1, f.y + f.h - 1) for f in photo.faces]
    except Exception:  # noqa: BLE001 - a ground truth gone since the run: the pictures go without it
        return {}
    return found


def write_report(result, path: str | Path) -> Path:
    from ..fsutil import atomic_write_text, no_space_left

    path = Path(path)
    with no_space_left(path.parent, "report folder"):
        return atomic_write_text(path, render_html(result))
