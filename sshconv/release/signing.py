"""Sign a bundle folder and check its signature, with the OpenSSF ``model_signing`` library (the ``sign`` extra).

``model_signing`` hashes every file of the folder (a manifest of digests), and signs that manifest:
with an elliptic-curve private key (offline, PEM), or with a key and its certificate. The signature
is one file inside the folder (:data:`SIGNATURE`), left out of what it signs. Git's files are *not*
left out (the library leaves them out by default): a ``.gitignore`` slipped into a bundle is an
added file like any other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, IntegrityError, param
from ..extras import require

#: The signature's file name inside a bundle (model_signing's own default name).
SIGNATURE = "model.sig"
_PURPOSE = "signing bundles"


def _hashing():
    hashing = require("model_signing", _PURPOSE).hashing
    return hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)


def check_signing(key: Path, cert: Path | None = None, chain: Sequence[Path] = ()):
    """The signing library and the key files are there (before minutes of verification); return the library."""
    ms = require("model_signing", _PURPOSE)
    require("model_signing.signing", _PURPOSE)  # its certificate signer imports pyOpenSSL, which it does not declare
    for what, path in (("sign_key", key), ("sign_cert", cert), *(("cert_chain", c) for c in chain)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{param(what)} {path}: no such file; give a PEM file")
    return ms


def sign_folder(folder: Path, key: Path, cert: Path | None = None, chain: Sequence[Path] = ()) -> Path:
    """Sign every file of ``folder`` with the private ``key`` (and its ``cert``); write ``folder/model.sig``."""
    ms = check_signing(key, cert, chain)
    config = ms.signing.Config().set_hashing_config(_hashing())
    try:
        if cert is None:
            config.use_elliptic_key_signer(private_key=key)
        else:
            config.use_certificate_signer(private_key=key, signing_certificate=cert, certificate_chain=list(chain))
        config.sign(folder, folder / SIGNATURE)
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(
            f"{param('sign_key')} {key}: cannot sign with it ({_short(exc)}); give an unencrypted elliptic-curve "
            "private key in PEM (openssl ecparam -name prime256v1 -genkey -noout -out key.pem)"
        ) from exc
    return folder / SIGNATURE


def check_signature(folder: Path, public_key: Path | None = None, cert_chain: Sequence[Path] = ()) -> str:
    """Check ``folder/model.sig`` with ``public_key`` (or the certificate chain); return who signed, in words.

    Every failure is an :class:`IntegrityError` (exit 4) naming what is wrong: no signature, a signature
    another key made, or a file the signature does not cover as it is now.
    """
    require("model_signing.signing", _PURPOSE)
    ms = require("model_signing", _PURPOSE)
    signature = folder / SIGNATURE
    if not signature.is_file():
        raise IntegrityError(f"{folder}: carries no signature ({SIGNATURE}); ask its maker for a signed bundle")
    for what, path in (("public_key", public_key), *(("cert_chain", c) for c in cert_chain)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{param(what)} {path}: no such file; give a PEM file")
    config = ms.verifying.Config().set_hashing_config(_hashing())
    if public_key is not None:
        config.use_elliptic_key_verifier(public_key=public_key)
        who = f"the key {Path(public_key).name}"
    else:
        config.use_certificate_verifier(certificate_chain=list(cert_chain))
        who = "a certificate chaining to " + ", ".join(Path(c).name for c in cert_chain)
    try:
        config.verify(folder, signature)
    except Exception as exc:  # noqa: BLE001 - the library raises ValueError, cryptography's and protobuf's errors alike
        raise IntegrityError(f"{folder}: {_reason(exc, who)}") from exc
    return who


def _reason(exc: BaseException, who: str) -> str:
    """The one line that says why a signature failed: the files it names, else a key that did not make it."""
    text = str(exc).replace("\\'", "'")  # the library's message is a list's repr: quotes may come escaped
    for pattern, what in (
        (r"Hash mismatch for '([^']+)'", "changed since it was signed"),
        (r"Extra files found in model '[^']*': ([^'\]\"]+)", "added after signing"),
        (r"Missing files in model '[^']*': ([^'\]\"]+)", "removed after signing"),
    ):
        names = sorted({n.strip() for m in re.findall(pattern, text) for n in m.split(", ")}, key=_listing_last)
        if names:
            return f"{', '.join(names)}: {what} (the signature does not cover the bundle as it is)"
    return f"the signature was not made by {who} ({_short(exc)}); check the key or ask the sender for theirs"


def _listing_last(name: str) -> tuple[bool, str]:
    """The bundle's listing (rewritten along with what it lists) after the file that was tampered with."""
    return name.startswith("BUNDLE."), name


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:160]


def make_key_pair(folder: Path) -> tuple[Path, Path]:
    """An elliptic-curve (P-256) key pair in ``folder`` (``key.pem``, private, mode 0600; ``key.pub``), made once.

    For trying signing out (the demo): a real release is signed with a key its maker keeps elsewhere.
    """
    import os

    require("model_signing.signing", _PURPOSE)  # the same extra brings cryptography
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ..fsutil import atomic_write_bytes, ensure_dir

    folder = ensure_dir(Path(folder), "signing key folder")
    key, public = folder / "key.pem", folder / "key.pub"
    if key.is_file() and public.is_file():
        return key, public
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = folder / f".key.pem.{os.getpid()}.tmp"  # created 0600: the private key is never readable by others
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    os.replace(tmp, key)
    atomic_write_bytes(public, private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    return key, public
