"""Servers that misbehave the way real ones do: encoded bodies, HTML pages, redirects, endless bodies, TLS."""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading

import pytest

from sshconv.errors import IntegrityError, SourceUnreachableError

from ..conftest import assert_one_line_error, run_cli
from ..httpserver import MisbehavingServer
from .test_download import KiB, MiB, blob, download, file_entry, leftovers, sha, write_model

pytestmark = [pytest.mark.timeout(120), pytest.mark.quick]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_an_encoded_body_is_decoded_and_checked_on_the_decoded_bytes(server, dirs, tmp_path, encoding):
    out, cache = dirs
    data = blob(2 * MiB, 31) + b"\0" * MiB  # compressible: the body on the wire is smaller than the file
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    server.behave("/a.bin", ("encoded", encoding))
    res, events = download(model, out, cache)
    assert (out / "a.bin").read_bytes() == data and res.files[0].source.endswith("/a.bin")
    assert 0 < res.bytes_transferred < len(data), "counted on the wire, checked on the decoded bytes"
    assert [e["event"] for e in events if e["event"] in ("error", "retry")] == []
    assert leftovers(out) == []


def test_an_encoded_answer_is_never_resumed_with_a_range(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(3 * MiB, 32)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    server.behave("/a.bin", ("encoded", "gzip"))
    part = out / "a.bin.part"
    out.mkdir()
    # A part left by an earlier encoded answer (its sidecar says so) is not resumed: the next request has no Range.
    part.write_bytes(data[:MiB])
    (out / "a.bin.part.json").write_text(
        json.dumps({"url": server.url("/a.bin"), "sha256": sha(data), "size": len(data), "offset": MiB, "encoding": "gzip"})
    )
    download(model, out, cache)
    assert (out / "a.bin").read_bytes() == data
    assert [r.range for r in server.requests_for("/a.bin")] == [None]


def test_a_wrongly_encoded_body_is_wrong_bytes(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(MiB, 33)
    other = blob(MiB, 34)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", other))])
    server.behave("/a.bin", ("encoded", "gzip"))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        download(model, out, cache, retries=0)
    assert not (out / "a.bin").exists() and leftovers(out) == []


def test_an_html_page_instead_of_the_file_says_the_link_is_probably_dead(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(MiB, 35)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    server.behave("/a.bin", ("html",))
    res = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--retries", "0")
    assert_one_line_error(res, 4, "server sent an HTML page instead of a.bin", "the link is probably dead")
    assert not (out / "a.bin").exists() and leftovers(out) == []
    # The same page without a Content-Type is recognised by its first bytes.
    server.put("/b.bin", b"\n  <!DOCTYPE html><html><body>gone</body></html>" + b" " * (MiB - 48))
    model_b = write_model(tmp_path, [file_entry("b.bin", data, server.url("/b.bin"))])
    with pytest.raises(IntegrityError, match="HTML page instead of b.bin"):
        download(model_b, out, cache, retries=0)


def test_redirects_are_followed_also_to_another_host_and_a_loop_is_named(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(MiB, 36)
    other = MisbehavingServer().start()
    try:
        other.put("/real/a.bin", data)
        model = write_model(tmp_path, [file_entry("a.bin", data, server.url("/a.bin"))])
        server.behave("/a.bin", ("redirect", "/moved/a.bin", 301))
        server.behave("/moved/a.bin", ("redirect", other.url("/real/a.bin"), 307))
        res, _ = download(model, out, cache)
        assert (out / "a.bin").read_bytes() == data and res.files[0].source == server.url("/a.bin")
        assert len(other.requests_for("/real/a.bin")) == 1
    finally:
        other.stop()
    loop_model = write_model(tmp_path, [file_entry("c.bin", blob(KiB, 39), server.url("/loop"))])
    server.behave("/loop", *[("redirect", "/loop")] * 100)
    with pytest.raises(SourceUnreachableError, match=r"redirect loop: more than \d+ redirects"):
        download(loop_model, out, cache, retries=3)
    assert len(server.requests_for("/loop")) <= 31, "a redirect loop is final for the source, not retried"


def test_a_body_that_never_ends_is_stopped_at_the_expected_size(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(MiB, 37)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    server.behave("/a.bin", ("endless",))
    res = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--retries", "0")
    assert_one_line_error(res, 4, "server sent more than the expected 1,048,576 bytes")
    assert not (out / "a.bin").exists() and leftovers(out) == []
    assert server.sent("/a.bin") < 64 * MiB, "the connection was dropped, not read to the end"


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (which clients do not trust)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=127.0.0.1"], check=True, capture_output=True,
    )  # fmt: skip
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_tls_failures_are_named_as_such(tls_server, server, dirs, tmp_path):
    out, cache = dirs
    data = blob(KiB, 38)
    model = write_model(tmp_path, [file_entry("a.bin", data, f"{tls_server}/a.bin")])
    res = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache)
    assert_one_line_error(res, 3, "TLS failure", "certificate verify failed")
    assert res.err.count(f"{tls_server}/a.bin") == 1, "not retried: a certificate does not fix itself"
    plain = server.put("/a.bin", data).replace("http://", "https://")  # https:// to a server that speaks plain HTTP
    model = write_model(tmp_path, [file_entry("a.bin", data, plain)])
    res = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--retries", "0")
    assert_one_line_error(res, 3, "TLS failure")
