"""Per-round table of one or more ``facetrack stc`` runs (their ``metrics.json``), as Markdown.

    python benchmarks/stc_table.py ~/runs/stc_e6 ~/runs/stc_e6_control

Columns: validation NME (the split that chooses), then NME / FR@0.1 of every ``--eval`` set, and the round's time.
The row each run's validation set would choose is marked.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def short(spec: str) -> str:
    p = Path(spec.partition(":")[2] or spec)
    return f"{p.parent.name}/{p.stem}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    runs = [(Path(r).expanduser(), json.loads((Path(r).expanduser() / "metrics.json").read_text())) for r in a.runs]
    evals = []
    for _, m in runs:
        for row in m["rounds"]:
            evals += [e for e in row.get("eval", {}) if e not in evals]
    head = ["run", "round", "task", "val NME %"] + [f"{short(e)} NME % / FR %" for e in evals] + ["minutes"]
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + " |")
    for path, m in runs:
        scored = [r for r in m["rounds"] if "val" in r]
        chosen = min(scored, key=lambda r: r["val"]["nme"])["round"] if scored else None
        for r in m["rounds"]:
            val = f"{100 * r['val']['nme']:.2f}" if "val" in r else "-"
            if r["round"] == chosen:
                val = f"**{val}**"
            cells = [path.name, str(r["round"]), r["task"], val]
            for e in evals:
                s = r.get("eval", {}).get(e)
                cells.append(f"{100 * s['nme']:.2f} / {100 * s['fr']:.1f}" if s else "-")
            cells.append(f"{r['seconds'] / 60:.1f}")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
