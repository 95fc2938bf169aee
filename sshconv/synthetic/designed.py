"""The designed part of the synthetic trunk: a few channels per layer that carry what a face detector needs.

Calibrated random VGG weights destroy a picture's content within a few layers, so no head
trained on top of them finds faces. The synthetic checkpoint therefore sets aside the
first channels of every trunk layer and gives them fixed, hand-made weights:

* ``conv1_1``'s first :data:`F` channels are pixel features, each a ReLU of a linear
  function of the pixel (colour differences: red, yellow, blue and green casts, warm
  skin; dark, bright and white levels; four signed edge directions of the brightness);
* every later trunk layer passes them on: channel ``f`` as is (so, after the max pools,
  the strongest response of each stride cell) and channel ``F + f`` blurred once per
  stride (a 3x3 box filter in the first conv of each group: the local amount);
* ``ssh_m1_red_conv``/``ssh_m2_red_conv``/``ssh_m1_conv`` put the stride-8 channels and
  the upsampled stride-16 ones side by side, so the stride-8 module sees both.

Designed channels read only designed channels, so their values can be computed by a slim
network of :data:`K` channels (:class:`FeatureExtractor`), which is what training uses;
the other channels stay calibrated random (:mod:`.synth`) and the detection modules read
none of them (their weights there are zero). Identity weights are exactly 1, so the full
network and the slim one agree to rounding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.network import VGG_GROUPS

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Pixel features on RGB in 0..255: (weights for R, G, B), offset, scale. Y = (R + G + B) / 3.
COLOUR_FEATURES = (
    ((1, -1, 0), -8, 1 / 32),  # red cast: R > G (skin, lips)
    ((0, 1, -1), -8, 1 / 32),  # yellow cast: G > B (skin)
    ((-1, 0, 1), -8, 1 / 32),  # blue cast: B > R (rarely skin)
    ((-1, 1, 0), -8, 1 / 32),  # green cast: G > R (never skin)
    ((-1 / 3, -1 / 3, -1 / 3), 80, 1 / 32),  # dark: pupils, brows
    ((1 / 3, 1 / 3, 1 / 3), -190, 1 / 32),  # white: eyes
    ((1 / 3, 1 / 3, 1 / 3), -96, 1 / 64),  # brightness
    ((1, 0, -1), -48, 1 / 32),  # warm: R well above B
)
#: Sobel filters of Y in four signed directions (right, left, down, up), scaled to ~1 at a hard edge.
EDGE_SCALE = 1 / 96  # Y's 1/3 times 1/32
EDGE_OFFSET = -0.1
F = len(COLOUR_FEATURES) + 4
K = 2 * F
#: Layers between the trunk and the detection modules, and how many of their channels are designed.
NECK = {"ssh_m1_red_conv": 2 * K, "ssh_m2_red_conv": 2 * K, "ssh_m1_conv": 2 * K}
#: The first layer of each detection module that reads the trunk, and how many input channels it uses.
MODULE_INPUTS = {"ssh_m1_det": 2 * K, "ssh_m2_det": K, "ssh_m3_det": K}


def trunk_layers() -> list[str]:
    return [f"conv{g}_{i}" for g, (n, _) in enumerate(VGG_GROUPS, start=1) for i in range(1, n + 1)]


def designed_rows(layer: str) -> int:
    """How many leading output channels of ``layer`` are designed (0 for layers outside the trunk and neck)."""
    if layer == "conv1_1":
        return F
    if layer in NECK:
        return NECK[layer]
    return K if layer in trunk_layers() else 0


def _sobel() -> np.ndarray:
    import numpy as np

    return np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)


def _first_layer(mean_rgb) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    w = np.zeros((F, 3, 3, 3), np.float32)
    b = np.zeros(F, np.float32)
    mean = np.asarray(mean_rgb, np.float64)
    for j, (colour, offset, scale) in enumerate(COLOUR_FEATURES):
        c = np.asarray(colour, np.float64)
        w[j, :, 1, 1] = c * scale
        b[j] = (c @ mean + offset) * scale  # the network sees RGB minus the mean
    sobel = _sobel()
    for e, k in enumerate((sobel, -sobel, sobel.T, -sobel.T)):
        j = len(COLOUR_FEATURES) + e
        w[j] = k[None] * EDGE_SCALE  # the same filter on R, G and B: a filter of Y
        b[j] = EDGE_OFFSET
    return w, b


def _pass_on(inputs: int, blur: bool) -> tuple[np.ndarray, np.ndarray]:
    """``K`` outputs: ``f`` copies input ``f``; ``F + f`` copies (or box-blurs) input ``F + f`` (or ``f`` after conv1_1)."""
    import numpy as np

    w = np.zeros((K, inputs, 3, 3), np.float32)
    for f in range(F):
        w[f, f, 1, 1] = 1.0
        src = F + f if inputs == K else f
        if blur:
            w[F + f, src] = 1.0 / 9.0
        else:
            w[F + f, src, 1, 1] = 1.0
    return w, np.zeros(K, np.float32)


def trunk_weights(mean_rgb) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Slim ``(weight, bias)`` of every trunk conv: designed outputs from designed inputs."""
    out = {}
    for name in trunk_layers():
        index = int(name.split("_")[1])
        if name == "conv1_1":
            out[name] = _first_layer(mean_rgb)
        elif name == "conv1_2":
            out[name] = _pass_on(F, blur=True)
        else:
            out[name] = _pass_on(K, blur=index == 1)
    return out


def _identity(rows: int, inputs: int, kernel: int, src_offset: int = 0, dst_offset: int = 0, count: int = K):
    import numpy as np

    w = np.zeros((rows, inputs, kernel, kernel), np.float32)
    c = kernel // 2
    for i in range(count):
        w[dst_offset + i, src_offset + i, c, c] = 1.0
    return w, np.zeros(rows, np.float32)


def install_trunk(params: dict[str, np.ndarray], mean_rgb) -> None:
    """Write the designed channels into full-size ``params`` (in place); the rest is left to calibration."""
    slim = trunk_weights(mean_rgb)
    slim["ssh_m1_red_conv"] = _identity(2 * K, K, 1)  # stride 8 -> channels [0, K)
    slim["ssh_m2_red_conv"] = _identity(2 * K, K, 1, dst_offset=K)  # stride 16 -> [K, 2K), then upsampled
    slim["ssh_m1_conv"] = _identity(2 * K, 2 * K, 3, count=2 * K)
    for name, (w, b) in slim.items():
        full_w = params[f"{name}_weight"]
        full_w[: w.shape[0]] = 0.0  # designed channels read nothing but designed channels
        full_w[: w.shape[0], : w.shape[1]] = w
        params[f"{name}_bias"][: w.shape[0]] = b


def install_heads(params: dict[str, np.ndarray], trained: dict[str, np.ndarray]) -> None:
    """Put trained detection-module and head weights (slim inputs) into full-size ``params`` (in place)."""
    for name, value in trained.items():
        full = params[name]
        if full.shape == value.shape:
            full[...] = value
        else:  # a module's first convs: trained on the designed inputs, zero on the random ones
            full[...] = 0.0
            full[:, : value.shape[1]] = value


def feature_symbol():
    """The slim network: designed channels only, outputs ``(x8, x16, x32)`` = the modules' inputs."""
    from ..extras import require

    mx = require("mxnet", "computing the designed features")
    x = mx.sym.Variable("data")
    relu4_3 = None
    for name in trunk_layers():
        group, index = (int(v) for v in name[4:].split("_"))
        x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=designed_rows(name), name=name)
        x = mx.sym.Activation(x, act_type="relu")
        if name == "conv4_3":
            relu4_3 = x
        if index == VGG_GROUPS[group - 1][0] and group < 5:
            x = mx.sym.Pooling(x, pool_type="max", kernel=(2, 2), stride=(2, 2))
    relu5_3 = x
    m3_pool = mx.sym.Pooling(relu5_3, pool_type="max", kernel=(2, 2), stride=(2, 2))
    up = mx.sym.Deconvolution(relu5_3, num_filter=K, kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_group=K,
                              no_bias=True, name="ssh_m2_red_upsampling")  # fmt: skip
    x8 = mx.sym.concat(relu4_3, mx.sym.Crop(up, relu4_3), dim=1)
    return mx.sym.Group([x8, relu5_3, m3_pool])


class FeatureExtractor:
    """The modules' designed inputs for RGB-minus-mean batches ``(B, 3, H, W)``."""

    def __init__(self, mean_rgb, batch: int, height: int, width: int, upsampling: np.ndarray):
        import mxnet as mx

        args = {"data": mx.nd.zeros((batch, 3, height, width))}
        for name, (w, b) in trunk_weights(mean_rgb).items():
            args[f"{name}_weight"], args[f"{name}_bias"] = mx.nd.array(w), mx.nd.array(b)
        args["ssh_m2_red_upsampling_weight"] = mx.nd.array(upsampling[:K])
        self._exe = feature_symbol().bind(mx.cpu(), args=args, grad_req="null")

    def __call__(self, rgb_minus_mean: np.ndarray) -> list[np.ndarray]:
        self._exe.arg_dict["data"][:] = rgb_minus_mean
        return [o.asnumpy() for o in self._exe.forward(is_train=False)]
