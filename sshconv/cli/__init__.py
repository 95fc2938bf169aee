"""The command line, one module per stage; :func:`main` is the entry point (``sshconv``, ``python -m sshconv``)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
