"""The release a deployment team receives: a verified, listed, optionally signed bundle (``sshconv bundle``)."""

from .bundle import BundleResult, build_bundle
from .check import BundleCheck, check_bundle_files, verify_bundle

__all__ = ["BundleCheck", "BundleResult", "build_bundle", "check_bundle_files", "verify_bundle"]
