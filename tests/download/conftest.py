"""Fixtures of the download tests: a misbehaving HTTP server on 127.0.0.1, and output and cache folders."""

from __future__ import annotations

import pytest

from ..httpserver import MisbehavingServer


@pytest.fixture
def server():
    srv = MisbehavingServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def dirs(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    return out, cache
