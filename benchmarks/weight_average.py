"""Average the weights of models of one network (a "model soup"): fine-tunes from one start with different seeds.

    python benchmarks/weight_average.py OUT.safetensors RUN_A/last.safetensors RUN_B/last.safetensors [...]

Every floating-point tensor (batch-norm statistics included) is the plain mean; integer buffers come from the first
model, and so does the metadata (the recipe records the models averaged). Written as fp16, like the shipped model.
"""
from __future__ import annotations

import argparse

import torch

from pipnet_model.checkpoint import load_model, save_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    models = [load_model(p) for p in a.models]
    states = [m.net.state_dict() for m in models]
    avg = {k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
           for k, v in states[0].items()}
    first = models[0]
    first.net.load_state_dict(avg)
    first.meta.recipe = dict(first.meta.recipe, weight_average=list(a.models))
    print("wrote", save_model(first, a.out, half=True))


if __name__ == "__main__":
    main()
