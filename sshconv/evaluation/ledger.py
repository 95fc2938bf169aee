"""The ledger: every photo's results, on disk the moment they are known (SQLite, one transaction a photo).

A run killed at any point (``kill -9`` included) leaves every finished photo in it and
nothing half-written: SQLite's journal undoes a transaction that did not finish.

Each run has a folder of its own under the work folder, named after its identity (the
dataset's and every model's sha256, the engines' labels and the metric's settings):
:func:`run_folder`. The same run started again continues its ledger, skipping the photos it
holds; a different run (other models, another dataset, other settings) gets a folder of its
own, and nothing is mixed. With ``resume`` the user means an earlier run: where none of
this identity exists, the newest ledger of the work folder is opened and its identity
compared, so that a changed model or dataset is named and refused. Each photo's own sha256
is kept too and checked again when a continued run passes it.

The mAP is computed from the ledger's rows (each counted detection: score, true or false
positive), read in score order through an index, so memory stays flat however many photos.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, param
from ..fsutil import space_problem
from ..locking import file_lock
from .omz_map import APResult, average_precision
from .worker import unpack_rows

LEDGER_NAME = "ledger.sqlite"
#: Held by the process that runs a run, beside its ledger.
LOCK_NAME = ".lock"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS engines (id INTEGER PRIMARY KEY, label TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS photos (idx INTEGER PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL,
    faces INTEGER NOT NULL, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (engine INTEGER NOT NULL, idx INTEGER NOT NULL, seconds REAL NOT NULL,
    detections INTEGER NOT NULL, boxes TEXT NOT NULL, matched INTEGER, missed INTEGER, extra INTEGER,
    PRIMARY KEY (engine, idx));
CREATE TABLE IF NOT EXISTS rows (engine INTEGER NOT NULL, score REAL NOT NULL, idx INTEGER NOT NULL,
    rank INTEGER NOT NULL, positive INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rows_order ON rows (engine, score, idx, rank);
CREATE TABLE IF NOT EXISTS wider (engine INTEGER NOT NULL, idx INTEGER NOT NULL, lines BLOB NOT NULL,
    PRIMARY KEY (engine, idx));
"""


class Ledger:
    """The ledger in ``folder``; :meth:`open` creates it or, with ``resume``, checks and continues it."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LEDGER_NAME
        self.conn: sqlite3.Connection | None = None
        self.engine_ids: dict[str, int] = {}
        self._lock = contextlib.ExitStack()

    def open(self, identity: dict[str, Any]) -> int:
        """Open for writing, continuing the ledger that is there (of this identity only); returns the photos it holds."""
        from ..fsutil import ensure_dir, no_space_left

        ensure_dir(self.folder, "work folder")
        # One process a run: a second run of the same evaluation (another terminal, a CI retry) is refused at
        # once instead of writing into, or deleting, the ledger the first one is filling.
        self._lock.enter_context(file_lock(self.folder / LOCK_NAME, 0, what=f"evaluation run {self.folder}",
                                           advice="it is running this same evaluation: let it finish, then run the "
                                           "command again to read its results"))  # fmt: skip
        if self.path.exists() and _holds_nothing(self.path):
            self.path.unlink()  # a run that stopped before its first photo (or inside creating it): nothing to keep
        exists = self.path.exists()
        with no_space_left(self.folder, "work folder"):
            try:
                self.conn = sqlite3.connect(self.path, isolation_level=None)
                self.conn.execute("PRAGMA journal_mode=DELETE")
                self.conn.execute("PRAGMA synchronous=FULL")
                if exists:
                    self._check_identity(identity)
                else:
                    with self._transaction():
                        for statement in filter(str.strip, SCHEMA.split(";")):
                            self.conn.execute(statement)
                        self.conn.execute("INSERT INTO meta VALUES ('identity', ?)", (json.dumps(identity, sort_keys=True),))
                        for label in identity["engines"]:
                            self.conn.execute("INSERT INTO engines (label) VALUES (?)", (label,))
            except sqlite3.DatabaseError as exc:
                if space_problem(exc) is not None:
                    raise  # a full disk, not a damaged ledger: no_space_left names the folder
                raise IntegrityError(
                    f"{self.path}: a damaged ledger ({exc}); remove its folder {self.folder} to run again from scratch"
                ) from None
        self.engine_ids = dict(self.conn.execute("SELECT label, id FROM engines").fetchall())
        return self.photo_count()

    def _check_identity(self, identity: dict[str, Any]) -> None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        if row is None:
            raise IntegrityError(f"{self.path}: damaged, or not a ledger of sshconv eval; remove its folder {self.folder}")
        held = json.loads(row[0])
        for key, what in (("dataset", "the dataset"), ("engines", "the models"), ("settings", "the metric's settings")):
            if held.get(key) != identity.get(key):
                raise IntegrityError(
                    f"{self.path}: {what} changed since this ledger was started ({_difference(held.get(key), identity.get(key))}); "
                    f"results of different inputs are not mixed: run without {param('resume')} to start a run of its own"
                )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One SQLite transaction: all of it lands, or (an error, a kill) none of it."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(
                sqlite3.Error
            ):  # SQLite undoes it anyway when it cannot: the error that matters is the first
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def done(self) -> dict[int, str]:
        """``{photo index: sha256}`` of the photos held."""
        return dict(self.conn.execute("SELECT idx, sha256 FROM photos").fetchall())

    def photo_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM photos").fetchone()[0]

    def add(self, result: dict[str, Any], sha256: str) -> None:
        """One photo's results from every engine, in one transaction."""
        from ..fsutil import no_space_left

        idx = result["index"]
        with no_space_left(self.folder, "work folder"), self._transaction():
            self.conn.execute(
                "INSERT INTO photos VALUES (?, ?, ?, ?, ?)", (idx, result["path"], sha256, result["faces"], result["seconds"])
            )
            for label, found in result["engines"].items():
                eid = self.engine_ids[label]
                parity = found.get("parity", [None, None, None])
                self.conn.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (eid, idx, found["seconds"], found["rows"], json.dumps(found["boxes"]), *parity),
                )
                if "wider" in found:  # the WIDER submission lines, zlib-compressed
                    self.conn.execute("INSERT INTO wider VALUES (?, ?, ?)", (eid, idx, found["wider"]))
                scores, positive = unpack_rows(found)
                self.conn.executemany(
                    "INSERT INTO rows VALUES (?, ?, ?, ?, ?)",
                    ((eid, float(s), idx, rank, int(p)) for rank, (s, p) in enumerate(zip(scores, positive))),
                )

    def average_precision(self, label: str) -> APResult:
        eid = self.engine_ids[label]
        rows, tps = self.conn.execute("SELECT count(*), coalesce(sum(positive), 0) FROM rows WHERE engine = ?", (eid,)).fetchone()
        faces = self.conn.execute("SELECT coalesce(sum(faces), 0) FROM photos").fetchone()[0]
        cursor = self.conn.execute("SELECT score, positive FROM rows WHERE engine = ? ORDER BY score, idx, rank", (eid,))
        return average_precision(((s, bool(p)) for s, p in cursor), faces, tps, rows)

    def wider_lines(self, label: str) -> Iterator[tuple[str, str]]:
        """``(photo path, submission lines)`` of every photo held, for engine ``label``, in the ground truth's order."""
        import zlib

        cursor = self.conn.execute("SELECT p.path, w.lines FROM wider w JOIN photos p ON p.idx = w.idx WHERE w.engine = ?"
                                   " ORDER BY w.idx", (self.engine_ids[label],))  # fmt: skip
        for path, data in cursor:
            try:
                yield path, zlib.decompress(data).decode()
            except (zlib.error, UnicodeDecodeError):
                raise IntegrityError(f"{self.path}: {path}'s detections are damaged; remove the folder {self.folder} "
                                     "to run again from scratch") from None  # fmt: skip

    def totals(self, label: str) -> dict[str, Any]:
        eid = self.engine_ids[label]
        n, seconds, matched, missed, extra, differing = self.conn.execute(
            "SELECT count(*), coalesce(sum(seconds), 0), sum(matched), sum(missed), sum(extra),"
            " sum(CASE WHEN missed + extra > 0 THEN 1 ELSE 0 END) FROM runs WHERE engine = ?",
            (eid,),
        ).fetchone()
        return {"photos": n, "seconds": seconds, "matched": matched, "missed": missed, "extra": extra, "differing": differing}

    def worst(self, limit: int) -> Iterator[dict[str, Any]]:
        """The photos where an engine's faces differ most from MXNet's (missed + extra), worst first."""
        cursor = self.conn.execute(
            "SELECT e.label, r.idx, p.path, r.matched, r.missed, r.extra FROM runs r JOIN engines e ON e.id = r.engine"
            " JOIN photos p ON p.idx = r.idx WHERE r.missed + r.extra > 0"
            " ORDER BY r.missed + r.extra DESC, r.idx, e.label LIMIT ?",
            (limit,),
        )
        for label, idx, path, matched, missed, extra in cursor:
            yield {"engine": label, "index": idx, "photo": path, "matched": matched, "missed": missed, "extra": extra}

    def boxes(self, label: str, idx: int) -> list[list[float]]:
        row = self.conn.execute("SELECT boxes FROM runs WHERE engine = ? AND idx = ?", (self.engine_ids[label], idx)).fetchone()
        return json.loads(row[0]) if row else []

    def timing(self) -> dict[str, float]:
        photos, wall = self.conn.execute("SELECT count(*), coalesce(sum(seconds), 0) FROM photos").fetchone()
        inference = self.conn.execute("SELECT coalesce(sum(seconds), 0) FROM runs").fetchone()[0]
        return {"photos": photos, "worker_seconds": wall, "inference_seconds": inference}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self._lock.close()


def run_folder(work_dir: str | Path, identity: dict[str, Any], resume: bool = False) -> Path:
    """Where this run's ledger lives under ``work_dir``: ``run-<12 hex of its identity's sha256>``.

    With ``resume`` and no ledger of this identity, the newest ledger of ``work_dir`` (a run
    folder, or a ledger of the older one-ledger layout in ``work_dir`` itself) is the run meant:
    opening it then says what changed. Without ``resume`` a run of another identity starts.
    """
    work_dir = Path(work_dir)
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    own = work_dir / f"run-{key}"
    if not resume or (own / LEDGER_NAME).exists():
        return own
    held = [f for f in [work_dir / LEDGER_NAME, *work_dir.glob(f"run-*/{LEDGER_NAME}")] if f.is_file() and not _holds_nothing(f)]
    if not held:
        return own
    return max(held, key=lambda f: f.stat().st_mtime).parent


def _holds_nothing(path: Path) -> bool:
    """``path`` is an sshconv ledger without a photo, or a database without a table; any other file is kept."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:  # killed while its first transaction created the tables: SQLite undid them
                return True
            return {"meta", "photos"} <= tables and conn.execute("SELECT count(*) FROM photos").fetchone()[0] == 0
    except sqlite3.DatabaseError:
        return False


def _difference(held: Any, now: Any) -> str:
    if isinstance(held, dict) and isinstance(now, dict):
        keys = sorted(k for k in set(held) | set(now) if held.get(k) != now.get(k))
        return "; ".join(f"{k}: was {_short(held.get(k))}, now {_short(now.get(k))}" for k in keys[:2])
    return f"was {_short(held)}, now {_short(now)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if value is not None else "absent"
    return text if len(text) <= 90 else text[:87] + "..."
