"""model.yml -> :class:`~sshconv.model.spec.ModelSpec`, at the edge, once.

Every problem is reported as a :class:`~sshconv.errors.SpecError` whose message names
the file, the path of the bad field, what was expected and what was found.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..errors import SpecError, param
from .mo_args import check_mo_argument
from .spec import (
    ARCHIVE_FORMATS,
    DEFAULT_DETECTION,
    DEFAULT_TOLERANCES,
    OUTPUT_FAMILIES,
    PACKAGED_MODEL_YML,
    PRECISIONS,
    QUANTIZED,
    URL_SCHEMES,
    DetectionThresholds,
    FileSpec,
    InputSpec,
    ModelSpec,
    OutputSpec,
    Postprocessing,
    RegexReplace,
    Tolerance,
    UnpackArchive,
    default_outputs,
    output_family,
    output_stride,
)


class _Field:
    """A value together with its path in the document, for error messages."""

    def __init__(self, source: Path, path: str, value: Any):
        self.source, self.path, self.value = source, path, value

    def fail(self, expected: str, got: Any = ..., hint: str = "") -> SpecError:
        got = self.value if got is ... else got
        where = self.path or "top level"
        msg = f"{self.source}: {where}: expected {expected}, got {_show(got)}"
        return SpecError(msg + (f"; {hint}" if hint else ""))

    def child(self, key: str | int) -> _Field:
        if isinstance(key, int):
            return _Field(self.source, f"{self.path}[{key}]", self.value[key])
        sub = f"{self.path}.{key}" if self.path else key
        return _Field(self.source, sub, self.value.get(key) if isinstance(self.value, dict) else None)

    def mapping(self) -> dict:
        if not isinstance(self.value, dict):
            raise self.fail("a mapping")
        for k in self.value:
            if not isinstance(k, str):
                raise self.fail("string keys", k)
        return self.value

    def items(self) -> list[_Field]:
        if not isinstance(self.value, list):
            raise self.fail("a list")
        return [self.child(i) for i in range(len(self.value))]

    def text(self, optional: bool = False) -> str | None:
        if self.value is None and optional:
            return None
        if not isinstance(self.value, str):
            raise self.fail("a string")
        return self.value

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail("an integer")
        return self.value

    def number(self) -> float:
        v = self.value
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise self.fail("a number") from None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.fail("a finite number")
        return float(v)

    def required(self, key: str) -> _Field:
        m = self.mapping()
        if key not in m:
            sub = f"{self.path}.{key}" if self.path else key
            raise SpecError(f"{self.source}: {sub}: missing; every entry needs {key!r}")
        return self.child(key)


def _show(value: Any) -> str:
    if isinstance(value, str):  # JSON quoting escapes newlines: messages stay one line
        return json.dumps(value if len(value) <= 80 else value[:77] + "...", ensure_ascii=False)
    text = _SHORT_REPR.repr(value)  # bounded: a YAML alias bomb's repr would walk billions of elements
    return text if len(text) <= 80 else text[:77] + "..."


_SHORT_REPR = reprlib.Repr()  # its limits as attributes: Python 3.10 and 3.11 take no arguments
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxtuple, _SHORT_REPR.maxdict = 3, 4, 4, 4
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 60


_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _relative_name(f: _Field) -> str:
    name = f.text()
    pure = PurePosixPath(name)
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        raise f.fail("a relative file name", hint="names are relative to the download folder")
    if ".." in pure.parts or "\x00" in name:
        raise f.fail("a file name without '..'", hint="names must stay inside the download folder")
    return name


def _url(f: _Field) -> str:
    url = f.text()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise f.fail("a URL") from None
    if parts.scheme.lower() not in URL_SCHEMES:
        raise f.fail(f"a URL with scheme {', '.join(URL_SCHEMES)}")
    if parts.scheme.lower() != "file" and not parts.netloc:
        raise f.fail("a URL with a host")
    return url


def _file(f: _Field) -> FileSpec:
    f.mapping()
    name = _relative_name(f.required("name"))
    size_f = f.required("size")
    size = size_f.integer()
    if size < 0:
        raise size_f.fail("a size >= 0")
    sha_f = f.required("sha256")
    sha = sha_f.text()
    if not _SHA256.match(sha):
        raise sha_f.fail("64 hex characters")
    src = f.child("source")
    source = _url(src) if src.value is not None else None
    sources: list[str] = []
    if f.child("sources").value is not None:
        sources = [_url(u) for u in f.child("sources").items()]
    if source is None and not sources:
        # Valid: such a file can still come from --mirror, --from-file or the cache.
        pass
    return FileSpec(name=name, size=size, sha256=sha.lower(), source=source, sources=tuple(sources))


def _postproc(f: _Field, file_names: set[str]) -> Postprocessing:
    f.mapping()
    kind = f.required("$type").text()
    if kind == "unpack_archive":
        name_f = f.required("file")
        name = _relative_name(name_f)
        if name not in file_names:
            raise name_f.fail(f"one of the files ({', '.join(sorted(file_names)) or 'none'})")
        fmt_f = f.required("format")
        fmt = fmt_f.text()
        if fmt not in ARCHIVE_FORMATS:
            raise fmt_f.fail(f"one of {', '.join(ARCHIVE_FORMATS)}")
        return UnpackArchive(file=name, format=fmt)
    if kind == "regex_replace":
        name = _relative_name(f.required("file"))
        pat_f = f.required("pattern")
        pattern = pat_f.text()
        try:
            re.compile(pattern)
        except re.error as exc:
            raise pat_f.fail(f"a valid regular expression ({exc})") from None
        replacement = f.required("replacement").text()
        count = 0
        if f.child("count").value is not None:
            count = f.child("count").integer()
            if count < 0:
                raise f.child("count").fail("a count >= 0")
        return RegexReplace(file=name, pattern=pattern, replacement=replacement, count=count)
    raise f.child("$type").fail("unpack_archive or regex_replace")


_SHAPE_ARG = re.compile(r"^\[(\d+(?:,\d+)*)\]$")
_MEAN_ARG = re.compile(r"^(?:(\w+))?\[([^\]]*)\]$")


def _input_from_mo_args(args: tuple[str, ...], f: _Field) -> InputSpec:
    """Read the input contract out of Model Optimizer's arguments (the single source of truth)."""
    spec = InputSpec(reverse_input_channels=False, mean_values=())
    values: dict[str, Any] = {}
    for i, arg in enumerate(args):
        key, _, val = arg.partition("=")
        item = f.child(i)
        if key == "--input_shape":
            m = _SHAPE_ARG.match(val.replace(" ", ""))
            if not m:
                raise item.fail("--input_shape=[N,C,H,W]")
            values["shape"] = tuple(int(x) for x in m.group(1).split(","))
        elif key == "--input":
            values["name"] = val
        elif key == "--mean_values":
            m = _MEAN_ARG.match(val.replace(" ", ""))
            try:
                means = tuple(float(x) for x in m.group(2).split(",")) if m else ()
            except ValueError:
                means = ()
            if len(means) != 3:
                raise item.fail("--mean_values=NAME[m0,m1,m2]")
            values["mean_values"] = means
        elif key == "--reverse_input_channels":
            values["reverse_input_channels"] = True
    return InputSpec(**{**spec.__dict__, **values})


def _mo_argument(f: _Field) -> str:
    """One Model Optimizer argument, if it only describes the model (:mod:`.mo_args`)."""
    arg = f.text()
    why = check_mo_argument(arg)
    if why:
        raise SpecError(f"{f.source}: {f.path}: {_show(arg)} refused: {why}; remove it from model.yml")
    return arg


def _outputs(f: _Field) -> tuple[OutputSpec, ...]:
    outs = []
    seen = set()
    for item in f.items():
        item.mapping()
        name_f = item.required("name")
        name = name_f.text()
        try:
            output_family(name)
            output_stride(name)
        except SpecError:
            raise name_f.fail(
                f"a name starting with {' or '.join(OUTPUT_FAMILIES.values())} and ending with its stride"
            ) from None
        if name in seen:
            raise name_f.fail("a name not listed before")
        seen.add(name)
        shape_f = item.required("shape")
        dims = [d.integer() for d in shape_f.items()]
        if len(dims) != 4 or any(d <= 0 for d in dims):
            raise shape_f.fail("4 positive dimensions [N,C,H,W]", dims)
        outs.append(OutputSpec(name, tuple(dims)))
    if not outs:
        raise f.fail("at least one output")
    return tuple(outs)


def _sections(f: _Field, allowed: tuple[str, ...], what: str):
    """``(KEY, field)`` for each key of the mapping ``f``, upper-cased; a key not in ``allowed`` is a :class:`SpecError`."""
    for key in f.mapping():
        child = f.child(key)
        if key.upper() not in allowed:
            raise _Field(f.source, child.path, key).fail(f"{what} among {', '.join(allowed)}")
        yield key.upper(), child


def _tolerances(f: _Field) -> dict[str, dict[str, Tolerance]]:
    merged = {p: {fam: Tolerance(**t) for fam, t in fams.items()} for p, fams in DEFAULT_TOLERANCES.items()}
    if f.value is None:
        return merged
    for precision, pf in _sections(f, PRECISIONS, "a precision"):
        for family in pf.mapping():
            ff = pf.child(family)
            if family not in OUTPUT_FAMILIES:
                raise _Field(f.source, ff.path, family).fail(f"an output family among {', '.join(OUTPUT_FAMILIES)}")
            ff.mapping()
            old = merged[precision][family]
            vals = {}
            for key in ("atol", "rtol"):
                if ff.child(key).value is not None:
                    v = ff.child(key).number()
                    if v < 0:
                        raise ff.child(key).fail("a tolerance >= 0")
                    vals[key] = v
            for key in ff.value:
                if key not in ("atol", "rtol"):
                    raise _Field(f.source, f"{ff.path}.{key}", key).fail("atol or rtol")
            merged[precision][family] = Tolerance(vals.get("atol", old.atol), vals.get("rtol", old.rtol))
    return merged


def _detection(f: _Field) -> dict[str, DetectionThresholds]:
    merged = {p: dict(v) for p, v in DEFAULT_DETECTION.items()}
    if f.value is not None:
        for precision, pf in _sections(f, QUANTIZED, "a quantized precision"):
            for key in pf.mapping():
                kf = pf.child(key)
                if key not in ("recall", "precision", "score_slack"):
                    raise _Field(f.source, kf.path, key).fail("recall, precision or score_slack")
                v = kf.number()
                if not 0 <= v <= 1:
                    raise kf.fail("a number from 0 to 1")
                merged[precision][key] = v
    return {p: DetectionThresholds(**v) for p, v in merged.items()}


def parse_model_spec(document: Any, source: Path) -> ModelSpec:
    """Turn a loaded YAML document into a :class:`ModelSpec`, or raise :class:`SpecError`."""
    top = _Field(source, "", document)
    top.mapping()
    files = tuple(_file(f) for f in top.required("files").items())
    if not files:
        raise top.child("files").fail("at least one file", [])
    names = [f.name for f in files]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise top.child("files").fail("distinct file names", sorted(dup))
    post: tuple[Postprocessing, ...] = ()
    if top.child("postprocessing").value is not None:
        post = tuple(_postproc(p, set(names)) for p in top.child("postprocessing").items())
    mo_args: tuple[str, ...] = ()
    if top.child("model_optimizer_args").value is not None:
        mo_args = tuple(_mo_argument(a) for a in top.child("model_optimizer_args").items())
    framework = top.required("framework").text()
    quant = top.child("quantizable").value
    if quant is not None and not isinstance(quant, bool):
        raise top.child("quantizable").fail("yes or no")
    inp = _input_from_mo_args(mo_args, top.child("model_optimizer_args")) if mo_args else InputSpec()
    if top.child("outputs").value is not None:
        outputs = _outputs(top.child("outputs"))
    else:
        outputs = default_outputs(*inp.shape[2:4]) if len(inp.shape) == 4 else default_outputs()
    verification = top.child("verification")
    if verification.value is not None:
        verification.mapping()
    tol = _tolerances(verification.child("tolerances"))
    detection = _detection(verification.child("detection"))
    return ModelSpec(
        path=source,
        files=files,
        postprocessing=post,
        model_optimizer_args=mo_args,
        framework=framework,
        description=top.child("description").text(optional=True) or "",
        task_type=top.child("task_type").text(optional=True) or "",
        license=top.child("license").text(optional=True) or "",
        quantizable=quant,
        outputs=outputs,
        tolerances=tol,
        detection=detection,
        input=inp,
    )


#: The largest model.yml read (the Open Model Zoo's are about 2 KiB).
MODEL_YML_LIMIT = 1 << 20


def load_model_spec(path: str | Path | None = None) -> ModelSpec:
    """Read and parse ``path`` (default: the packaged model.yml)."""
    import yaml

    from ..fsutil import file_kind

    path = Path(path) if path is not None else PACKAGED_MODEL_YML
    kind = file_kind(path)
    if kind not in ("file", "missing", "folder"):  # a pipe or a device: never read (it could wait, or never end)
        raise SpecError(f"{path}: is a {kind}, not a file; pass a model.yml file with {param('model')}")
    try:
        with open(path, "rb") as f:
            data = f.read(MODEL_YML_LIMIT + 1)
        if len(data) > MODEL_YML_LIMIT:
            raise SpecError(f"{path}: larger than {MODEL_YML_LIMIT >> 10} KiB, which no model.yml is; pass a model.yml "
                            f"file with {param('model')}")  # fmt: skip
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file; pass a model.yml with {param('model')}") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder; pass a model.yml file with {param('model')}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read ({exc.__class__.__name__}: {exc}); pass a readable UTF-8 model.yml") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise SpecError(f"{path}: not valid YAML: nested too deeply") from None
    return parse_model_spec(document, path)


def substitute_dl_dir(args: tuple[str, ...], dl_dir: Path) -> list[str]:
    """Model Optimizer arguments with ``$dl_dir`` replaced by the checkpoint folder."""
    return [a.replace("$dl_dir", str(dl_dir)) for a in args]
