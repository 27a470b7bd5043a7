"""facetrack: tracked, smoothed facial landmarks from video, built on PIPNet."""
from .errors import FacetrackError
from .landmarks import LandmarkPredictor, load_model

__all__ = ["FacetrackError", "LandmarkPredictor", "load_model"]
__version__ = "0.1.0"
