"""What ``sshconv info`` reports: model.yml facts, and the graph's when a checkpoint is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .model.spec import ModelSpec


def describe(spec: ModelSpec, checkpoint_dir: str | Path | None = None) -> dict[str, Any]:
    """A JSON-ready description of the model; with a checkpoint, also its graph's numbers."""
    report: dict[str, Any] = {
        "model_yml": str(spec.path),
        "framework": spec.framework,
        "task_type": spec.task_type,
        "files": [{"name": f.name, "size": f.size, "sha256": f.sha256, "sources": list(f.urls)} for f in spec.files],
        "input": {
            "name": spec.input.name,
            "shape": list(spec.input.shape),
            "mean_values": list(spec.input.mean_values),
            "reverse_input_channels": spec.input.reverse_input_channels,
        },
        "outputs": [{"name": o.name, "shape": list(o.shape)} for o in spec.outputs],
    }
    if checkpoint_dir is None:
        return report
    from .model.checkpoint import load_checkpoint
    from .model.network import count_gflops, count_parameters, output_shapes

    ckpt = load_checkpoint(checkpoint_dir, expected_outputs=spec.output_names)
    shape = tuple(spec.input.shape)
    report.update(
        checkpoint=str(Path(checkpoint_dir)),
        checkpoint_sha256=ckpt.hashes(),
        params=count_parameters(ckpt.symbol),
        gflops=round(count_gflops(ckpt.symbol, shape), 4),
        outputs=[{"name": n, "shape": list(s)} for n, s in output_shapes(ckpt.symbol, shape)],
    )
    return report
