"""The official evaluation's ground truth: ``wider_face_val.mat`` and the Easy / Medium / Hard ``.mat`` files.

WIDER FACE ships them in ``eval_tools/ground_truth/``, MATLAB 5 files of cell arrays, one cell
an event (``event_list``), and in each: the photos' names without ``.jpg`` (``file_list``),
their faces ``x y w h`` as int32 rows (``face_bbx_list``; a face-free photo has one row of
zeros, as the text file has), the six attribute lists, and in each setting's file
``gt_list``: the 1-based numbers of the faces that count in that setting (the others are
ignored: a detection on one is neither right nor wrong). ``face_bbx_list`` is of MATLAB's int32 class, which
matters (:mod:`sshconv.evaluation.wider_ap`); ``gt_list`` is written as uint32 (WIDER's are doubles stored as
small integers, which Python readers see as integers too: only indices and counts are taken of it).

:func:`read_truth` reads the four files as shipped (untrusted: any flaw is one line, exit 2);
:func:`write_mats` writes them for generated photos with sshconv's own rule of which face
counts where (:func:`settings_of`). WIDER's own rule is not published as code (it grew from
how hard each face was for a proposal method), so generated sets use a documented one.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .wider import ATTRIBUTES, Face, Photo

if TYPE_CHECKING:
    import numpy as np

SETTINGS = ("easy", "medium", "hard")
FACE_MAT = "wider_face_val.mat"
#: Where WIDER's release keeps the .mat files, relative to the dataset's root (then the root itself).
MAT_FOLDERS = ("eval_tools/ground_truth", "ground_truth", ".")
#: The official code reads exactly this many events (``event_num = 61``): files written here have as many, the
#: events without a photo empty and named ``<n>--none`` (WIDER's own names are ``<n>--<Event>``).
OFFICIAL_EVENTS = 61
#: The text header of the .mat files written here (MATLAB 5's is 116 bytes of text).
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by sshconv".ljust(116, b" ")
#: A ground-truth .mat larger than this is refused before it is read (WIDER's are ~0.4 MB), and so is one whose
#: compressed parts would expand beyond it (measured by decompressing into nothing, before scipy reads it).
MAX_MAT_BYTES = 64 * 1024 * 1024
#: At most this many photos in a .mat, and faces in one photo (WIDER's: 16,097 photos in its test set, under 2,000
#: faces in its most crowded photo): a file listing more is not WIDER's, and its rows would take memory and time.
MAX_MAT_PHOTOS = 100_000
MAX_MAT_FACES = 20_000
#: sshconv's rule for generated photos: a valid face counts in Hard from this height (pixels), in Medium from
#: MEDIUM_HEIGHT when at most partly occluded, in Easy from EASY_HEIGHT when unoccluded and in a typical pose.
HARD_HEIGHT = 10
MEDIUM_HEIGHT = 24
EASY_HEIGHT = 48


def setting_mat(setting: str) -> str:
    return f"wider_{setting}_val.mat"


def settings_of(face: Face) -> tuple[str, ...]:
    """The settings a generated face counts in (Hard holds Medium holds Easy; an ``invalid`` face counts in none)."""
    if face.invalid or face.h < HARD_HEIGHT:
        return ()
    if face.h < MEDIUM_HEIGHT or face.occlusion >= 2:
        return ("hard",)
    if face.h < EASY_HEIGHT or face.occlusion or face.pose:
        return ("medium", "hard")
    return SETTINGS


@dataclass(frozen=True)
class MatPhoto:
    event: str
    name: str  # the photo's file name without .jpg, as file_list holds it
    boxes: np.ndarray  # (K, 4) int64 x y w h; a face-free photo: one row of zeros
    keep: np.ndarray  # the 1-based numbers of the faces that count (int64)


@dataclass(frozen=True)
class WiderTruth:
    folder: Path
    listed: tuple[tuple[str, str], ...]  # (event, name) of every photo of wider_face_val.mat
    settings: dict[str, tuple[MatPhoto, ...]]  # per setting, every photo of its file, in its order

    def faces(self, setting: str) -> int:
        return sum(len(p.keep) for p in self.settings[setting])


def photo_key(path: str) -> tuple[str, str]:
    """``(event, name)`` of a ground-truth path ``<event>/<file>.jpg``, as the .mat files and submissions name it."""
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    return (parts[-2] if len(parts) > 1 else ""), (name[: -len(".jpg")] if name.lower().endswith(".jpg") else name)


def check_same_photos(truth: WiderTruth, photo_paths: Iterable[str], ground_truth: str) -> None:
    """The .mat files and the dataset's ground truth (``ground_truth``, its name) list the same photos, else one line
    (exit 2): with another photo set's .mat files every photo would run and Easy, Medium and Hard come out 0."""
    ours = {photo_key(p) for p in photo_paths}
    files = {FACE_MAT: set(truth.listed), **{setting_mat(s): {(p.event, p.name) for p in ps} for s, ps in truth.settings.items()}}
    for name, listed in files.items():
        for extra, where, other in ((listed - ours, name, ground_truth), (ours - listed, ground_truth, name)):
            if extra:
                event, photo = sorted(extra)[0]
                raise InputError(
                    f"ground truth {truth.folder / name}: {where} lists {len(extra)} photo(s) that {other} does not "
                    f"({event}/{photo} the first); the .mat files must be those of the dataset's photos (WIDER FACE's "
                    "eval_tools/ground_truth for its val set, or those `sshconv photos` wrote with them)"
                )


def find_mats(root: Path) -> Path | None:
    """The folder under ``root`` holding all four .mat files, or ``None``."""
    names = [FACE_MAT, *(setting_mat(s) for s in SETTINGS)]
    for sub in MAT_FOLDERS:
        folder = root / sub
        if all((folder / n).is_file() for n in names):
            return folder
    return None


# -- writing ---------------------------------------------------------------------------------------


def _cells(items: Sequence) -> np.ndarray:
    import numpy as np

    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def mat_bytes(photos: Iterable[Photo], setting: str | None = None) -> bytes:
    """One .mat file's bytes: ``wider_face_val.mat`` (``setting`` None) or a setting's, with its ``gt_list``."""
    import numpy as np
    import scipy.io

    events: dict[str, list[Photo]] = {}
    for p in photos:
        events.setdefault(photo_key(p.path)[0], []).append(p)
    n = 0
    while len(events) < OFFICIAL_EVENTS:
        events.setdefault(f"{n}--none", [])
        n += 1

    def per_photo(make) -> np.ndarray:
        return _cells([_cells([make(p) for p in group]) for group in events.values()])

    def boxes(p: Photo) -> np.ndarray:
        rows = [[f.x, f.y, f.w, f.h] for f in p.faces] or [[0, 0, 0, 0]]
        return np.array(rows, dtype=np.int32)

    data = {
        "event_list": _cells(list(events)),
        "file_list": per_photo(lambda p: photo_key(p.path)[1]),
        "face_bbx_list": per_photo(boxes),
    }
    for attr in ATTRIBUTES:
        data[f"{attr}_label_list"] = per_photo(
            lambda p, a=attr: np.array([[getattr(f, a)] for f in p.faces] or [[0]], dtype=np.uint8)
        )
    if setting is not None:
        data["gt_list"] = per_photo(
            lambda p: np.array([[i + 1] for i, f in enumerate(p.faces) if setting in settings_of(f)], dtype=np.uint32).reshape(
                -1, 1
            )
        )
    buf = io.BytesIO()
    scipy.io.savemat(buf, data, do_compression=True)
    # the 116-byte text header names the time of writing: a fixed one keeps the same photos' files byte-identical
    return MAT_HEADER + buf.getvalue()[len(MAT_HEADER) :]


def write_mats(folder: str | Path, photos: Sequence[Photo]) -> list[Path]:
    """The four .mat files of ``photos`` in ``folder`` (each written whole under a temporary name)."""
    from ..fsutil import atomic_write_bytes

    folder = Path(folder)
    written = [atomic_write_bytes(folder / FACE_MAT, mat_bytes(photos))]
    written += [atomic_write_bytes(folder / setting_mat(s), mat_bytes(photos, s)) for s in SETTINGS]
    return written


# -- reading ---------------------------------------------------------------------------------------


def read_truth(folder: str | Path) -> WiderTruth:
    """The four files of ``folder``; each photo's boxes and kept faces checked, any flaw one line (exit 2)."""
    folder = Path(folder)
    listed = tuple((p.event, p.name) for p in _read_mat(folder / FACE_MAT, None))
    return WiderTruth(folder, listed, {s: tuple(_read_mat(folder / setting_mat(s), s)) for s in SETTINGS})


def _read_mat(path: Path, setting: str | None) -> list[MatPhoto]:
    import numpy as np

    fix = "pass the .mat files of WIDER FACE's eval_tools/ground_truth (or those `sshconv photos` writes)"
    from ..fsutil import file_kind

    kind = file_kind(path)
    if kind not in ("file", "missing"):  # a pipe or a device would be waited on, or read for ever
        raise InputError(f"ground truth {path}: is a {kind}, not a file; {fix}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"ground truth {path}: cannot read it ({exc.__class__.__name__}); {fix}") from None
    if size > MAX_MAT_BYTES:
        raise InputError(f"ground truth {path}: {size:,} bytes, more than a WIDER FACE .mat can be; {fix}")
    try:
        expanded = mat_expanded_bytes(path, MAX_MAT_BYTES)
    except (OSError, ValueError) as exc:
        raise InputError(f"ground truth {path}: not a MATLAB 5 .mat file ({exc}); {fix}") from None
    if expanded > MAX_MAT_BYTES:
        raise InputError(f"ground truth {path}: expands to more than {MAX_MAT_BYTES:,} bytes when read, more than a WIDER "
                         f"FACE .mat can; {fix}")  # fmt: skip
    try:
        import scipy.io

        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy's reader raises many kinds on a damaged or foreign file
        raise InputError(
            f"ground truth {path}: not a MATLAB .mat file scipy can read ({exc.__class__.__name__}); {fix}"
        ) from None
    needed = ("event_list", "file_list", "face_bbx_list", *(("gt_list",) if setting else ()))
    missing = [k for k in needed if k not in mat]
    if missing:
        raise InputError(f"ground truth {path}: no {', '.join(missing)} in it; {fix}")
    try:
        events = [_text(e) for e in _flat(mat["event_list"])]
        files, boxes = _flat(mat["file_list"]), _flat(mat["face_bbx_list"])
        keeps = _flat(mat["gt_list"]) if setting else [None] * len(events)
        if not (len(files) == len(boxes) == len(keeps) == len(events)):
            raise ValueError("its lists do not have one cell per event")
        photos = []
        for event, names, rows, kept in zip(events, files, boxes, keeps):
            names, rows = _flat(names), _flat(rows)
            kept = _flat(kept) if kept is not None else [None] * len(names)
            if not (len(names) == len(rows) == len(kept)):
                raise ValueError(f"event {event} lists {len(names)} photos but {len(rows)} box sets")
            if len(photos) + len(names) > MAX_MAT_PHOTOS:
                raise ValueError(f"it lists more than {MAX_MAT_PHOTOS:,} photos")
            for name, box, keep in zip(names, rows, kept):
                name = _text(name)
                box = np.asarray(box)
                if box.size > 4 * MAX_MAT_FACES:
                    raise ValueError(f"{event}/{name}: more than {MAX_MAT_FACES:,} faces in one photo")
                box = box.reshape(-1, 4) if box.size else np.zeros((0, 4))
                if not np.issubdtype(box.dtype, np.number) or not np.isfinite(box).all():
                    raise ValueError(f"{event}/{name}: its boxes are not numbers")
                idx = np.zeros(0, dtype=np.int64) if keep is None else np.asarray(keep, dtype=np.float64).ravel()
                if idx.size and ((idx != np.round(idx)).any() or idx.min() < 1 or idx.max() > len(box)):
                    raise ValueError(f"{event}/{name}: gt_list names a face it does not have")
                photos.append(MatPhoto(event, name, box.astype(np.int64), idx.astype(np.int64)))
    except (ValueError, TypeError, IndexError) as exc:
        raise InputError(f"ground truth {path}: not WIDER FACE's layout ({exc}); {fix}") from None
    return photos


def mat_expanded_bytes(path: Path, budget: int) -> int:
    """How many bytes a MATLAB 5 .mat file's variables take once read, counted without keeping them: its compressed
    variables are decompressed into nothing, a chunk at a time, and the count stops once past ``budget``."""
    import zlib

    total = 0
    with open(path, "rb") as f:
        header = f.read(128)
        if len(header) < 128 or header[126:128] not in (b"IM", b"MI"):
            raise ValueError("no MATLAB 5 header")
        order = "<" if header[126:128] == b"IM" else ">"
        if struct.unpack(order + "H", header[124:126])[0] != 0x0100:
            return 0  # MATLAB 7.3 (HDF5), which scipy does not read: its own error says so
        while total <= budget:
            tag = f.read(8)
            if len(tag) < 8:
                return total
            kind, nbytes = struct.unpack(order + "II", tag)
            if kind >> 16:  # a small element: its bytes are in the tag
                total += kind >> 16
                continue
            if kind != 15:  # miCOMPRESSED is 15; anything else is stored as it is, padded to 8 bytes
                total += nbytes
                f.seek(nbytes + (-nbytes % 8), 1)
                continue
            inflate, left = zlib.decompressobj(), nbytes
            while left > 0 and total <= budget:
                chunk = f.read(min(left, 1 << 16))
                if not chunk:
                    raise ValueError("truncated")
                left -= len(chunk)
                data = inflate.decompress(chunk, 1 << 20)
                total += len(data)
                while inflate.unconsumed_tail and total <= budget:
                    total += len(inflate.decompress(inflate.unconsumed_tail, 1 << 20))
    return total


def _flat(cell) -> list:
    """A MATLAB cell array (N x 1 or 1 x N, as scipy reads it) as a list of its elements."""
    import numpy as np

    arr = np.asarray(cell)
    if arr.dtype != object:
        raise ValueError("a list that should be a cell array is not one")
    return list(arr.ravel())


def _text(value) -> str:
    import numpy as np

    arr = np.asarray(value)
    if arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.ravel()[0])
    if arr.dtype.kind != "U" or arr.size != 1:
        raise ValueError("a name is not text")
    return str(arr.ravel()[0])
