"""PIPNet (Pixel-in-Pixel Net) for facial landmarks: network, codec, data, training, metrics.

Usable on its own; it never imports facetrack. Importing the package imports nothing heavy: the names below
load their module on first use, so the torch-free parts (``meta``, ``runtime``, ``geometry``, ``augment``, ``datasets``, ``evaluation``,
``metrics``) work where torch is not installed.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "ModelMeta": "meta", "read_meta": "meta", "PIPNetError": "errors",
    "Scheme": "schemes", "SCHEMES": "schemes", "get_scheme": "schemes",
    "PIPNet": "network", "PIPNetModel": "checkpoint", "load_model": "checkpoint", "save_model": "checkpoint",
    "encode": "codec", "decode": "codec", "mean_face": "codec", "neighbor_indices": "codec",
    "reverse_index": "codec", "reverse_index_of": "codec",
}
__all__ = sorted(_WHERE)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
