"""``sshconv verify --bundle``: what a receiving team runs on arrival, on either stack.

In order, each step stopping at the first problem: the listing (no file changed, added or
removed, no link, no path leaving the bundle: exit 4 naming the file), the signature (when a key
or a certificate chain is given: exit 4 naming the file the signature does not cover, or saying
another key made it), the bundle's agreement with itself (what it says it was built from, its
artifacts against its manifest, the Model Server repository against the artifacts: exit 4 naming
what disagrees; an unsigned bundle proves no more than this), the models against the bundle's golden file at every shape it holds (raw
outputs and faces: exit 1 on a mismatch, as ``verify``), and the model card against the figures the
bundle's files give (exit 4 naming the line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import IntegrityError, UsageError, param
from ..events import Emitter, EventHandler
from ..model.parse import load_model_spec
from .card import check_card
from .fields import Field
from .layout import ARTIFACTS, BENCH_REPORT, EVAL_REPORT, GOLDEN, LISTING, MODEL_YML, MODELS, check_listing
from .ovms import CONFIG, MOUNT, expected_repository, served_config, served_models
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
    check_agreement(folder, listing, goldens[0])
    return BundleCheck(folder, len(listing["files"]), who, goldens[0])


def check_agreement(folder: Path, listing: dict[str, Any], golden: str) -> None:
    """What the bundle says of itself agrees, signed or not (exit 4 naming what disagrees): the manifest, golden file
    and reports its listing says it was built from are the ones it carries; ``artifacts/`` holds exactly the files its
    manifest lists; ``models/`` serves exactly the models the manifest picks for the Model Server, byte for byte."""
    from ..conversion.manifest import MANIFEST_NAME, read_manifest

    files = {rel: e.get("sha256") for rel, e in listing["files"].items()}
    bad = f"{folder}: {LISTING}"

    def disagree(what: str) -> IntegrityError:
        return IntegrityError(f"bundle {what}; it contradicts itself: ask for the bundle again")

    made = Field(listing, folder / LISTING, IntegrityError, "ask for the bundle again").get("built_from", {})
    if made["manifest_sha256"].text() != files.get(f"{ARTIFACTS}/{MANIFEST_NAME}"):
        raise disagree(f"{bad} says it was built from another manifest than {ARTIFACTS}/{MANIFEST_NAME}")
    if (made["golden"]["name"].text(), made["golden"]["sha256"].text()) != (PurePosixPath(golden).name, files[golden]):
        raise disagree(f"{bad} says it was built from another golden file than {golden}")
    reports = dict(made.get("reports", {}).items())
    carried = {where for where in (EVAL_REPORT, BENCH_REPORT) if where in files}
    for where in sorted(carried | set(reports)):
        if where not in carried or reports.get(where) is None or reports[where].raw != files[where]:
            raise disagree(f"{bad} and {where} disagree (the report built from is not the report carried)")
    manifest = read_manifest(folder / ARTIFACTS)
    listed = {f"{ARTIFACTS}/{a.path}" for a in manifest.artifacts} | {f"{ARTIFACTS}/{MANIFEST_NAME}"}
    stray = sorted(set(p for p in files if p.startswith(f"{ARTIFACTS}/")) ^ listed)
    if stray:
        raise disagree(f"{folder}: {stray[0]} is {'not in' if stray[0] in files else 'missing from'} {ARTIFACTS}/"
                       f"{MANIFEST_NAME}'s files")  # fmt: skip
    served = expected_repository(manifest)
    stray = sorted(set(p for p in files if p.startswith(f"{MODELS}/")) ^ set(served))
    if stray:
        raise disagree(f"{folder}: {stray[0]} is {'not' if stray[0] in files else 'missing'} in the Model Server "
                       "repository its manifest gives")  # fmt: skip
    for rel, sha in served.items():
        if sha is not None and files[rel] != sha:
            raise disagree(f"{folder}: {rel} is not the model {ARTIFACTS}/ carries (its sha256 differs)")
    config = served_config(folder)
    names = sorted(str(name) for name, _ in config)
    if names != sorted(served_models(manifest)):
        raise disagree(f"{folder}: {MODELS}/{CONFIG} serves {names}, not the models of {MODELS}/")
    for name, base in config:
        if base != f"{MOUNT}/{name}":
            raise disagree(f"{folder}: {MODELS}/{CONFIG} serves {name} from {str(base)[:80]!r}, not {MOUNT}/{name}")


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
