"""PIPNet: a stride-32 backbone and five parallel 1x1 heads."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import build_backbone, pretrained_backbone
from .errors import PIPNetError
from .meta import STRIDE  # one definition, shared with the torch-free metadata


class PIPNet(nn.Module):
    """Outputs for an input of size S: five maps of size S/32 x S/32:
    score (N), offset x (N), offset y (N), neighbour x (N*C), neighbour y (N*C);
    neighbour channel ``landmark * C + j``. Scores are raw (no sigmoid)."""

    def __init__(self, backbone: str = "resnet18", num_points: int = 68, num_nb: int = 10,
                 input_size: int = 256, pretrained: bool | str | Path = False):
        super().__init__()
        if input_size % STRIDE or input_size < STRIDE:
            raise PIPNetError(f"input size must be a positive multiple of {STRIDE}, got {input_size}")
        if not 1 <= num_nb < num_points:
            raise PIPNetError(f"number of neighbours must be in 1..{num_points - 1}, got {num_nb}")
        self.backbone_name = backbone
        self.num_points, self.num_nb, self.input_size = num_points, num_nb, input_size
        if pretrained:
            self.backbone = pretrained_backbone(backbone, None if pretrained is True else pretrained, require=True)
        else:
            self.backbone = build_backbone(backbone)
        c = self.backbone.out_channels
        self.cls_layer = nn.Conv2d(c, num_points, 1)
        self.x_layer = nn.Conv2d(c, num_points, 1)
        self.y_layer = nn.Conv2d(c, num_points, 1)
        self.nb_x_layer = nn.Conv2d(c, num_points * num_nb, 1)
        self.nb_y_layer = nn.Conv2d(c, num_points * num_nb, 1)
        for m in self.heads():
            nn.init.normal_(m.weight, std=0.001)
            nn.init.zeros_(m.bias)

    def heads(self) -> list[nn.Conv2d]:
        return [self.cls_layer, self.x_layer, self.y_layer, self.nb_x_layer, self.nb_y_layer]

    @property
    def map_size(self) -> int:
        return self.input_size // STRIDE

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def heads_forward(self, f: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(h(f) for h in self.heads())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.heads_forward(self.features(x))

    def forward_with_coarse(self, x: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        """Full outputs plus the STC coarse scores: the score head on max-pooled features, 2x (cls2) and 4x
        (cls3) coarser than the map, as the reference's two 2x2 poolings (256 input: 8x8 -> 4x4 and 2x2; 192
        input: 6x6 -> 3x3 and 2x2)."""
        f = self.features(x)
        full = self.heads_forward(f)
        m = f.shape[-1]
        cls2 = self.cls_layer(F.adaptive_max_pool2d(f, max(m // 2, 1)))
        cls3 = self.cls_layer(F.adaptive_max_pool2d(f, max(round(m / 4), 1)))
        return full, cls2, cls3
