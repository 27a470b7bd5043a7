"""The network, codec and loss can learn: 8 fixed crops, a few hundred steps, loss down 10x, NME < 3%."""
import numpy as np
import torch

from pipnet_model import SCHEMES, PIPNetModel
from pipnet_model.augment import Augmenter
from pipnet_model.geometry import to_unit
from pipnet_model.codec import decode, encode, mean_face, reverse_index_of
from pipnet_model.inference import to_input
from pipnet_model.losses import pipnet_loss
from pipnet_model.metrics import nme_per_face

from conftest import synthetic_faces


def test_overfit_eight_crops():
    torch.manual_seed(0)
    size = 96
    faces = synthetic_faces(8, size=160, seed=3)
    aug = Augmenter(SCHEMES["68"], size, 1.1)
    crops, pts = [], []
    for img, p in faces:
        c, q, _ = aug.plain(img, p)
        crops.append(c)
        pts.append(to_unit(q, size))
    pts = torch.tensor(np.stack(pts), dtype=torch.float32)
    model = PIPNetModel.create("resnet18", SCHEMES["68"], mean_face(pts), 10, size)
    x = to_input(np.stack(crops), model)
    nb = model.meta.nb_tensor()
    t = encode(pts, (3, 3), nb)
    opt = torch.optim.Adam(model.net.parameters(), lr=1e-3)
    model.net.train()
    losses = []
    for step in range(300):
        loss, _ = pipnet_loss(model.net(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < np.mean(losses[:3]) / 10
    model.net.eval()
    with torch.inference_mode():
        pred, _ = decode(model.net(x), nb, reverse_index_of(model.meta))
    nme = nme_per_face(pred.numpy() * size, pts.numpy() * size, SCHEMES["68"])
    assert nme.mean() < 0.03, nme
