"""Pseudo-labels of one pass against the ensemble of translated copies (issue 13's ablation, label quality only):
the same teacher labels the same pool both ways; score both with ``stc_pseudo_nme.py`` against the pool's true labels.

    python benchmarks/stc_ensemble_labels.py MODEL --pool ~/runs/stc_pool --out ~/runs/ens_MODEL
    python benchmarks/stc_pseudo_nme.py ~/runs/ens_MODEL --pool ~/runs/stc_pool --labels ../shared/data/ytf68/train.csv

Writes ``OUT/round1_one_pass/pseudo/labels.csv`` and ``OUT/round2_ensemble/pseudo/labels.csv`` (the layout an STC
run has, so the scorer reads them) and prints the seconds each took.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipnet_model.checkpoint import load_model  # noqa: E402
from pipnet_model.stc import pseudo_label, read_pool, write_pseudo_set  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--pool", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    pool = read_pool(Path(a.pool).expanduser())
    model = load_model(a.model)
    out = Path(a.out).expanduser()
    res = {}
    for name, ens in (("round1_one_pass", False), ("round2_ensemble", True)):
        t = time.time()
        write_pseudo_set(out / name / "pseudo", pool, pseudo_label(model, pool, ens, "cpu"))
        res[name] = {"faces": len(pool), "seconds": round(time.time() - t, 1)}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
