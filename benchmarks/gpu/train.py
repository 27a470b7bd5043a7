"""Several `facetrack train` runs side by side on one GPU (the device machine), each a fixed recipe.

Measured on an H200 with 16 cores (2026-11-30, four runs side by side, 3 loader workers each): a Lite0 run
trains ~550 images/s at batch 16 (bound by the per-step launch overhead) and 1,300-1,950 at batch 64, i.e.
~5 s and ~2 s an epoch of the 2,807-face mix. The first lease's 30-epoch runs from ImageNet stopped far from
converged (training loss 0.46-0.51 against 0.37 for the fine-tuned default); the second lease's runs
(2026-12-01, kept by name in RUNS below) were long: 150 epochs at batch 64 (lr scaled by sqrt(batch/16)), the paper's
60 epochs at batch 16, and the larger Lite2. Each run's command is written to its log, so every model is
reproducible (replace the data paths: .gpu/ holds the WebP copies made by benchmarks/gpu/pack.py).

The default runs are the next lease's (NEXT_LEASE): since the fourteenth session every data set's labels are
converted to 0-based pixel centres when read (pipnet_model.datasets.CONVENTIONS; gpu/pack.py writes them converted and
the runs read them with ``?offset=0``), so the main stages use the paper's exact mirror. Each returned model then takes
docs/accuracy.md's last stage (fourteenth session, step 2: converted labels, the mirror, AFLW2000-3D's fit half
without its jaw) on the original images here
(`facetrack train ... --init RUN.last.safetensors`, ~6 min on a 2-core Zen 5) before `bash benchmarks/ship_model.sh`.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_MODEL = "facetrack/models/pipnet68_efficientnet_lite0.safetensors"


def mix(d: str) -> list[str]:
    """The training mix as packed by gpu/pack.py (labels already 0-based)."""
    return ["--data", f"{d}/w300/train.csv?offset=0", "--data", f"{d}/lfpw/train.csv?offset=0",
            "--data", f"{d}/ytf68/train.csv?offset=0@0.25"]


# name: (backbone, input size, init ("imagenet" or a model file), batch, lr, epochs, milestones[, extra arguments])
FIRST_LEASE = {  # 2026-11-30 (docs/accuracy.md)
    "ft192_b16": ("lite0", 192, DEFAULT_MODEL, 16, 1e-4, 16, "8,13"),
    "ft192_b64": ("lite0", 192, DEFAULT_MODEL, 64, 1e-4, 30, "15,25"),
    "in192_b64": ("lite0", 192, "imagenet", 64, 2e-4, 30, "15,25"),
    "in256_b64": ("lite0", 256, "imagenet", 64, 2e-4, 30, "15,25"),
}
# For the next lease (fourteenth session, docs/accuracy.md): the labels converted to 0-based pixel centres at load,
# the paper's exact mirror; then, on the CPU, the last stage of docs/accuracy.md (converted labels, mirror kept).
NEXT_LEASE = {
    "l0_192_b64_e150_cv": ("lite0", 192, "imagenet", 64, 2e-4, 150, "100,135"),
    "l2_256_b64_e100_cv": ("lite2", 256, "imagenet", 64, 2e-4, 100, "70,90"),   # a teacher to distil
}
RUNS = {
    **NEXT_LEASE,
    "l0_192_b64_e150": ("lite0", 192, "imagenet", 64, 2e-4, 150, "100,135"),   # second lease: raw labels
    "l0_192_b16_e60": ("lite0", 192, "imagenet", 16, 1e-4, 60, "30,50"),   # the paper's recipe at 192 px
    "l0_256_b64_e150": ("lite0", 256, "imagenet", 64, 2e-4, 150, "100,135"),
    "l2_256_b64_e100": ("lite2", 256, "imagenet", 64, 2e-4, 100, "70,90"),
    **FIRST_LEASE,
}


def command(name: str, data: str, out: Path, weights: str, workers: int, device: str, extra=()) -> list[str]:
    bb, size, init, batch, lr, epochs, ms, *more = RUNS[name]
    extra = (*(more[0] if more else ()), *extra)
    start = ["--pretrained-weights", weights.format(bb=bb)] if init == "imagenet" else ["--init", init]
    return [sys.executable, "-m", "facetrack_cli.main", "train", *mix(data), "--val", f"{data}/w300/test.csv?offset=0",
            "--backbone", f"efficientnet_{bb}", *start, "--input-size", str(size), "--batch-size", str(batch),
            "--lr", str(lr), "--epochs", str(epochs), "--milestones", ms, "--device", device,
            "--workers", str(workers), "--half", "--out", str(out / name), *extra]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300.0, help="seconds before unfinished runs are stopped")
    ap.add_argument("--runs", default=",".join(NEXT_LEASE),
                    help="comma-separated run names (default: the next lease's; the earlier leases' are kept by name)")
    ap.add_argument("--data", default=".gpu/shared/data")
    ap.add_argument("--weights", default=".gpu/{bb}_imagenet_fp16.safetensors", help="ImageNet weights ({bb}: lite0, lite2)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--out", default="/tmp/runs")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps-per-epoch", type=int, help="cap every epoch (a dry run of this script on a CPU)")
    ap.add_argument("--epochs", type=int, help="override every run's epochs (a dry run; milestones then 1)")
    a = ap.parse_args()
    out, logs = Path(a.out), Path(a.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cap = ["--steps-per-epoch", str(a.steps_per_epoch)] if a.steps_per_epoch else []
    cap += ["--epochs", str(a.epochs), "--milestones", "1"] if a.epochs else []
    procs = {}
    for name in a.runs.split(","):
        cmd = command(name, a.data, out, a.weights, a.workers, a.device, cap)
        f = open(logs / f"{name}.log", "a")
        f.write("$ " + shlex.join(cmd) + "\n")
        f.flush()
        procs[name] = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    t0, rc = time.time(), {}
    for name, p in procs.items():
        try:
            rc[name] = p.wait(timeout=max(1.0, a.budget - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            p.terminate()
            rc[name] = p.wait()
    print(json.dumps({"returncodes": rc, "seconds": round(time.time() - t0, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
