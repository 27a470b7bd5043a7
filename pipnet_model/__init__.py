"""PIPNet (Pixel-in-Pixel Net) for facial landmarks: network, codec, data, training, metrics.

Usable on its own; it never imports facetrack.
"""
from .checkpoint import ModelMeta, PIPNetModel, load_model, read_meta, save_model
from .codec import decode, encode, mean_face, neighbor_indices, reverse_index
from .errors import PIPNetError
from .network import PIPNet
from .schemes import SCHEMES, Scheme, get_scheme

__all__ = ["PIPNet", "PIPNetModel", "ModelMeta", "PIPNetError", "Scheme", "SCHEMES", "get_scheme",
           "load_model", "save_model", "read_meta", "encode", "decode", "mean_face", "neighbor_indices",
           "reverse_index"]
__version__ = "0.1.0"
