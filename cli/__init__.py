"""The `facetrack` command (installed as the import package `facetrack_cli`)."""
