"""facetrack: tracked, smoothed facial landmarks from video, built on PIPNet."""
from .errors import FacetrackError
from .interfaces import Analyser
from .landmarks import LandmarkPredictor, load_model
from .pipeline import FaceTracker, TrackOptions, run, track
from .sinks import AnnotatedVideoSink, CSVSink, JSONLSink
from .types import Detection, Face, FrameResult, TrackEvent

__all__ = ["FacetrackError", "Analyser", "LandmarkPredictor", "load_model", "FaceTracker", "TrackOptions", "track", "run",
           "Detection", "Face", "FrameResult", "TrackEvent", "CSVSink", "JSONLSink", "AnnotatedVideoSink"]
__version__ = "0.1.0"
