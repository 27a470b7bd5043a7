"""PIPNet codec: targets from points, points from network outputs. Pure, batched tensor code.

Coordinates are normalised to the crop: x in [0, 1) spans the crop width. A map of W columns
gives landmark i the cell ``floor(x * W)`` (clamped); its offset target is ``x * W - col``;
neighbour j of landmark i is predicted from i's cell as ``x_nb * W - col``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .runtime import decode_np, reverse_index_np  # noqa: F401 - decode_np re-exported: the numpy twin of decode


# ----------------------------------------------------------------------- mean face, neighbours
def mean_face(shapes: torch.Tensor) -> torch.Tensor:
    """Mean of normalised training shapes (M, N, 2) -> (N, 2)."""
    return torch.as_tensor(shapes, dtype=torch.float64).mean(0).float()


def neighbor_indices(meanface: torch.Tensor, num_nb: int) -> torch.Tensor:
    """For each point, its ``num_nb`` nearest other points of the mean face (N, num_nb), nearest first."""
    mf = torch.as_tensor(meanface, dtype=torch.float64)
    d = torch.cdist(mf, mf)
    d.fill_diagonal_(float("inf"))
    return torch.sort(d, dim=1, stable=True).indices[:, :num_nb].contiguous()


@dataclass(frozen=True)
class ReverseIndex:
    """Who predicts point i: ``(src[i, k], slot[i, k])`` means point src predicts i as its neighbour
    number slot; ``weight[i, k]`` is 1 for a counted vote, 0 for padding."""
    src: torch.Tensor   # (N, L) long
    slot: torch.Tensor  # (N, L) long
    weight: torch.Tensor  # (N, L) float

    def numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.src.numpy(), self.slot.numpy(), self.weight.numpy().astype(np.float32)


def reverse_index(nb_idx: torch.Tensor, mode: str = "cyclic") -> ReverseIndex:
    """Invert the neighbour table (:func:`runtime.reverse_index_np`, as tensors). ``cyclic`` pads every list to
    the longest by cyclic repetition, as the reference code does (some votes count more than once); ``exact``
    counts each vote once."""
    src, slot, w = reverse_index_np(torch.as_tensor(nb_idx).tolist(), mode)
    return ReverseIndex(torch.from_numpy(src), torch.from_numpy(slot), torch.from_numpy(w))


# ------------------------------------------------------------------------------------- encode
@dataclass
class Targets:
    """Sparse targets: the owning cell of each point and the regression targets stored there. ``mask`` (B, N):
    which points are labelled (None: all); ``nb_mask`` (B, N, C): a neighbour offset is a target only when the
    point and that neighbour are both labelled."""
    cell: torch.Tensor    # (B, N) long, row * W + col
    offset: torch.Tensor  # (B, N, 2) in map units, [0, 1) for points inside the crop
    nb: torch.Tensor      # (B, N, C, 2) neighbour positions relative to the cell corner, map units
    map_hw: tuple[int, int]
    mask: torch.Tensor | None = None
    nb_mask: torch.Tensor | None = None

    def score_map(self) -> torch.Tensor:
        """Dense score target (B, N, H, W): 1 at the owning cell, 0 elsewhere."""
        h, w = self.map_hw
        b, n = self.cell.shape
        m = torch.zeros(b, n, h * w, dtype=self.offset.dtype, device=self.cell.device)
        m.scatter_(2, self.cell.unsqueeze(-1), 1.0)
        return m.view(b, n, h, w)

    def to(self, device) -> "Targets":
        opt = [None if v is None else v.to(device) for v in (self.mask, self.nb_mask)]
        return Targets(self.cell.to(device), self.offset.to(device), self.nb.to(device), self.map_hw, *opt)


def cells(points: torch.Tensor, map_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(col, row, flat index) of each point's owning cell, clamped to the map."""
    h, w = map_hw
    col = torch.floor(points[..., 0] * w).long().clamp(0, w - 1)
    row = torch.floor(points[..., 1] * h).long().clamp(0, h - 1)
    return col, row, row * w + col


def encode(points: torch.Tensor, map_hw: tuple[int, int], nb_idx: torch.Tensor,
           mask: torch.Tensor | None = None) -> Targets:
    """Targets for normalised points (B, N, 2); ``mask`` (B, N) bool: the labelled points (unlabelled ones may hold
    any finite value; they are no target, nor a neighbour's)."""
    pts = torch.as_tensor(points, dtype=torch.float32)
    h, w = map_hw
    col, row, flat = cells(pts, map_hw)
    corner = torch.stack([col, row], -1).float()
    scale = torch.tensor([w, h], dtype=pts.dtype, device=pts.device)
    pm = pts * scale
    offset = pm - corner
    nb = pm[:, nb_idx.to(pts.device)] - corner.unsqueeze(2)  # (B, N, C, 2)
    if mask is None:
        return Targets(flat, offset, nb, (h, w))
    mask = torch.as_tensor(mask, dtype=torch.bool, device=pts.device)
    return Targets(flat, offset, nb, (h, w), mask, mask.unsqueeze(2) & mask[:, nb_idx.to(pts.device)])


def ideal_outputs(points: torch.Tensor, map_hw: tuple[int, int], nb_idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The five output maps a perfect network would give (targets written densely at the owning cells)."""
    t = encode(points, map_hw, nb_idx)
    b, n = t.cell.shape
    c = nb_idx.shape[1]
    h, w = map_hw
    score = t.score_map()

    def dense(values: torch.Tensor, ch: int) -> torch.Tensor:  # values (B, ch) placed at each channel's cell
        out = torch.zeros(b, ch, h * w)
        cell = t.cell if ch == n else t.cell.repeat_interleave(c, dim=1)
        out.scatter_(2, cell.unsqueeze(-1), values.unsqueeze(-1))
        return out.view(b, ch, h, w)

    return (score, dense(t.offset[..., 0], n), dense(t.offset[..., 1], n),
            dense(t.nb[..., 0].reshape(b, n * c), n * c), dense(t.nb[..., 1].reshape(b, n * c), n * c))


# ------------------------------------------------------------------------------------- decode
def decode(outputs: tuple[torch.Tensor, ...], nb_idx: torch.Tensor | None = None,
           rev: ReverseIndex | None = None, nrm: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Network outputs -> (points (B, N, 2) normalised, confidence (B, N)).

    Each point takes its argmax cell; its own prediction is (cell + offset) / map size. With NRM, every
    point also predicts its neighbours from its own cell, and a point's final position is the plain mean
    of its own prediction and the predictions of it made by the points that count it as a neighbour
    (weighted by ``rev.weight``). Confidence is the score at the argmax cell, clipped to [0, 1]."""
    score, ox, oy, nbx, nby = outputs
    b, n, h, w = score.shape
    flat = score.reshape(b, n, h * w)
    best, idx = flat.max(dim=2)  # (B, N)
    col = (idx % w).to(ox.dtype)
    row = torch.div(idx, w, rounding_mode="floor").to(ox.dtype)
    g = idx.unsqueeze(-1)
    px = (col + ox.reshape(b, n, h * w).gather(2, g).squeeze(-1)) / w
    py = (row + oy.reshape(b, n, h * w).gather(2, g).squeeze(-1)) / h
    conf = best.clamp(0, 1)
    if not nrm:
        return torch.stack([px, py], -1), conf
    if rev is None:
        if nb_idx is None:
            raise ValueError("NRM decoding needs the neighbour indices or a reverse index")
        rev = reverse_index(nb_idx)
    c = nbx.shape[1] // n
    gi = idx.repeat_interleave(c, dim=1).unsqueeze(-1)  # (B, N*C, 1)
    qx = ((col.repeat_interleave(c, 1) + nbx.reshape(b, n * c, h * w).gather(2, gi).squeeze(-1)) / w).view(b, n, c)
    qy = ((row.repeat_interleave(c, 1) + nby.reshape(b, n * c, h * w).gather(2, gi).squeeze(-1)) / h).view(b, n, c)
    src, slot, wt = rev.src.to(score.device), rev.slot.to(score.device), rev.weight.to(px.dtype).to(score.device)
    vx = qx[:, src, slot]  # (B, N, L)
    vy = qy[:, src, slot]
    denom = 1.0 + wt.sum(1)  # (N,)
    x = (px + (vx * wt).sum(-1)) / denom
    y = (py + (vy * wt).sum(-1)) / denom
    return torch.stack([x, y], -1), conf


def reverse_index_of(meta) -> ReverseIndex:
    """A model's (:class:`~pipnet_model.meta.ModelMeta`) reverse neighbour index as tensors."""
    return reverse_index(meta.nb_tensor(), "cyclic" if meta.nrm == "none" else meta.nrm)
