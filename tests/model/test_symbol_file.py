"""The symbol file read without MXNet: every node's shape as MXNet infers it (the judge, on the conversion stack), and
each way a symbol can be wrong named in one line before anything is built."""

from __future__ import annotations

import json

import pytest

from sshconv.errors import CheckpointError
from sshconv.model.symbol_file import infer_shapes, read_symbol

from ..conftest import needs_conversion_stack

pytestmark = pytest.mark.quick


def _tiny() -> dict:
    """data -> conv (3->4, 3x3, pad 1) -> relu -> pool 2x2 -> reshape (0, 2, -1, 0) -> channel softmax."""
    attrs = {"kernel": "(3, 3)", "num_filter": "4", "pad": "(1, 1)"}
    return {
        "nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "null", "name": "c_weight", "inputs": []},
            {"op": "null", "name": "c_bias", "inputs": []},
            {"op": "Convolution", "name": "c", "attrs": attrs, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
            {"op": "Activation", "name": "r", "attrs": {"act_type": "relu"}, "inputs": [[3, 0, 0]]},
            {"op": "Pooling", "name": "p", "attrs": {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "max"}, "inputs": [[4, 0, 0]]},
            {"op": "Reshape", "name": "s", "attrs": {"shape": "(0, 2, -1, 0)"}, "inputs": [[5, 0, 0]]},
            {"op": "SoftmaxActivation", "name": "prob", "attrs": {"mode": "channel"}, "inputs": [[6, 0, 0]]},
        ],
        "arg_nodes": [0, 1, 2],
        "heads": [[7, 0, 0]],
    }


PARAMS = {"c_weight": (4, 3, 3, 3), "c_bias": (4,)}


def _write(tmp_path, doc) -> object:
    path = tmp_path / "x-symbol.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_small_symbol_reads_and_gives_each_node_its_shape(tmp_path):
    graph = read_symbol(_write(tmp_path, _tiny()))
    assert graph.output_names() == ["prob"] and graph.variables() == ["data", "c_weight", "c_bias"]
    shapes = infer_shapes(graph, PARAMS, {"data": (1, 3, 9, 7)})
    assert shapes[3:] == [(1, 4, 9, 7), (1, 4, 9, 7), (1, 4, 4, 3), (1, 2, 8, 3), (1, 2, 8, 3)]


def _edited(edit) -> dict:
    doc = _tiny()
    edit(doc)
    return doc


BAD = {
    "an operation it does not build": (lambda d: d["nodes"][4].update(op="LeakyReLU"), "node 4 'r' (LeakyReLU): operation 'LeakyReLU'"),
    "another activation": (lambda d: d["nodes"][4]["attrs"].update(act_type="tanh"), "act_type 'tanh'"),
    "an input from a later node": (lambda d: d["nodes"][4].update(inputs=[[6, 0, 0]]), "not an earlier node's output"),
    "no heads": (lambda d: d.update(heads=[]), "no outputs"),
    "no nodes": (lambda d: d.pop("nodes"), "not an MXNet symbol"),
    "a kernel that is no tuple": (lambda d: d["nodes"][3]["attrs"].update(kernel="three"), "kernel='three'"),
    "a reverse reshape": (lambda d: d["nodes"][6]["attrs"].update(reverse="True"), "only 0, -1 and sizes"),
    "a reshape that does not fit": (lambda d: d["nodes"][6]["attrs"].update(shape="(0, 5, -1, 0)"), "cannot reshape"),
    "average pooling": (lambda d: d["nodes"][5]["attrs"].update(pool_type="avg"), "only max pooling"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_symbol_that_cannot_be_built_is_one_line_naming_the_node(tmp_path, case):
    edit, fragment = BAD[case]
    with pytest.raises(CheckpointError) as info:
        infer_shapes(read_symbol(_write(tmp_path, _edited(edit))), PARAMS, {"data": (1, 3, 9, 7)})
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"c_weight": (4, 3, 3, 3)}, "'c_bias', which the parameters file does not hold"),
        ({**PARAMS, "c_weight": (4, 3, 5, 5)}, "weight has shape (4, 3, 5, 5), the symbol needs (4, 3, 3, 3)"),
        ({**PARAMS, "c_bias": (8,)}, "bias has shape (8,), the symbol needs (4,)"),
    ],
)
def test_parameters_that_do_not_fit_the_symbol_are_named(tmp_path, params, fragment):
    with pytest.raises(CheckpointError, match="do not belong together|the symbol needs") as info:
        infer_shapes(read_symbol(_write(tmp_path, _tiny())), params, {"data": (1, 3, 9, 7)})
    assert fragment in str(info.value), str(info.value)


def test_a_file_that_is_not_a_symbol_is_refused(tmp_path):
    for data in (b"\x89PNG", b"[1, 2]", b"{" * 100_000):
        (tmp_path / "x-symbol.json").write_bytes(data)
        with pytest.raises(CheckpointError, match="not a symbol file|not an MXNet symbol"):
            read_symbol(tmp_path / "x-symbol.json")


@needs_conversion_stack
def test_every_node_of_the_ssh_symbol_has_the_shape_mxnet_infers(synth_dir):
    """At the card's shape, a size no multiple of 32 and a batch: each of the 158 nodes, MXNet's ``infer_shape`` the
    judge; the six heads are the card's outputs."""
    import mxnet as mx

    from sshconv.model.checkpoint import PARAMS_FILE, SYMBOL_FILE
    from sshconv.model.network import output_names
    from sshconv.model.params_file import read_params_numpy

    graph = read_symbol(synth_dir / SYMBOL_FILE)
    assert graph.output_names() == list(output_names())
    args, auxs = read_params_numpy(synth_dir / PARAMS_FILE)
    params = {k: v.shape for k, v in {**args, **auxs}.items()}
    internals = mx.sym.load(str(synth_dir / SYMBOL_FILE)).get_internals()
    for shape in ((1, 3, 640, 640), (1, 3, 481, 777), (2, 3, 640, 640)):
        ours = infer_shapes(graph, params, {"data": shape})
        _, theirs, _ = internals.infer_shape(data=shape)
        by_name = dict(zip(internals.list_outputs(), theirs))
        for node in graph.nodes:
            assert ours[node.index] == by_name[node.name if node.op == "null" else f"{node.name}_output"], (shape, node.name)
