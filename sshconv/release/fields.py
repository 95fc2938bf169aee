"""Fields of a JSON document read back (a report given to ``bundle``, a bundle's own files on arrival), each checked.

Reports travel and can be edited by hand: a field that is missing, or of another type than the card needs (a
string where a number goes, a list where an object goes), is one error naming the file and the field, with its
path inside the document (``results.ir/mo/FP32.map``), never a ``KeyError`` from deep in the card's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SshconvError

_MISSING = object()
_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "true or false", (int, float): "a number"}


class Field:
    """The value at ``where`` in the JSON file ``file``; a wrong one raises ``error`` saying ``fix``."""

    def __init__(self, value: Any, file: Path, error: type[SshconvError], fix: str, where: str = "") -> None:
        self.raw, self.file, self.error, self.fix, self.where = value, file, error, fix, where

    def _child(self, key: str | int, value: Any) -> Field:
        where = f"{self.where}.{key}" if self.where else str(key)
        return Field(value, self.file, self.error, self.fix, where)

    def fail(self, what: str) -> SshconvError:
        return self.error(f"{self.file}: field {self.where or '(the document)'}: {what}; {self.fix}")

    def _is(self, kind: type | tuple) -> Any:
        ok = isinstance(self.raw, kind) and not (kind == (int, float) and isinstance(self.raw, bool))
        if not ok:
            found = "missing" if self.raw is _MISSING else f"found {_describe(self.raw)}"
            raise self.fail(f"expected {_KINDS[kind]}, {found}")
        return self.raw

    def __getitem__(self, key: str) -> Field:
        """The field ``key`` of this object, which must be there."""
        return self._child(key, self._is(dict).get(key, _MISSING))

    def get(self, key: str, default: Any = None) -> Field:
        """The field ``key`` of this object, or ``default`` when it is absent or null."""
        value = self._is(dict).get(key)
        return self._child(key, default if value is None else value)

    def items(self) -> list[tuple[str, Field]]:
        return [(k, self._child(k, v)) for k, v in self._is(dict).items()]

    def each(self) -> list[Field]:
        """The elements of this list."""
        return [self._child(i, v) for i, v in enumerate(self._is(list))]

    def obj(self) -> dict:
        return self._is(dict)

    def text(self) -> str:
        return self._is(str)

    def number(self) -> float | int:
        return self._is((int, float))

    def flag(self) -> bool:
        return self._is(bool)

    def optional(self, kind: str) -> Any:
        """``None`` if the field is absent or null, else its value as ``kind`` (``number``, ``text``, ``obj``, ``flag``)."""
        return None if self.raw is None or self.raw is _MISSING else getattr(self, kind)()

    def numbers(self) -> list[float | int]:
        return [e.number() for e in self.each()]


def _describe(value: Any) -> str:
    for kind, name in _KINDS.items():
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__
