"""bf16 execution emulated on any CPU: what BF16 tolerances are measured with.

The CPU plugin's bf16 mode rounds weights and activations to bfloat16 (8-bit mantissa)
between layers and accumulates in f32. :func:`emulate_bf16` makes a copy of a model with
every weight constant rounded to bfloat16 and a Convert f32 -> bf16 -> f32 after every
operation; run with f32 execution it shows, on a CPU without bf16, the errors bf16
execution brings (``scripts/measure_bf16.py`` prints them).
"""

from __future__ import annotations

import numpy as np


def bf16_round(a: np.ndarray) -> np.ndarray:
    """Round float32 to the nearest bfloat16 (ties to even), kept as float32."""
    b = np.ascontiguousarray(a, np.float32).view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000).view(np.float32)


def emulate_bf16(model):
    """A copy of ``model`` whose weights and every activation are rounded to bfloat16."""
    import openvino as ov

    from sshconv.runtimes.openvino import opset

    ops = opset()
    m = model.clone()
    for op in m.get_ordered_ops():
        if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.f32 and op.get_data().size > 16:
            rounded = ops.constant(bf16_round(op.get_data()))
            for target in list(op.output(0).get_target_inputs()):
                target.replace_source_output(rounded.output(0))
    for op in m.get_ordered_ops():
        if op.get_type_name() in ("Parameter", "Result", "Constant", "Convert", "ShapeOf"):
            continue
        for out in op.outputs():
            targets = list(out.get_target_inputs())
            if out.get_element_type() == ov.Type.f32 and targets:
                down = ops.convert(ops.convert(out, "bf16"), "f32")
                for target in targets:
                    target.replace_source_output(down.output(0))
    return m
