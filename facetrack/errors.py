"""facetrack's error type. It subclasses pipnet_model's, so one ``except PIPNetError`` catches both."""
from pipnet_model.errors import PIPNetError


class FacetrackError(PIPNetError):
    """A problem a user can cause; the message is one line."""
