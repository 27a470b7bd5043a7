"""Time to the first frame, before and after a change, whole process: a 1-frame `facetrack track CLIP --csv` job
in a fresh process, split into interpreter start + exit, imports, set-up (models loaded, engines compiled and
warmed) and the first frame, with a cold facetrack home (nothing compiled) and then warm (the same home again).

    python benchmarks/startup_ab.py CLIP --tree before=/tmp/before --tree after=. --runs 5

Each tree is a checkout of this repository run by this interpreter (its site-packages: the dev install); runs
are interleaved (before, after, after, before, ...) and the medians reported. The OS file cache is warm in every
run (the clip and the model files were read before); "cold" means facetrack's own caches are empty.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CODE = r'''
import time; t0 = time.perf_counter()
import io, json, sys, contextlib
from facetrack_cli.main import main
import facetrack.pipeline
t1 = time.perf_counter()
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = main(sys.argv[1:])
t2 = time.perf_counter()
s = json.loads(buf.getvalue().strip().splitlines()[-1])
print(json.dumps({"rc": rc, "imports": t1 - t0, "setup": s["setup_seconds"], "first_frame": s["seconds"] - s["setup_seconds"],
                  "in_process": t2 - t0, "torch_imported": "torch" in sys.modules}))
'''


def shim(tree: Path, td: Path) -> str:
    """PYTHONPATH that imports this tree's packages (facetrack_cli is the tree's cli/ folder)."""
    d = td / f"shim_{abs(hash(str(tree)))}"
    d.mkdir(exist_ok=True)
    link = d / "facetrack_cli"
    if not link.exists():
        link.symlink_to(tree.resolve() / "cli")
    return f"{tree.resolve()}{os.pathsep}{d}"


def one(tree_path: str, clip: str, home: Path, td: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": tree_path, "FACETRACK_HOME": str(home)}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CODE, "track", clip, "--csv", str(td / "one.csv"), "--quiet",
                        "--max-frames", "1"], capture_output=True, text=True, env=env, cwd=td)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"failed: {r.stderr[-800:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["wall"] = wall
    d["interpreter_and_exit"] = wall - d["in_process"]
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    from facetrack.assets import resolve_detector_model
    os.environ["FACETRACK_DETECTOR_MODEL"] = str(resolve_detector_model())
    trees = dict(t.split("=", 1) for t in a.tree)
    rows: dict = {n: {"cold": [], "warm": []} for n in trees}
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        paths = {n: shim(Path(p), td) for n, p in trees.items()}
        for n in trees:  # read every file once: the OS cache is warm for everyone
            one(paths[n], a.clip, td / f"prime_{n}", td)
        for r in range(a.runs):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for n in order:
                home = td / f"home_{n}_{r}"
                rows[n]["cold"].append(one(paths[n], a.clip, home, td))
                rows[n]["warm"].append(one(paths[n], a.clip, home, td))
    keys = ["wall", "interpreter_and_exit", "imports", "setup", "first_frame"]
    out = {"clip": a.clip, "runs": a.runs, "python": sys.version.split()[0], "cpus": os.cpu_count(),
           "date": time.strftime("%Y-%m-%d"), "median_seconds": {
               n: {c: {k: round(statistics.median(x[k] for x in v), 3) for k in keys}
                   | {"torch_imported": any(x["torch_imported"] for x in v)} for c, v in d.items()}
               for n, d in rows.items()}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
