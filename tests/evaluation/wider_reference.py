"""A second, independent implementation of WIDER FACE's official evaluation, and generated sets that stress its rules.

Written line by line from what the MATLAB ``eval_tools`` do (``read_pred.m``, ``norm_score.m``,
``evaluation.m``, ``boxoverlap.m``, ``VOCap.m``), one detection and one threshold at a time, with
MATLAB's int32 arithmetic spelled out per number; it shares no code with ``sshconv.evaluation``
and reads the .mat files and the submission folder itself. ``rules`` turns single rules off, so
that a test can show that each of them changes the numbers (the comparison can fail).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sshconv.dataset.wider import Face, Photo

#: The rules a test turns off one at a time (each changes the numbers of a generated set). MATLAB's stable sort and
#: its NaN-skipping ``max`` are followed too, but change nothing here: tied detections always fall on the same side
#: of every threshold, and precision is NaN only at the highest thresholds, where recall is 0 and adds nothing.
RULES = ("int32_overlap", "face_free_rows", "plus_one", "normalise")


def _mround(x: float) -> float:
    """double -> int32 as MATLAB converts: nearest, halves away from zero, saturated."""
    if math.isnan(x):
        return 0.0
    r = math.copysign(math.floor(abs(x) + 0.5), x)
    return float(min(max(r, -(2**31)), 2**31 - 1))


def _cells(value) -> list:
    return list(np.asarray(value, dtype=object).ravel())


def _name(value) -> str:
    v = np.asarray(value)
    while v.dtype == object:
        v = np.asarray(v.ravel()[0])
    return str(v.ravel()[0])


def load_mat(path: Path) -> dict:
    import scipy.io

    m = scipy.io.loadmat(str(path))
    events = [_name(e) for e in _cells(m["event_list"])]
    files = [[_name(f) for f in _cells(fl)] for fl in _cells(m["file_list"])]
    boxes = [[np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in _cells(bl)] for bl in _cells(m["face_bbx_list"])]
    keep = None
    if "gt_list" in m:
        keep = [[[int(v) for v in np.asarray(k).ravel()] for k in _cells(kl)] for kl in _cells(m["gt_list"])]
    return {"events": events, "files": files, "boxes": boxes, "keep": keep}


def read_pred(folder: Path, face_mat: dict) -> dict:
    """``read_pred.m``: each listed photo's file; the count line, then that many lines; sorted by score, stable."""
    preds = {}
    for event, names in zip(face_mat["events"], face_mat["files"]):
        for name in names:
            path = folder / event / f"{name}.txt"
            if not path.is_file():
                continue
            lines = path.read_text().split("\n")
            count = int(lines[1].strip())
            if count == 0:
                continue
            rows = [[float(v) for v in lines[k + 2].split()][:5] for k in range(count)]
            order = sorted(range(count), key=lambda k: -rows[k][4])  # MATLAB's sort(..., 'descend') is stable
            preds[(event, name)] = [list(rows[k]) for k in order]
    return preds


def norm_score(preds: dict) -> None:
    hi, lo = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    for rows in preds.values():
        for r in rows:
            hi, lo = max(hi, r[4]), min(lo, r[4])
    for rows in preds.values():
        for r in rows:
            r[4] = (r[4] - lo) / (hi - lo) if hi != lo else float("nan")


def _overlaps(gt: list[list[float]], p: list[float], rules) -> list[float]:
    out = []
    one = 1 if "plus_one" in rules else 0
    for g in gt:
        if "int32_overlap" in rules:
            x1, y1 = _mround(max(g[0], p[0])), _mround(max(g[1], p[1]))
            x2, y2 = _mround(min(g[2], p[2])), _mround(min(g[3], p[3]))
            w, h = x2 - x1 + one, y2 - y1 + one
            inter = _mround(w * h)
            aarea = _mround((g[2] - g[0] + one) * (g[3] - g[1] + one))
            barea = (p[2] - p[0] + one) * (p[3] - p[1] + one)
            union = _mround(_mround(aarea + barea) - inter)
            o = (0.0 if inter == 0 else math.copysign(2**31 - 1, inter)) if union == 0 else _mround(inter / union)
        else:
            x1, y1, x2, y2 = max(g[0], p[0]), max(g[1], p[1]), min(g[2], p[2]), min(g[3], p[3])
            w, h = x2 - x1 + one, y2 - y1 + one
            inter = w * h
            union = (g[2] - g[0] + one) * (g[3] - g[1] + one) + (p[2] - p[0] + one) * (p[3] - p[1] + one) - inter
            o = inter / union if union else 0.0
        if w <= 0 or h <= 0:
            o = 0.0
        out.append(o)
    return out


def evaluate(mats: Path, submission: Path, rules: frozenset[str] | set[str] = frozenset(RULES)) -> dict[str, float | None]:
    """Easy, Medium and Hard AP of a submission folder against the four .mat files in ``mats`` (``rules``: those kept)."""
    face = load_mat(mats / "wider_face_val.mat")
    preds = read_pred(submission, face)
    if "normalise" in rules:
        norm_score(preds)
    aps = {}
    for setting in ("easy", "medium", "hard"):
        m = load_mat(mats / f"wider_{setting}_val.mat")
        curve = [[0.0, 0.0] for _ in range(1000)]
        count_face = 0
        for e, event in enumerate(m["events"]):
            for j, name in enumerate(m["files"][e]):
                gt = [list(b) for b in m["boxes"][e][j]]
                keep = m["keep"][e][j]
                count_face += len(keep)
                if "face_free_rows" not in rules:
                    gt = [g for g in gt if any(g)]
                rows = preds.get((event, name), [])
                if not gt or not rows:
                    continue
                gtx = [[g[0], g[1], g[0] + g[2], g[1] + g[3]] for g in gt]
                recall_list = [0] * len(gt)
                proposal = [1] * len(rows)
                pred_recall = [0] * len(rows)
                for h, r in enumerate(rows):
                    ov = _overlaps(gtx, [r[0], r[1], r[0] + r[2], r[1] + r[3]], rules)
                    best = max(ov)
                    idx = ov.index(best)  # the first of the largest
                    if best >= 0.5:
                        if idx + 1 not in keep:
                            recall_list[idx] = -1
                            proposal[h] = -1
                        elif recall_list[idx] == 0:
                            recall_list[idx] = 1
                    pred_recall[h] = recall_list.count(1)
                for t in range(1, 1001):
                    thresh = 1 - t / 1000
                    last = max((k for k, r in enumerate(rows) if r[4] >= thresh), default=None)
                    if last is not None:
                        curve[t - 1][0] += sum(1 for k in range(last + 1) if proposal[k] == 1)
                        curve[t - 1][1] += pred_recall[last]
        if count_face == 0:
            aps[setting] = None
            continue
        prec = [c[1] / c[0] if c[0] else float("nan") for c in curve]
        rec = [c[1] / count_face for c in curve]
        aps[setting] = vocap(rec, prec)
    return aps


def vocap(rec: list[float], prec: list[float]) -> float:
    mrec, mpre = [0.0, *rec, 1.0], [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        a, b = mpre[i], mpre[i + 1]
        mpre[i] = b if math.isnan(a) else (a if math.isnan(b) else max(a, b))  # MATLAB's max skips NaN
    return sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


# -- generated sets --------------------------------------------------------------------------------


def _score(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A score, half of them with two decimals (so that some tie) and half continuous (so that normalising matters)."""
    value = float(rng.uniform(lo, hi))
    return round(value, 2) if rng.random() < 0.5 else value


def generated_set(seed: int, photos: int = 40) -> tuple[list[Photo], dict[str, np.ndarray]]:
    """Photos with faces (some tiny, invalid or overlapping another, some photos face-free) and detections of them:
    hits, misses, duplicates, detections on ignored faces, false positives and scores with ties."""
    rng = np.random.default_rng(seed)
    events = ("0--Parade", "1--Handshaking", "2--Demonstration")
    out, dets = [], {}
    for i in range(photos):
        path = f"{events[i % 3]}/photo_{seed}_{i}.jpg"
        faces = []
        if rng.random() > 0.12:  # else face-free
            for _ in range(int(rng.integers(1, 7))):
                h = int(rng.choice([6, 12, 20, 30, 50, 90, 160]))
                w = max(1, int(h * rng.uniform(0.7, 1.0)))
                x, y = int(rng.integers(0, 600)), int(rng.integers(0, 400))
                faces.append(Face(x, y, w, h, invalid=int(rng.random() < 0.08), occlusion=int(rng.choice(3)),
                                  pose=int(rng.random() < 0.2)))  # fmt: skip
                if rng.random() < 0.15:  # a face that overlaps this one: a detection may land on both
                    faces.append(Face(x + max(1, w // 6), y, w, h))
        rows = []
        for f in faces:
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):  # a miss, a hit, or a duplicate
                jx, jy = rng.normal(0, 0.08 * f.w, 2)
                s = rng.uniform(0.9, 1.15)
                x1, y1 = f.x + jx, f.y + jy
                rows.append([x1, y1, x1 + f.w * s, y1 + f.h * s, _score(rng, 0.05, 1.0)])
        for _ in range(int(rng.integers(0, 4))):  # false positives
            x1, y1, size = rng.uniform(0, 600), rng.uniform(0, 400), rng.uniform(8, 120)
            rows.append([x1, y1, x1 + size, y1 + size, _score(rng, 0.05, 0.8)])
        if rng.random() < 0.08:
            rows = []  # a photo without a detection
        out.append(Photo(path, tuple(faces)))
        dets[path] = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return out, dets
