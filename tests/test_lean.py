"""The lean install: `pip install facetrack` has no torch, and the product runs without it.

Here torch is installed (the dev install), so these tests hide it from imports in a subprocess: what such a
process does is what a user without torch gets."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# torch cannot be imported, and looks uninstalled to importlib.util.find_spec
HIDE = '''
import sys, importlib.util
HIDDEN = {hidden!r}
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ImportError(name + " is hidden in this test")
sys.meta_path.insert(0, _Hide())
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: None if name.split(".")[0] in HIDDEN else _find(name, package)
'''


def run_without_torch(args: list[str], env_home: Path, tmp_path: Path, hide=("torch",)) -> subprocess.CompletedProcess:
    code = HIDE.format(hidden=tuple(hide)) + '''
from facetrack_cli.main import main
rc = main(sys.argv[1:])
print("TORCH_IMPORTED=" + str("torch" in sys.modules), file=sys.stderr)
sys.exit(rc)
'''
    import os
    env = {**os.environ, "FACETRACK_HOME": str(env_home)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)


def test_track_runs_without_torch_and_never_imports_it(tmp_path, clip, detector_model):
    out = tmp_path / "o.csv"
    r = run_without_torch(["track", str(clip), "--max-frames", "20", "--csv", str(out),
                           "--detector-model", str(detector_model)], tmp_path / "home", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "TORCH_IMPORTED=False" in r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 20 and summary["faces"] >= 20
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + summary["faces"]


def test_predict_and_eval_run_without_torch(tmp_path, detector_model):
    pytest.importorskip("skimage")
    import cv2

    from facetrack.samples import astronaut_bgr
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), astronaut_bgr())
    r = run_without_torch(["predict", str(img), "--json", "--detector-model", str(detector_model)],
                          tmp_path / "home", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "TORCH_IMPORTED=False" in r.stderr
    assert len(json.loads(r.stdout)["faces"]) == 1


@pytest.mark.parametrize("cmd,extra", [(["train", "--data", "csv:x.csv"], "train"), (["stc", "--labeled", "csv:x",
                                       "--unlabeled", "pool"], "train"), (["export"], "train"),
                                       (["track", "{clip}", "--csv", "o.csv", "--backend", "torch"], "train"),
                                       (["track", "{clip}", "--csv", "o.csv", "--device", "cuda"], "gpu")])
def test_what_needs_torch_names_the_extra_in_one_line(tmp_path, cmd, extra, clip):
    r = run_without_torch([c.format(clip=clip) for c in cmd], tmp_path / "home", tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("TORCH_IMPORTED")]
    assert len(lines) == 1 and f"pip install 'facetrack[{extra}]'" in lines[0], r.stderr
    assert "TORCH_IMPORTED=False" in r.stderr


def test_shipped_runtime_files_belong_to_the_shipped_model():
    """The default model's ONNX and int8 files are tagged with the hash of the very file they were made from."""
    from facetrack.assets import default_model_path
    from facetrack.backends import ONNX_KEY, file_key, onnx_beside, onnx_metadata, read_int8
    m = default_model_path()
    assert onnx_metadata(onnx_beside(m))[ONNX_KEY] == file_key(m)
    om, why = read_int8(m)
    assert om is not None, why


def test_onnx_metadata_reader_agrees_with_the_onnx_package(tmp_path, tiny_model):
    onnx = pytest.importorskip("onnx")
    from facetrack.backends import onnx_metadata
    from pipnet_model import save_model
    from pipnet_model.export import write_runtime_file
    f = save_model(tiny_model, tmp_path / "m.safetensors", half=True)
    p = write_runtime_file(f)
    want = {q.key: q.value for q in onnx.load(str(p)).metadata_props}
    assert onnx_metadata(p) == want and set(want) == {"pipnet", "source_sha256"}
    # a half-precision checkpoint: every weight stored as float16 (about half the size of an fp32 export)
    inits = onnx.load(str(p)).graph.initializer
    big = [t for t in inits if np.prod(t.dims) > 1]
    assert big and all(t.data_type == onnx.TensorProto.FLOAT16 for t in big)


def test_stale_runtime_file_is_never_used(tmp_path, tiny_model, monkeypatch):
    """A model saved over its file makes its runtime ONNX stale: the engines export afresh instead of using it."""
    import torch

    from facetrack.backends import onnx_beside, runtime_onnx
    from pipnet_model import save_model
    from pipnet_model.export import write_runtime_file
    monkeypatch.setenv("FACETRACK_HOME", str(tmp_path / "home"))
    f = save_model(tiny_model, tmp_path / "m.safetensors")
    write_runtime_file(f)
    assert runtime_onnx(f) == onnx_beside(f)
    with torch.no_grad():
        next(tiny_model.net.parameters()).add_(0.01)
    save_model(tiny_model, f)
    p = runtime_onnx(f)
    assert p != onnx_beside(f) and p.parent == tmp_path / "home" / "onnx"


def test_the_wheel_carries_the_models(tmp_path):
    """What `pip install facetrack` gets: the wheel holds the model, its runtime ONNX, its int8 copy and the 3D
    face, and does not require torch."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("facetrack-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [ln for ln in z.read(meta).decode().splitlines() if ln.startswith("Requires-Dist:")]
    for f in ("pipnet68_efficientnet_lite0.safetensors", "pipnet68_efficientnet_lite0.onnx",
              "pipnet68_efficientnet_lite0.int8.xml", "pipnet68_efficientnet_lite0.int8.bin", "face3d_68.json"):
        assert f"facetrack/models/{f}" in names, f
    base = [ln for ln in requires if "extra ==" not in ln]
    assert not any("torch" in ln for ln in base), base
    assert any("openvino" in ln for ln in base)
    assert any("torch" in ln and "extra == \"train\"" in ln for ln in requires)


def test_matplotlib_still_works_after_the_detector_deferred_it(tmp_path, detector_model):
    """Loading MediaPipe defers matplotlib (its drawing helpers import pyplot, 0.28 s at every start); a user's
    own matplotlib, imported before or after, still works, and MediaPipe's drawing helpers see the real pyplot."""
    code = f'''
import sys
from facetrack.detectors import create_detector
det = create_detector("mediapipe", model_path={str(detector_model)!r})
assert type(sys.modules["matplotlib.pyplot"]).__name__ == "_Deferred"  # not loaded by MediaPipe
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
fig.savefig({str(tmp_path / "p.png")!r})
from mediapipe.tasks.python.vision import drawing_utils
assert drawing_utils.plt.figure is plt.figure
assert type(sys.modules["matplotlib.pyplot"]).__name__ == "module" and sys.modules["matplotlib"].__version__
det.close()
print("ok")
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_sounddevice_still_works_after_the_detector_deferred_it(detector_model):
    """MediaPipe's tasks package imports its audio recorder, which imports sounddevice (~35-45 ms at every start): a
    stand-in until used; then MediaPipe's recorder and the user's own import get the real module, or, on a machine
    without the PortAudio library (as here), the same OSError a plain import gives, at first use."""
    pytest.importorskip("mediapipe")
    if subprocess.run([sys.executable, "-c", "import importlib.util, sys; "
                       "sys.exit(importlib.util.find_spec('sounddevice') is None)"]).returncode:
        pytest.skip("sounddevice is not installed (nothing to defer)")
    plain = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True, text=True)
    code = f'''
import sys
from facetrack.detectors import create_detector
det = create_detector("mediapipe", model_path={str(detector_model)!r})
assert type(sys.modules["sounddevice"]).__name__ == "_Deferred"  # not loaded by MediaPipe
from mediapipe.tasks.python.audio.core import audio_record
try:
    assert audio_record.sd.InputStream  # MediaPipe's recorder reads through the stand-in to the real module
    import sounddevice
    assert type(sys.modules["sounddevice"]).__name__ == "module" and sounddevice.__version__
    print("real")
except OSError as e:
    assert "PortAudio" in str(e), e
    try:
        import sounddevice
    except OSError:
        print("no portaudio")
det.close()
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == ("real" if plain.returncode == 0 else "no portaudio"), (r.stdout, plain.stderr[-300:])


def test_openvino_loads_without_its_converter_and_convert_model_still_works(tmp_path):
    """The runtime imports OpenVINO without openvino.tools.ovc (~0.1 s of start-up); ``openvino.convert_model``
    still converts (it imports the converter when called), and the converter can be imported as usual."""
    onnx = ROOT / "facetrack" / "models" / "pipnet68_efficientnet_lite0.onnx"
    code = f'''
import sys
from facetrack.backends import import_openvino, make_runner
ov = import_openvino()
assert "openvino.tools.ovc" not in sys.modules and ov.Core().available_devices
from facetrack.landmarks import LandmarkPredictor
LandmarkPredictor("default", device="cpu")  # the runtime path: int8 read, compiled
assert "openvino.tools.ovc" not in sys.modules
m = ov.convert_model({str(onnx)!r})
assert m.inputs[0].get_partial_shape()[1] == 3
from openvino.tools.ovc import convert_model
assert "openvino.tools.ovc" in sys.modules
print("ok")
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_reid_without_its_extra_is_one_line_and_no_traceback_at_exit(tmp_path, clip, detector_model):
    """The plain install has no dlib: re-identification is off by default there, and asking for it says what to
    install, in one line, without MediaPipe's threads leaving a traceback at exit."""
    args = ["track", str(clip), "--csv", "o.csv", "--max-frames", "5", "--detector-model", str(detector_model)]
    r = run_without_torch(args + ["--reid"], tmp_path / "home", tmp_path, hide=("torch", "dlib"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("TORCH_IMPORTED")]
    assert len(lines) == 1 and "facetrack[reid]" in lines[0], r.stderr
    r = run_without_torch(args, tmp_path / "home", tmp_path, hide=("torch", "dlib"))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "reid" not in json.loads(r.stdout.strip().splitlines()[-1])
