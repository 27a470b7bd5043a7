"""Where models come from: the PIPNet weights bundled in the package."""
from __future__ import annotations

from pathlib import Path

from .errors import FacetrackError

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "pipnet68_efficientnet_lite0.safetensors"


def default_model_path() -> Path:
    p = MODELS_DIR / DEFAULT_MODEL
    if not p.is_file():
        raise FacetrackError(f"the default model is missing from the installation ({p}); pass --model PATH")
    return p


def resolve_model_path(model: str | Path) -> Path:
    """'default' -> the bundled model; anything else is a file path."""
    if str(model) == "default":
        return default_model_path()
    p = Path(model).expanduser()
    if not p.exists():
        raise FacetrackError(f"model file not found: {p}")
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise FacetrackError(f"{p} is a folder without best.safetensors or last.safetensors")
    return p
