"""Model files: safetensors tensors plus JSON metadata in the safetensors header. Never pickle.

One ``.safetensors`` file holds the network's state dict (fp32 or fp16) and, under the header
metadata key ``pipnet``, a JSON object: scheme, backbone, input size, stride, neighbours, mean face,
neighbour indices, normalisation, crop convention and training recipe.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .codec import neighbor_indices
from .errors import PIPNetError
from .meta import FORMAT, IMAGENET_MEAN, IMAGENET_STD, STRIDE, VERSION, ModelMeta, read_meta  # noqa: F401 - re-exported
from .network import PIPNet
from .schemes import Scheme


@dataclass
class PIPNetModel:
    """A network with everything needed to use it."""
    net: PIPNet
    meta: ModelMeta

    @staticmethod
    def create(backbone: str, scheme: Scheme, mean_face: torch.Tensor, num_nb: int = 10, input_size: int = 256,
               pretrained: bool | str = False, crop_scale: float = 1.1, recipe: dict | None = None) -> "PIPNetModel":
        nb = neighbor_indices(mean_face, num_nb)
        meta = ModelMeta(backbone=backbone, scheme=scheme, mean_face=mean_face.tolist(), nb_idx=nb.tolist(),
                         input_size=input_size, num_nb=num_nb, crop_scale=crop_scale, recipe=dict(recipe or {}))
        meta.validate()
        net = PIPNet(backbone, scheme.num_points, num_nb, input_size, pretrained=pretrained)
        return PIPNetModel(net, meta)


def save_model(model: PIPNetModel, path: str | Path, half: bool = False) -> Path:
    """Write atomically (temporary file, then rename)."""
    from safetensors.torch import save_file
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).contiguous().cpu()
          for k, v in model.net.state_dict().items()}
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    save_file(sd, str(tmp), metadata={"pipnet": json.dumps(model.meta.to_json())})
    os.replace(tmp, p)
    return p


def load_model(path: str | Path, device: str | torch.device = "cpu") -> PIPNetModel:
    """Load a model file, checking every tensor's name and shape against the metadata. fp16 files load as fp32."""
    from safetensors import safe_open
    p = Path(path)
    meta = read_meta(p)
    net = PIPNet(meta.backbone, meta.num_points, meta.num_nb, meta.input_size)
    own = net.state_dict()
    sd: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(p), framework="pt") as f:
            keys = set(f.keys())
            missing, extra = sorted(set(own) - keys), sorted(keys - set(own))
            if missing or extra:
                raise PIPNetError(f"{p}: tensors do not match a {meta.backbone} PIPNet "
                                  f"(missing {missing[:3]}, unexpected {extra[:3]})")
            for k in own:
                t = f.get_tensor(k)
                if tuple(t.shape) != tuple(own[k].shape):
                    raise PIPNetError(f"{p}: tensor {k} has shape {tuple(t.shape)}, expected {tuple(own[k].shape)}")
                if t.is_floating_point() and not torch.isfinite(t).all():
                    raise PIPNetError(f"{p}: tensor {k} holds NaN or infinite values")
                sd[k] = t.to(own[k].dtype)
    except PIPNetError:
        raise
    except Exception as e:  # noqa: BLE001 - a truncated file fails here
        raise PIPNetError(f"{p}: cannot read tensors ({str(e).splitlines()[0][:200]})") from None
    net.load_state_dict(sd)
    net.eval().to(device)
    return PIPNetModel(net, meta)


def average_models(paths: list[str | Path]) -> PIPNetModel:
    """The weights of models of one network averaged (a "model soup": fine-tunes from one start with different
    seeds). Every floating-point tensor (batch-norm statistics included) is the plain mean; integer buffers come
    from the first model, and so does the metadata (its recipe records the models averaged). Save it with
    ``save_model(..., half=True)`` like the shipped model; from a shell:
    ``python -m pipnet_model.checkpoint OUT.safetensors RUN_A/last.safetensors RUN_B/last.safetensors``."""
    models = [load_model(p) for p in paths]
    states = [m.net.state_dict() for m in models]
    avg = {k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
           for k, v in states[0].items()}
    first = models[0]
    first.net.load_state_dict(avg)
    first.meta.recipe = dict(first.meta.recipe, weight_average=[str(p) for p in paths])
    return first


if __name__ == "__main__":
    import sys
    if len(sys.argv) < 3:
        sys.exit("usage: python -m pipnet_model.checkpoint OUT.safetensors MODEL.safetensors [MODEL ...]")
    print("wrote", save_model(average_models(sys.argv[2:]), sys.argv[1], half=True))
