"""One attempt at one source: a ``file://`` copy or an HTTP GET into ``NAME.part``, resumable.

Bytes are hashed and counted in the same pass as they are written; the sidecar
``NAME.part.json`` holds the URL, the offset and the server's validators so that a later
attempt (or run) asks for the missing bytes only, with ``Range`` + ``If-Range``.
Every failure is an :class:`AttemptFailed` saying whether it is worth retrying and
whether the bytes were wrong (an integrity failure).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..events import Emitter
from ..fsutil import CHUNK, atomic_write_text, copy_hashing, hash_file, read_json_file
from ..model.spec import FileSpec
from .cache import mismatch_reason
from .settings import RETRY_STATUSES, USER_AGENT

log = logging.getLogger(__name__)


class AttemptFailed(Exception):
    def __init__(self, reason: str, *, retry: bool = False, integrity: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry, self.integrity, self.retry_after = reason, retry, integrity, retry_after


@dataclass
class Part:
    """``NAME.part`` and its sidecar ``NAME.part.json`` beside the target."""

    target: Path
    path: Path = field(init=False)
    sidecar: Path = field(init=False)

    def __post_init__(self):
        self.path = self.target.with_name(self.target.name + ".part")
        self.sidecar = self.target.with_name(self.target.name + ".part.json")

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_sidecar(self) -> dict:
        try:
            return read_json_file(self.sidecar)
        except (OSError, ValueError):
            return {}

    def write_sidecar(self, **info: Any) -> None:
        atomic_write_text(self.sidecar, json.dumps(info))

    def discard(self) -> None:
        for p in (self.path, self.sidecar):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def finish(self) -> None:
        os.replace(self.path, self.target)
        with contextlib.suppress(FileNotFoundError):
            self.sidecar.unlink()


@dataclass
class Transfer:
    """Settings shared by every attempt of one :func:`download_model` call."""

    session: Any
    timeout: float
    emit: Emitter
    transferred: int = 0


def _resume_offset(part: Part, url: str, fspec: FileSpec) -> tuple[int, str | None]:
    """How much of ``part`` can be reused for ``url``, and the If-Range validator to send."""
    size = part.size()
    meta = part.read_sidecar()
    # A part written from an encoded body cannot be resumed: a byte range of the file is not one of the body.
    stale = meta.get("url") != url or meta.get("sha256") != fspec.sha256 or meta.get("encoding")
    if size == 0 or stale or size > fspec.size:
        if size:
            log.info("%s: discarding a .part that does not belong to %s", part.path, url)
        part.discard()
        return 0, None
    etag = meta.get("etag")
    validator = etag if etag and not etag.startswith("W/") else meta.get("last_modified")
    return size, validator


def verify_and_finish(part: Part, fspec: FileSpec, h: Any, n: int, resumed: bool) -> None:
    got = h.hexdigest()
    if n != fspec.size or got != fspec.sha256:
        part.discard()
        reason = mismatch_reason(fspec, n, got)
        # A resumed file may mix two versions of the file: one clean retry from byte 0.
        raise AttemptFailed(reason + "; deleted the download", integrity=True, retry=resumed)
    part.finish()


def attempt_file_url(url: str, fspec: FileSpec, part: Part, tx: Transfer) -> None:
    """Copy a ``file://`` source with hashing in the same pass (no resume: it is local)."""
    src = Path(unquote(urlsplit(url).path))
    try:
        size = src.stat().st_size
        f = open(src, "rb")
    except OSError as exc:
        raise AttemptFailed(f"cannot read {src} ({exc.strerror})") from None
    if size != fspec.size:
        f.close()
        raise AttemptFailed(mismatch_reason(fspec, size, None), integrity=True)
    part.discard()
    tx.emit.start(fspec.size, "B", item=fspec.name, url=url)
    with f, open(part.path, "wb") as out:
        h, n = copy_hashing(f, out, lambda total: tx.emit.progress(total, fspec.size, "B", item=fspec.name))
    verify_and_finish(part, fspec, h, n, resumed=False)


def attempt_http(url: str, fspec: FileSpec, part: Part, tx: Transfer) -> None:
    """One GET of ``url`` into ``part``, resuming it when possible; raises :class:`AttemptFailed`."""
    import requests

    offset, validator = _resume_offset(part, url, fspec)
    if offset == fspec.size:
        h, n = hash_file(part.path)
        verify_and_finish(part, fspec, h, n, resumed=True)
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    if offset and validator:
        headers["If-Range"] = validator
    try:
        resp = tx.session.get(url, headers=headers, stream=True, timeout=(tx.timeout, tx.timeout), allow_redirects=True)
    except requests.TooManyRedirects:
        raise AttemptFailed(f"redirect loop: more than {tx.session.max_redirects} redirects") from None
    except requests.exceptions.SSLError as exc:
        raise AttemptFailed(_network_reason(exc, tx.timeout)) from None  # a TLS failure is not transient
    except requests.RequestException as exc:
        raise AttemptFailed(_network_reason(exc, tx.timeout), retry=True) from None
    with resp:
        if resp.status_code == 416 and offset:
            part.discard()
            raise AttemptFailed("server refused the resume range (416); restarting from byte 0", retry=True)
        if resp.status_code not in (200, 206):
            raise _status_failure(resp)
        _refuse_html_page(resp.headers.get("Content-Type"), fspec, part)
        encoding = (resp.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", *DECODERS):
            raise AttemptFailed(f"server sent the file with Content-Encoding {encoding!r}, which sshconv cannot decode")
        if encoding != "identity":
            # Asked for identity, got an encoded body (object stores do this for files uploaded with that
            # metadata): decode it, and check size and sha256 on the decoded bytes; never resume it.
            if offset:
                log.info("%s: encoded (%s) answer to a resume request; restarting from byte 0", url, encoding)
            offset, total = 0, None
        elif resp.status_code == 206:
            start, total = _content_range(resp)
            if start != offset:
                part.discard()
                raise AttemptFailed(f"server sent bytes from {start} instead of {offset}; restarting from byte 0", retry=True)
        else:
            if offset:
                log.info("%s: server ignored Range or the file changed (200, not 206); restarting from byte 0", url)
            offset, total = 0, _int_or_none(resp.headers.get("Content-Length"))
        if total is not None and total != fspec.size:
            part.discard()
            raise AttemptFailed(f"size mismatch: expected {fspec.size:,} bytes, server announces {total:,}", integrity=True)
        part.write_sidecar(
            url=url, sha256=fspec.sha256, size=fspec.size, offset=offset, encoding=None if encoding == "identity" else encoding,
            etag=resp.headers.get("ETag"), last_modified=resp.headers.get("Last-Modified"),
        )  # fmt: skip
        h, n = hash_file(part.path, offset) if offset else (hashlib.sha256(), 0)
        tx.emit.start(fspec.size, "B", done=n, item=fspec.name, url=url)
        n = _stream_body(resp, part, fspec, h, n, offset, tx, DECODERS.get(encoding))
    if n < fspec.size:
        raise AttemptFailed(f"connection closed after {n:,} of {fspec.size:,} bytes", retry=True)
    verify_and_finish(part, fspec, h, n, resumed=offset > 0)


def _stream_body(resp: Any, part: Part, fspec: FileSpec, h: Any, n: int, offset: int, tx: Transfer, decoder: Any = None) -> int:
    """Append the body to ``part`` (decoded by ``decoder()``, if given), hashing and counting each block as it is written.

    ``read1`` returns what has arrived (up to CHUNK) without waiting to fill a block, so a
    cut connection loses no byte that reached us: the next attempt resumes exactly there.
    A body that runs past the expected size is stopped there: nothing beyond it is written.
    """
    import requests
    import urllib3

    network_errors = (urllib3.exceptions.HTTPError, requests.RequestException, OSError)
    raw = resp.raw
    decode = decoder() if decoder is not None else None
    with open(part.path, "r+b" if offset else "wb") as out:
        out.seek(offset)
        out.truncate()
        try:
            while True:
                try:
                    block = raw.read1(CHUNK, decode_content=False)
                except network_errors as exc:
                    reason = f"{_network_reason(exc, tx.timeout)} after {n:,} of {fspec.size:,} bytes"
                    raise AttemptFailed(reason, retry=True) from None
                if not block:
                    break
                tx.transferred += len(block)
                if decode is not None:
                    block = _decoded(decode, block, fspec)
                if n == 0 and offset == 0:
                    _refuse_html_page(None, fspec, part, block)
                n += len(block)
                if n > fspec.size:
                    break
                h.update(block)
                out.write(block)
                tx.emit.progress(n, fspec.size, "B", item=fspec.name)
        finally:
            out.flush()
            meta = part.read_sidecar()
            if meta:
                part.write_sidecar(**{**meta, "offset": out.tell()})
    if n > fspec.size:
        part.discard()
        raise AttemptFailed(
            f"size mismatch: server sent more than the expected {fspec.size:,} bytes; deleted the download", integrity=True
        )
    tx.emit.progress(n, fspec.size, "B", force=True, item=fspec.name)
    return n


def _content_range(resp: Any) -> tuple[int, int | None]:
    value = resp.headers.get("Content-Range", "")
    try:
        unit, _, rest = value.partition(" ")
        span, _, total = rest.partition("/")
        start = int(span.split("-")[0])
        return start, (None if total == "*" else int(total))
    except ValueError:
        raise AttemptFailed(f"206 with an unreadable Content-Range {value!r}", retry=True) from None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _status_failure(resp: Any) -> AttemptFailed:
    code = resp.status_code
    reason = f"HTTP {code} {resp.reason or ''}".strip()
    retry = code in RETRY_STATUSES or (code >= 500 and code not in (501, 505))
    return AttemptFailed(reason, retry=retry, retry_after=_retry_after(resp.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


#: Content-Encodings that are decoded (a fresh decompressor for each body).
DECODERS = {
    "gzip": lambda: zlib.decompressobj(zlib.MAX_WBITS | 16),
    "x-gzip": lambda: zlib.decompressobj(zlib.MAX_WBITS | 16),
    "deflate": lambda: _Deflate(),
}


class _Deflate:
    """HTTP "deflate" is zlib-wrapped by the standard and raw deflate by some servers: take either."""

    def __init__(self):
        self._d = zlib.decompressobj(zlib.MAX_WBITS)
        self._started = False

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if not self._started:
            self._started = True
            try:
                return self._d.decompress(data, max_length)
            except zlib.error:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._d.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._d.unconsumed_tail


def _decoded(decode: Any, block: bytes, fspec: FileSpec) -> bytes:
    """The decoded bytes of one block, never more than one byte past the expected size (no decompression bomb)."""
    try:
        return decode.decompress(block, fspec.size + 1)
    except zlib.error as exc:
        raise AttemptFailed(f"the encoded body does not decode ({exc})", integrity=True) from None


_HTML = (b"<!doctype html", b"<html", b"<head", b"<!--")


def _refuse_html_page(content_type: str | None, fspec: FileSpec, part: Part, first: bytes = b"") -> None:
    """A 200 with an HTML page instead of the file is what dead share links serve: say so, as wrong bytes."""
    if fspec.name.lower().endswith((".html", ".htm")):
        return
    is_html = (content_type or "").split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")
    if is_html or first.lstrip()[:16].lower().startswith(_HTML):
        part.discard()
        raise AttemptFailed(
            f"server sent an HTML page instead of {fspec.name}, so the link is probably dead (or asks to sign in)",
            integrity=True,
        )


def _network_reason(exc: BaseException, timeout: float) -> str:
    import re

    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError) or "SSLError" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        m = re.search(r"\[SSL: ([A-Z_]+)\][^(')\]]*", text) or re.search(r"(certificate verify failed[^(')\]]*)", text)
        detail = m.group(0).strip() if m else "handshake failed"
        return f"TLS failure ({detail}); check the URL's scheme, the server's certificate and REQUESTS_CA_BUNDLE"
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return f"timed out after {timeout:g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "connection broken" in text.lower():
        return "connection broken"
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return f"connection failed ({m.group(1).strip()})"
    return f"{exc.__class__.__name__}"


def new_session() -> Any:
    import requests

    s = requests.Session()
    # identity: byte counts and ranges must refer to the file itself, not a compressed body.
    s.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    return s
