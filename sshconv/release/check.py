"""``sshconv verify --bundle``: what a receiving team runs on arrival, on either stack.

In order, each step stopping at the first problem: the listing (no file changed, added or
removed, no link, no path leaving the bundle: exit 4 naming the file), the signature (when a key
or a certificate chain is given: exit 4 naming the file the signature does not cover, or saying
another key made it), the models against the bundle's golden file at every shape it holds (raw
outputs and faces: exit 1 on a mismatch, as ``verify``), and the model card against the figures the
bundle's files give (exit 4 naming the line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, UsageError, param
from ..events import Emitter, EventHandler
from ..model.parse import load_model_spec
from .card import check_card
from .layout import ARTIFACTS, GOLDEN, LISTING, MODEL_YML, check_listing
from .signing import SIGNATURE, check_signature


@dataclass
class BundleCheck:
    """What ``verify --bundle`` found before the models ran: the files, and who signed them."""

    folder: Path
    files: int
    signed_by: str | None  # None: the signature was not checked (an unsigned bundle)
    golden: str

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "files": self.files, "signed_by": self.signed_by, "golden": self.golden}


def check_bundle_files(
    folder: str | Path, public_key: str | Path | None = None, cert_chain: Sequence[str | Path] = ()
) -> BundleCheck:
    """The listing, then the signature; see the module. A signed bundle needs a key or chain to be checked."""
    folder = Path(folder)
    listing = check_listing(folder)
    signed = (folder / SIGNATURE).is_file()
    if public_key is None and not cert_chain:
        if signed:
            raise UsageError(f"bundle {folder} is signed ({SIGNATURE}): give the sender's {param('public_key')} (or "
                             f"{param('cert_chain')}) to check who made it")  # fmt: skip
        who = None
    else:
        who = check_signature(folder, Path(public_key) if public_key else None, [Path(c) for c in cert_chain])
    goldens = sorted(p for p in listing["files"] if p.startswith(f"{GOLDEN}/"))
    if len(goldens) != 1:
        raise IntegrityError(f"bundle {folder}: {LISTING} lists {len(goldens)} golden files, expected one")
    return BundleCheck(folder, len(listing["files"]), who, goldens[0])


def verify_bundle(
    folder: str | Path | None, *, public_key: str | Path | None = None, cert_chain: Sequence[str | Path] = (),
    options=None, others: Mapping[str, Any] | None = None, json_report: str | Path | None = None,
    on_event: EventHandler | None = None,
):  # fmt: skip
    """Check a bundle as its receiver does; return ``(BundleCheck, VerifyResult)``. The card is checked last.

    ``others`` are what a plain verification would be given (models, a reference, inputs): a bundle brings its
    own, so any of them set is a usage error. ``json_report`` also writes the verification there.
    """
    from ..verification import VerifyOptions, verify

    if folder is None:
        raise UsageError(f"{param('public_key')} and {param('cert_chain')} check a bundle's signature: give {param('bundle')}")
    given = [name for name, value in (others or {}).items() if value not in (None, False, [], ())]
    if given:
        raise UsageError(f"{param('bundle')} brings its own models, reference and inputs: leave out {param(given[0])}")
    emit = Emitter("bundle", on_event)
    checked = check_bundle_files(folder, public_key, cert_chain)
    emit("files", done=checked.files, item="listing and signature")
    folder = checked.folder
    spec = load_model_spec(folder / MODEL_YML)
    result = verify(spec, golden=folder / checked.golden, artifacts=folder / ARTIFACTS,
                    options=options or VerifyOptions(), json_report=json_report, on_event=on_event)  # fmt: skip
    check_card(folder)
    return checked, result
