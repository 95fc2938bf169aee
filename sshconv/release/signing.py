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


#: A key or certificate file larger than this is not one (a PEM key is under 4 KiB, a long chain under 100 KiB).
PEM_LIMIT = 1 << 20
_NEW_KEY = "openssl ecparam -name prime256v1 -genkey -noout -out key.pem"


def check_signing(key: Path, cert: Path | None = None, chain: Sequence[Path] = ()):
    """The signing library and the key files are there and are what they must be (before minutes of verification):
    an unencrypted elliptic-curve private key, its certificate, a chain of certificates. Return the library."""
    ms = require("model_signing", _PURPOSE)
    require("model_signing.signing", _PURPOSE)  # its certificate signer imports pyOpenSSL, which it does not declare
    private = load_pem(key, "sign_key", "private")
    if cert is not None:
        (leaf, *_) = load_pem(cert, "sign_cert", "certificates")
        if _numbers(leaf.public_key()) != _numbers(private.public_key()):
            raise InputError(f"{param('sign_cert')} {cert}: certifies another key than {param('sign_key')} {key}; "
                             "give the certificate issued for this key")  # fmt: skip
    for c in chain:
        load_pem(c, "cert_chain", "certificates")
    return ms


def _numbers(public_key):
    """A public key's numbers, to compare keys (``None`` for a kind that has none)."""
    return public_key.public_numbers() if hasattr(public_key, "public_numbers") else None


def load_pem(path: Path, what: str, kind: str):
    """The PEM file ``path`` given as ``--what``, loaded as ``kind`` (``private``, ``public`` elliptic-curve key, or
    ``certificates``, a list); anything else (no such file, a pipe, another kind of key, an encrypted key, a PEM that
    holds no key, bytes that are not PEM) is one :class:`InputError` naming the file and what to give instead."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(path)
    wanted = {"private": "an elliptic-curve private key", "public": "an elliptic-curve public key",
              "certificates": "X.509 certificates"}[kind]  # fmt: skip
    fix = f"give {wanted} in PEM" + (f" ({_NEW_KEY})" if kind == "private" else "")
    if not path.is_file():
        raise InputError(f"{param(what)} {path}: no such file (or not a regular file); {fix}")
    if path.stat().st_size > PEM_LIMIT:
        raise InputError(f"{param(what)} {path}: {path.stat().st_size} bytes, too large for a key or certificate; {fix}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{param(what)} {path}: cannot read it ({exc.strerror or exc}); {fix}") from None
    try:
        if kind == "private":
            loaded = serialization.load_pem_private_key(data, password=None)
        elif kind == "public":
            loaded = serialization.load_pem_public_key(data)
        else:
            loaded = x509.load_pem_x509_certificates(data)
    except TypeError:  # cryptography's word for a key that needs a password
        raise InputError(f"{param(what)} {path}: the key is encrypted; give it unencrypted (openssl ec -in {path.name} "
                         "-out plain.pem), kept where only you can read it") from None  # fmt: skip
    except (ValueError, UnsupportedAlgorithm):
        found = _pem_label(data)
        said = f"it holds {found}" if found else "it is not a PEM file"
        raise InputError(f"{param(what)} {path}: not {wanted} ({said}); {fix}") from None
    if kind != "certificates" and not isinstance(loaded, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        algorithm = re.sub(r"(Private|Public)Key$", "", type(loaded).__name__.lstrip("_"))
        raise InputError(f"{param(what)} {path}: an {algorithm} key, but bundles are signed with elliptic-curve keys; "
                         f"{fix}")  # fmt: skip
    if kind != "certificates" and loaded.curve.name not in _CURVES:
        raise InputError(f"{param(what)} {path}: a key on the curve {loaded.curve.name}, which model signing does not "
                         f"take (it takes {', '.join(_CURVES.values())}); {fix}")  # fmt: skip
    return loaded


#: The curves model_signing signs with (Sigstore's), by cryptography's names.
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _pem_label(data: bytes) -> str | None:
    """What a PEM file says it holds (its first ``-----BEGIN X-----``), for the error line."""
    m = re.search(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----", data[:PEM_LIMIT])
    return f"a PEM {m.group(1).decode().lower()}" if m else None


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
    if public_key is not None:
        load_pem(public_key, "public_key", "public")
    for c in cert_chain:
        load_pem(c, "cert_chain", "certificates")
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
