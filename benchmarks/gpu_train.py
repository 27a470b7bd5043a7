"""Several `facetrack train` runs side by side on one GPU (the device machine), each a fixed recipe.

Measured on an H200 with 16 cores (2026-11-30): at batch 16 a Lite0 run is bound by the per-step launch
overhead, ~230 images/s per process with three side by side, so the paper's 60 epochs at batch 16 on the
2,807-face mix take ~12 minutes per run; the runs below fit one 15-minute device lease, hence larger batches
(lr scaled by sqrt(batch/16)) or fine-tuning. Each run's command is written to its log, so every model is
reproducible (replace the data paths: .gpu/ holds the WebP copies made by benchmarks/gpu_pack.py).
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
    return ["--data", f"{d}/w300/train.csv", "--data", f"{d}/lfpw/train.csv", "--data", f"{d}/ytf68/train.csv@0.25"]


# name: (input size, init ("imagenet" or a model file), batch, lr, epochs, milestones)
RUNS = {
    "ft192_b16": (192, DEFAULT_MODEL, 16, 1e-4, 16, "8,13"),
    "ft192_b64": (192, DEFAULT_MODEL, 64, 1e-4, 30, "15,25"),
    "in192_b64": (192, "imagenet", 64, 2e-4, 30, "15,25"),
    "in256_b64": (256, "imagenet", 64, 2e-4, 30, "15,25"),
}


def command(name: str, data: str, out: Path, weights: str, workers: int, device: str, extra=()) -> list[str]:
    size, init, batch, lr, epochs, ms = RUNS[name]
    start = ["--pretrained-weights", weights] if init == "imagenet" else ["--init", init]
    return [sys.executable, "-m", "facetrack_cli.main", "train", *mix(data), "--val", f"{data}/w300/test.csv",
            "--backbone", "efficientnet_lite0", *start, "--input-size", str(size), "--batch-size", str(batch),
            "--lr", str(lr), "--epochs", str(epochs), "--milestones", ms, "--device", device,
            "--workers", str(workers), "--half", "--out", str(out / name), *extra]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300.0, help="seconds before unfinished runs are stopped")
    ap.add_argument("--runs", default=",".join(RUNS))
    ap.add_argument("--data", default=".gpu/shared/data")
    ap.add_argument("--weights", default=".gpu/lite0_imagenet_fp16.safetensors")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--out", default="/tmp/runs")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps-per-epoch", type=int, help="cap every epoch (a dry run of this script on a CPU)")
    a = ap.parse_args()
    out, logs = Path(a.out), Path(a.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cap = ["--steps-per-epoch", str(a.steps_per_epoch)] if a.steps_per_epoch else []
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
