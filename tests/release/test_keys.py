"""Signing and checking keys are input: every wrong one is one line naming the file, exit 2, before anything runs.

Quick tier, both stacks (the ``sign`` extra is in both): the keys are made here with ``cryptography``; the bundle
being built never gets as far as reading its conversion folder, and the bundle being checked is the hand-made one
of this folder's conftest.py with a signature file beside it.
"""

from __future__ import annotations

import os

import pytest

from ..conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.quick


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("keys")
    pem, pkcs8, spki = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.PublicFormat.SubjectPublicKeyInfo
    ec_key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    rsa_key, k1 = rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP256K1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sshconv test")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(other.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1)).sign(other, hashes.SHA256()))  # fmt: skip
    files = {
        "ec.pem": ec_key.private_bytes(pem, pkcs8, serialization.NoEncryption()),
        "ec.pub": ec_key.public_key().public_bytes(pem, spki),
        "rsa.pem": rsa_key.private_bytes(pem, pkcs8, serialization.NoEncryption()),
        "rsa.pub": rsa_key.public_key().public_bytes(pem, spki),
        "encrypted.pem": ec_key.private_bytes(pem, pkcs8, serialization.BestAvailableEncryption(b"secret")),
        "secp256k1.pem": k1.private_bytes(pem, pkcs8, serialization.NoEncryption()),
        "other-cert.pem": cert.public_bytes(pem),
        "text.pem": b"not a key at all\n",
    }
    for file, data in files.items():
        (folder / file).write_bytes(data)
    os.mkfifo(folder / "pipe.pem")  # read, it would wait for ever
    return folder


SIGN_KEYS = {
    "ec.pub": "holds a PEM public key",
    "rsa.pem": "an RSA key",
    "encrypted.pem": "the key is encrypted",
    "secp256k1.pem": "the curve secp256k1",
    "other-cert.pem": "holds a PEM certificate",
    "text.pem": "not a PEM file",
    "pipe.pem": "not a regular file",
}


@pytest.mark.parametrize("key", sorted(SIGN_KEYS))
def test_a_wrong_signing_key_is_refused_before_anything_is_built(keys, tmp_path, key):
    out = tmp_path / "b"
    res = run_cli("bundle", "--artifacts", tmp_path / "none", "--golden", tmp_path / "g.npz", "--out", out,
                  "--sign-key", keys / key)  # fmt: skip
    assert_one_line_error(res, 2, "--sign-key", key, SIGN_KEYS[key])
    assert not out.exists()


def test_a_certificate_of_another_key_is_refused(keys, tmp_path):
    res = run_cli("bundle", "--artifacts", tmp_path / "none", "--golden", tmp_path / "g.npz", "--out", tmp_path / "b",
                  "--sign-key", keys / "ec.pem", "--sign-cert", keys / "other-cert.pem")  # fmt: skip
    assert_one_line_error(res, 2, "--sign-cert", "certifies another key")


@pytest.mark.parametrize("key, said", [("ec.pem", "holds a PEM private key"), ("rsa.pub", "an RSA key"),
                                       ("text.pem", "not a PEM file"), ("pipe.pem", "not a regular file")])  # fmt: skip
def test_a_wrong_public_key_is_bad_input_not_a_failed_signature(keys, bundle, key, said):
    (bundle / "model.sig").write_text("{}")
    res = run_cli("verify", "--bundle", bundle, "--public-key", keys / key)
    assert_one_line_error(res, 2, "--public-key", key, said)


def test_a_wrong_certificate_chain_is_bad_input(keys, bundle):
    (bundle / "model.sig").write_text("{}")
    res = run_cli("verify", "--bundle", bundle, "--cert-chain", keys / "ec.pem")
    assert_one_line_error(res, 2, "--cert-chain", "not X.509 certificates")
