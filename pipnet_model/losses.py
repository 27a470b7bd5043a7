"""The PIPNet loss: w_cls * MSE(score maps) + w_reg * L1(offsets, neighbour offsets) at the ground-truth cell."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .codec import Targets


def _at_cells(maps: torch.Tensor, cell: torch.Tensor, per_point: int) -> torch.Tensor:
    """Values of maps (B, N*per_point, H, W) at each point's cell (B, N) -> (B, N*per_point)."""
    b, ch = maps.shape[:2]
    idx = cell.repeat_interleave(per_point, dim=1) if per_point > 1 else cell
    return maps.reshape(b, ch, -1).gather(2, idx.unsqueeze(-1)).squeeze(-1)


def pipnet_loss(outputs: tuple[torch.Tensor, ...], t: Targets, cls_weight: float = 10.0,
                reg_weight: float = 1.0, nb_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts. Score: MSE over all map cells; regression: mean L1 over the owning cells. With
    ``t.mask`` the means run over the labelled points only (and the neighbour terms over labelled pairs)."""
    score, ox, oy, nbx, nby = outputs
    b, n = t.cell.shape
    c = t.nb.shape[2]
    w = t.mask.float() if t.mask is not None else torch.ones(b, n, device=score.device)
    wn = t.nb_mask.float().reshape(b, n * c) if t.nb_mask is not None else torch.ones(b, n * c, device=score.device)

    def mean(err: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return (err * weight).sum() / weight.sum().clamp_min(1.0)

    l_cls = mean(((score.float() - t.score_map().float()) ** 2).mean((2, 3)), w)
    l_x = mean((_at_cells(ox, t.cell, 1).float() - t.offset[..., 0]).abs(), w)
    l_y = mean((_at_cells(oy, t.cell, 1).float() - t.offset[..., 1]).abs(), w)
    l_nx = mean((_at_cells(nbx, t.cell, c).float() - t.nb[..., 0].reshape(b, n * c)).abs(), wn)
    l_ny = mean((_at_cells(nby, t.cell, c).float() - t.nb[..., 1].reshape(b, n * c)).abs(), wn)
    total = cls_weight * l_cls + reg_weight * (l_x + l_y) + nb_weight * (l_nx + l_ny)
    parts = {k: float(v.detach()) for k, v in (("cls", l_cls), ("x", l_x), ("y", l_y), ("nb_x", l_nx), ("nb_y", l_ny))}
    return total, parts


def coarse_target(points: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """One-hot (B, N, h, w) at each point's owning cell of an h x w map (points (B, N, 2) in [0, 1])."""
    b, n = points.shape[:2]
    col = torch.floor(points[..., 0] * w).long().clamp(0, w - 1)
    row = torch.floor(points[..., 1] * h).long().clamp(0, h - 1)
    tgt = torch.zeros(b, n, h * w, device=points.device)
    tgt.scatter_(2, (row * w + col).unsqueeze(-1), 1.0)
    return tgt.view(b, n, h, w)


def coarse_score_loss(score: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """MSE of a coarse score map (B, N, h, w) against the one-hot owning cell at that resolution (STC cls2/cls3)."""
    return F.mse_loss(score.float(), coarse_target(points, score.shape[2], score.shape[3]))
