"""Landmark schemes: number of points, horizontal-flip permutation, NME normalisation.

A scheme says how many points a face has, which point becomes which when the image is
mirrored (``flip_perm[i]`` is the index whose flipped position becomes point ``i``),
and which two points normalise the error (outer eye corners for 68/98/COFW).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PIPNetError


def _perm_from_pairs(n: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    perm = list(range(n))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


@dataclass(frozen=True)
class Scheme:
    name: str
    num_points: int
    flip_perm: tuple[int, ...]
    eye_corners: tuple[int, int]  # (left-image-side outer corner, right-image-side outer corner)
    norm: str = "eyes"  # "eyes": outer eye corner distance; "box": sqrt(w*h) of the landmark box
    point_names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        n = self.num_points
        if n < 2:
            raise PIPNetError(f"scheme {self.name!r}: needs at least 2 points, got {n}")
        if sorted(self.flip_perm) != list(range(n)):
            raise PIPNetError(f"scheme {self.name!r}: flip permutation is not a permutation of 0..{n - 1}")
        if any(self.flip_perm[self.flip_perm[i]] != i for i in range(n)):
            raise PIPNetError(f"scheme {self.name!r}: flip permutation is not an involution")
        a, b = self.eye_corners
        if not (0 <= a < n and 0 <= b < n) or a == b:
            raise PIPNetError(f"scheme {self.name!r}: eye corner indices {self.eye_corners} out of range")
        if self.norm not in ("eyes", "box"):
            raise PIPNetError(f"scheme {self.name!r}: norm must be 'eyes' or 'box', got {self.norm!r}")

    def to_json(self) -> dict:
        return {"name": self.name, "num_points": self.num_points, "flip_perm": list(self.flip_perm),
                "eye_corners": list(self.eye_corners), "norm": self.norm}

    @staticmethod
    def from_json(d: dict) -> "Scheme":
        try:
            name = str(d["name"])
            if name in SCHEMES and int(d["num_points"]) == SCHEMES[name].num_points and "flip_perm" not in d:
                return SCHEMES[name]
            n = int(d["num_points"])
            if "flip_perm" in d:
                perm = tuple(int(i) for i in d["flip_perm"])
            else:
                perm = _perm_from_pairs(n, [tuple(p) for p in d.get("flip_pairs", [])])
            return Scheme(name, n, perm, tuple(int(i) for i in d["eye_corners"]), str(d.get("norm", "eyes")))
        except PIPNetError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise PIPNetError(f"bad landmark scheme description: {type(e).__name__}: {e}") from None


# 68 points, iBUG 300-W order (0-based)
_P68 = [(i, 16 - i) for i in range(8)] + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)] + \
    [(31, 35), (32, 34)] + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)] + \
    [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
# 98 points, WFLW order
_P98 = [(i, 32 - i) for i in range(16)] + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49),
                                            (40, 48), (41, 47)] + [(55, 59), (56, 58)] + \
    [(60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73)] + \
    [(76, 82), (77, 81), (78, 80), (83, 87), (84, 86), (88, 92), (89, 91), (93, 95), (96, 97)]
# 29 points, COFW order
_P29 = [(0, 1), (4, 6), (2, 3), (5, 7), (8, 9), (10, 11), (12, 14), (16, 17), (13, 15), (18, 19), (22, 23)]
# 19 points, AFLW order
_P19 = [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)]

SCHEMES: dict[str, Scheme] = {
    "68": Scheme("68", 68, _perm_from_pairs(68, _P68), (36, 45)),
    "98": Scheme("98", 98, _perm_from_pairs(98, _P98), (60, 72)),
    "29": Scheme("29", 29, _perm_from_pairs(29, _P29), (8, 9)),
    "19": Scheme("19", 19, _perm_from_pairs(19, _P19), (6, 11), norm="box"),
}


def get_scheme(name_or_path: str | int | Path) -> Scheme:
    """A built-in scheme by name ('68', '98', '29', '19') or a custom one from a JSON file.

    Custom JSON: ``{"name": "mine", "num_points": 5, "flip_pairs": [[0, 1], [3, 4]], "eye_corners": [0, 1]}``.
    """
    key = str(name_or_path)
    if key in SCHEMES:
        return SCHEMES[key]
    p = Path(key)
    if p.suffix.lower() == ".json":
        if not p.is_file():
            raise PIPNetError(f"scheme file not found: {p}")
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise PIPNetError(f"cannot read scheme file {p}: {e}") from None
        return Scheme.from_json(d)
    raise PIPNetError(f"unknown landmark scheme {key!r} (built-in: {', '.join(SCHEMES)}, or a .json file)")
