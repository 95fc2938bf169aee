"""Where sshconv keeps things on disk unless told otherwise: the model's folder and the cache."""

from __future__ import annotations

import os
from pathlib import Path

#: The model's name: the folder the checkpoint goes to, and the artifacts' file names.
MODEL_NAME = "ssh-mxnet"


def default_output_dir() -> Path:
    """``$SSHCONV_HOME/ssh-mxnet``, else ``${XDG_DATA_HOME:-~/.local/share}/sshconv/ssh-mxnet``."""
    if os.environ.get("SSHCONV_HOME"):
        return Path(os.environ["SSHCONV_HOME"]).expanduser() / MODEL_NAME
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data).expanduser() / "sshconv" / MODEL_NAME


def default_cache_dir() -> Path:
    """``$SSHCONV_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/sshconv``."""
    if os.environ.get("SSHCONV_CACHE_DIR"):
        return Path(os.environ["SSHCONV_CACHE_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "sshconv"
