"""The one error type of pipnet_model: a user-caused problem with a one-line message."""


class PIPNetError(Exception):
    """A problem a user can cause (bad file, bad argument); the message is one line."""
