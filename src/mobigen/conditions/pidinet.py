"""PiDiNet, the soft-edge network ControlNet v1.1 uses for its "softedge"/HED-family condition.

Written from the paper (Su et al., "Pixel Difference Networks for Efficient Edge Detection",
ICCV 2021) and laid out so that the released checkpoint ``table5_pidinet.pth`` (Table 5 of the
paper: PiDiNet, C=60, CDCM + CSAM, 710k parameters) loads strictly, every tensor by name.

Paper -> module:

* **Pixel difference convolution** (Sec. 3.1, eqs. 1-2): a 3x3 conv whose weights multiply pixel
  *differences* instead of pixels. Three kinds (Fig. 3):
  - CPDC (central, ``"cd"``):  y = Σ_i w_i (x_i − x_c)  = conv with kernel w, centre tap − Σw;
  - APDC (angular, ``"ad"``):  y = Σ_i w_i (x_i − x_i'), x_i' the clockwise neighbour of x_i on the
    8-ring  = conv with kernel w − (w shifted one step anticlockwise on the ring);
  - RPDC (radial, ``"rd"``):   y = Σ_i w_i (x_i^outer − x_i^inner) on a 5x5 window (padding 2);
  - vanilla (``"cv"``).
  Each is *exactly* a vanilla conv with a transformed kernel (the paper's Sec. 3.3 "converted"
  PiDiNet), which is what ``PixelDifferenceConv2d.kernel()`` builds, so inference costs one conv.
* **Backbone** (Fig. 4): an initial 3x3 PDC (3 -> C), then 4 stages of PDC blocks (3, 4, 4, 4
  blocks; C, 2C, 4C, 4C channels); the first block of stages 2-4 max-pools by 2 and has a 1x1
  conv shortcut (with bias). A block: depthwise 3x3 PDC -> ReLU -> 1x1 conv, plus the residual.
  PDC types follow the paper's best configuration "[C, A, R, V] x 4" (carv4): layer j uses
  ``("cd", "ad", "rd", "cv")[j % 4]`` for the 16 layers (init block + 15 blocks).
* **CDCM** (compact dilation convolution module, Fig. 5a): ReLU -> 1x1 conv (C_s -> 24, bias) ->
  four 3x3 convs with dilations 5, 7, 9, 11 (no bias), summed.
* **CSAM** (compact spatial attention module, Fig. 5b): ReLU -> 1x1 conv (24 -> 4, bias) -> 3x3 conv
  (4 -> 1, no bias) -> sigmoid; multiplies its input.
* Side outputs: a 1x1 conv (24 -> 1, bias) per stage, bilinearly upsampled to the input size; the
  fused output is a 1x1 conv (4 -> 1, bias) over the 4 side outputs; sigmoid on all 5.

Checkpoint storage conventions that the paper does not spell out, read from the tensor shapes:
every PDC weight is stored as a 3x3 kernel, including RPDC, whose 8 radial weights are entries
1..8 of the row-major 3x3 tensor (entry 0 is unused), assigned to the 8 directions in row-major
order of the 5x5 window's outer ring positions (0, 2, 4, 10, 14, 20, 22, 24), whose inner partners
are (6, 7, 8, 11, 13, 16, 17, 18).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PDC_TYPES: tuple[str, ...] = ("cv", "cd", "ad", "rd")
"""Pixel difference convolution kinds: vanilla, central, angular, radial."""

CARV4: tuple[str, ...] = tuple(("cd", "ad", "rd", "cv")[j % 4] for j in range(16))
"""The paper's best layer configuration [C, A, R, V] x 4 (layer 0 = init block)."""

# 8-neighbour ring of a row-major 3x3 kernel in clockwise order (top-left first).
_RING_CW = (0, 1, 2, 5, 8, 7, 6, 3)
# RPDC: outer 5x5 positions and their inner partners, in the checkpoint's order.
_RD_OUTER = (0, 2, 4, 10, 14, 20, 22, 24)
_RD_INNER = (6, 7, 8, 11, 13, 16, 17, 18)


def pdc_kernel(op: str, weight: torch.Tensor) -> torch.Tensor:
    """The vanilla-conv kernel equal to pixel difference conv ``op`` with 3x3 ``weight`` (O, I, 3, 3)."""
    if op == "cv":
        return weight
    o, i = weight.shape[:2]
    w = weight.reshape(o, i, 9)
    if op == "cd":  # CPDC: Σ w_i x_i − (Σ w_i) x_c
        k = w.clone()
        k[:, :, 4] = k[:, :, 4] - w.sum(dim=2)
        return k.reshape(o, i, 3, 3)
    if op == "ad":  # APDC: Σ_i w_i (x_i − x_next(i)), next = clockwise neighbour on the ring
        k = w.clone()
        # the centre tap pairs with itself (x_c − x_c = 0): its weight multiplies nothing
        k[:, :, 4] = 0.0
        for n, pos in enumerate(_RING_CW):
            nxt = _RING_CW[(n + 1) % 8]
            k[:, :, nxt] = k[:, :, nxt] - w[:, :, pos]
        return k.reshape(o, i, 3, 3)
    if op == "rd":  # RPDC: Σ_i w_i (x_outer_i − x_inner_i) on a 5x5 window
        k = torch.zeros(o, i, 25, dtype=weight.dtype, device=weight.device)
        k[:, :, list(_RD_OUTER)] = w[:, :, 1:]
        k[:, :, list(_RD_INNER)] = -w[:, :, 1:]
        return k.reshape(o, i, 5, 5)
    raise ValueError(f"op: must be one of {list(PDC_TYPES)}, got {op!r}")


class PixelDifferenceConv2d(nn.Module):
    """3x3 pixel difference convolution (Sec. 3.1), computed as one conv with the kernel of eq. (2)."""

    def __init__(self, op: str, in_ch: int, out_ch: int, *, groups: int = 1, bias: bool = False) -> None:
        super().__init__()
        if op not in PDC_TYPES:
            raise ValueError(f"op: must be one of {list(PDC_TYPES)}, got {op!r}")
        self.op = op
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch // groups, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")

    def kernel(self) -> torch.Tensor:
        """The equivalent vanilla kernel (3x3, or 5x5 for RPDC)."""
        return pdc_kernel(self.op, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel()
        pad = k.shape[-1] // 2
        return F.conv2d(x, k, self.bias, padding=pad, groups=self.groups)


class PDCBlock(nn.Module):
    """Depthwise PDC -> ReLU -> 1x1 conv, residual; stride 2 = max-pool first + 1x1 shortcut (Fig. 4)."""

    def __init__(self, op: str, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        if stride > 1:
            self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
            self.shortcut = nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=True)
        self.conv1 = PixelDifferenceConv2d(op, in_ch, in_ch, groups=in_ch)
        self.conv2 = nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = self.pool(x)
        y = self.conv2(F.relu(self.conv1(x)))
        if self.stride > 1:
            x = self.shortcut(x)
        return y + x


class CDCM(nn.Module):
    """Compact dilation convolution module (Fig. 5a): ReLU, 1x1, sum of 3x3 convs at dilations 5/7/9/11."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=True)
        self.conv2_1 = nn.Conv2d(out_ch, out_ch, 3, dilation=5, padding=5, bias=False)
        self.conv2_2 = nn.Conv2d(out_ch, out_ch, 3, dilation=7, padding=7, bias=False)
        self.conv2_3 = nn.Conv2d(out_ch, out_ch, 3, dilation=9, padding=9, bias=False)
        self.conv2_4 = nn.Conv2d(out_ch, out_ch, 3, dilation=11, padding=11, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(x))
        return self.conv2_1(x) + self.conv2_2(x) + self.conv2_3(x) + self.conv2_4(x)


class CSAM(nn.Module):
    """Compact spatial attention module (Fig. 5b): x · sigmoid(conv3x3(conv1x1(ReLU(x))))."""

    def __init__(self, channels: int, mid: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, mid, kernel_size=1, bias=True)
        self.conv2 = nn.Conv2d(mid, 1, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv2(self.conv1(F.relu(x))))


class MapReduce(nn.Module):
    """1x1 conv to one side-output edge map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PiDiNet(nn.Module):
    """PiDiNet (Fig. 4) with CDCM + CSAM; ``forward`` returns the 4 side outputs and the fused map
    (all after sigmoid, at input resolution), fused last."""

    def __init__(self, channels: int = 60, config: tuple[str, ...] = CARV4, dil: int = 24) -> None:
        super().__init__()
        if len(config) != 16:
            raise ValueError(f"config: expected 16 PDC types, got {len(config)}")
        c = channels
        self.init_block = PixelDifferenceConv2d(config[0], 3, c)
        stages = [(c, c, 3), (c, 2 * c, 4), (2 * c, 4 * c, 4), (4 * c, 4 * c, 4)]
        layer = 1
        for s, (cin, cout, n) in enumerate(stages, start=1):
            for b in range(1, n + 1):
                stride = 2 if (b == 1 and s > 1) else 1
                block = PDCBlock(config[layer], cin if b == 1 else cout, cout, stride=stride)
                self.add_module(f"block{s}_{b}", block)
                layer += 1
        self._stage_sizes = [n for _, _, n in stages]
        widths = [c, 2 * c, 4 * c, 4 * c]
        self.dilations = nn.ModuleList([CDCM(w, dil) for w in widths])
        self.attentions = nn.ModuleList([CSAM(dil) for _ in widths])
        self.conv_reduces = nn.ModuleList([MapReduce(dil) for _ in widths])
        self.classifier = nn.Conv2d(4, 1, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[2:]
        y = self.init_block(x)
        feats = []
        for s, n in enumerate(self._stage_sizes, start=1):
            for b in range(1, n + 1):
                y = getattr(self, f"block{s}_{b}")(y)
            feats.append(y)
        sides = []
        for i, f in enumerate(feats):
            e = self.conv_reduces[i](self.attentions[i](self.dilations[i](f)))
            sides.append(F.interpolate(e, (h, w), mode="bilinear", align_corners=False))
        fused = self.classifier(torch.cat(sides, dim=1))
        return [torch.sigmoid(t) for t in (*sides, fused)]


def load_checkpoint(path: str | Path, *, strict: bool = True) -> PiDiNet:
    """Build ``PiDiNet()`` and load ``path`` (a dict with ``state_dict``, keys prefixed ``module.``)
    strictly: a missing or unexpected key raises. Returns the network in eval mode."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f"PiDiNet checkpoint '{path}': expected a dict, got {type(ckpt).__name__}")
    state = ckpt.get("state_dict", ckpt)
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    net = PiDiNet()
    net.load_state_dict(state, strict=strict)
    return net.eval()
