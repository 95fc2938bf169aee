"""An OpenVINO Model Server model repository inside the bundle, laid out as the Model Server's documentation says.

One folder per served model, one numbered sub-folder per version holding the IR's ``.xml`` and ``.bin``
(``models/ssh-mxnet/1/model.xml``), and ``models/config.json`` listing them (``model_config_list``,
each ``{"config": {"name", "base_path"}}``) for ``--config_path``. The raw model is served with a
dynamic batch, height and width (its IR reshapes to any); the faces model is dynamic already.

Each version folder also holds ``mapping_config.json``, which the Model Server reads to rename
tensors: the IR's Model Optimizer route names every tensor twice (``rpn_bbox_pred_stride8`` and
``rpn_bbox_pred_stride8:0``); the mapping pins the served names to the card's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .layout import MODELS

#: Served model name -> which of the conversion's models it is (the FP32 IR of the Model Optimizer route first).
RAW, FACES = "ssh-mxnet", "ssh-mxnet-faces"
VERSION = "1"
#: Where the repository is mounted in the Model Server's container (its documentation's convention).
MOUNT = "/models"
CONFIG = "config.json"
MAPPING = "mapping_config.json"


def served_models(manifest) -> dict[str, object]:
    """``{served name: Artifact}``: the FP32 IR (Model Optimizer route when there is one) and its faces twin."""
    irs = sorted((a for a in manifest.irs() if a.weights == "FP32"), key=lambda a: a.route != "mo")
    if not irs:
        return {}
    raw = irs[0]
    served = {RAW: raw}
    for f in manifest.faces_models():
        if f.kind == "faces-ir-xml" and f.route == raw.route and f.weights == raw.weights:
            served[FACES] = f
    return served


def expected_repository(manifest) -> dict[str, str | None]:
    """Every file ``models/`` holds for ``manifest``: ``{bundle path: the sha256 it must have}`` (``None``: made here,
    its bytes not from the conversion). An unsigned bundle's receiver checks that it serves what it carries."""
    by_path = {a.path: a.sha256 for a in manifest.artifacts}
    files: dict[str, str | None] = {f"{MODELS}/{CONFIG}": None}
    for name, artifact in served_models(manifest).items():
        version = f"{MODELS}/{name}/{VERSION}"
        files[f"{version}/model.xml"] = artifact.sha256
        files[f"{version}/model.bin"] = by_path.get(str(Path(artifact.path).with_suffix(".bin")), "")
        files[f"{version}/{MAPPING}"] = None
    return files


def served_config(bundle: Path) -> list[tuple[object, object]]:
    """``[(name, base_path)]`` of ``models/config.json`` as the Model Server reads it (``[]`` when it is not its shape)."""
    from ..fsutil import read_json_file

    try:
        doc = read_json_file(bundle / MODELS / CONFIG)
        return [(c["config"].get("name"), c["config"].get("base_path")) for c in doc["model_config_list"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def write_repository(bundle: Path, manifest) -> dict[str, str]:
    """Write ``models/`` into ``bundle``; return ``{served name: the artifact's label}``."""
    import openvino as ov

    repo = bundle / MODELS
    configs, served = [], {}
    for name, artifact in served_models(manifest).items():
        version = repo / name / VERSION
        version.mkdir(parents=True)
        src = manifest.file(artifact)
        shutil.copyfile(src, version / "model.xml")
        shutil.copyfile(src.with_suffix(".bin"), version / "model.bin")
        model = ov.Core().read_model(str(src))
        inputs = {t.get_any_name(): _card_name(t) for t in model.inputs}
        outputs = {t.get_any_name(): _card_name(t) for t in model.outputs}
        (version / MAPPING).write_text(json.dumps({"inputs": inputs, "outputs": outputs}, indent=2) + "\n")
        config = {"name": name, "base_path": f"{MOUNT}/{name}"}
        if artifact.kind == "ir-xml":
            config["shape"] = {model.inputs[0].get_any_name(): "(-1,3,-1,-1)"}
        configs.append({"config": config})
        served[name] = artifact.label
    (repo / CONFIG).write_text(json.dumps({"model_config_list": configs}, indent=2) + "\n")
    return served


def _card_name(tensor) -> str:
    """The tensor's name without a ``:0`` port suffix: the card's name."""
    names = sorted(tensor.get_names(), key=lambda n: (n.endswith(":0"), n))
    return names[0].removesuffix(":0")
