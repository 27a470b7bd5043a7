import numpy as np
import pytest
import torch

from pipnet_model import SCHEMES, codec
from pipnet_model.errors import PIPNetError
from pipnet_model.losses import pipnet_loss
from pipnet_model.schemes import get_scheme


@pytest.mark.parametrize("nrm,mode,hw", [(False, "cyclic", (8, 8)), (True, "cyclic", (8, 8)),
                                         (True, "exact", (8, 8)), (True, "cyclic", (6, 4))])
def test_round_trip_reproduces_points(nrm, mode, hw):
    g = torch.Generator().manual_seed(1)
    pts = torch.rand(5, 68, 2, generator=g)
    nb = codec.neighbor_indices(codec.mean_face(pts), 10)
    out = codec.ideal_outputs(pts, hw, nb)
    dec, conf = codec.decode(out, nb, codec.reverse_index(nb, mode), nrm=nrm)
    assert (dec - pts).abs().max() < 1e-5
    assert torch.all(conf == 1)


def test_nrm_averages_neighbour_votes():
    """Perturb one neighbour prediction: the NRM result moves by exactly that vote's share."""
    pts = torch.rand(1, 68, 2, generator=torch.Generator().manual_seed(2))
    nb = codec.neighbor_indices(codec.mean_face(pts), 10)
    rev = codec.reverse_index(nb, "exact")
    out = [o.clone() for o in codec.ideal_outputs(pts, (8, 8), nb)]
    i = 0
    j = int(nb[i, 0])  # point i predicts j in slot 0
    t = codec.encode(pts, (8, 8), nb)
    cell = int(t.cell[0, i])
    out[3].view(1, 680, 64)[0, i * 10 + 0, cell] += 0.8  # +0.8 map units in x for that vote
    dec, _ = codec.decode(tuple(out), nb, rev)
    votes = int(rev.weight[j].sum())
    assert dec[0, j, 0] - pts[0, j, 0] == pytest.approx(0.8 / 8 / (1 + votes), abs=1e-6)
    others = [k for k in range(68) if k != j]
    assert (dec[0, others] - pts[0, others]).abs().max() < 1e-5


def test_neighbor_indices_match_brute_force():
    mf = torch.rand(68, 2, generator=torch.Generator().manual_seed(3))
    nb = codec.neighbor_indices(mf, 10)
    for i in range(68):
        d = [(float(torch.dist(mf[i], mf[k])), k) for k in range(68) if k != i]
        assert sorted(nb[i].tolist()) == sorted(k for _, k in sorted(d)[:10])
        assert i not in nb[i].tolist()


def test_reverse_index_cyclic_and_exact():
    nb = codec.neighbor_indices(torch.rand(68, 2, generator=torch.Generator().manual_seed(4)), 10)
    counts = torch.bincount(nb.reshape(-1), minlength=68)
    cyc, ex = codec.reverse_index(nb, "cyclic"), codec.reverse_index(nb, "exact")
    assert cyc.src.shape[1] == int(counts.max())
    assert torch.equal(ex.weight.sum(1).long(), counts)
    for i in range(68):
        if counts[i]:
            assert cyc.weight[i].sum() == cyc.src.shape[1]  # padded by repetition, every slot counts
        for s, j, w in zip(ex.src[i], ex.slot[i], ex.weight[i]):
            if w:
                assert int(nb[s, j]) == i


def test_encode_cells_offsets_and_clamping():
    pts = torch.tensor([[[0.0, 0.0], [0.999, 0.5], [1.2, -0.1]]])
    nb = torch.tensor([[1, 2], [0, 2], [0, 1]])
    t = codec.encode(pts, (8, 8), nb)
    assert t.cell.tolist() == [[0, 4 * 8 + 7, 0 * 8 + 7]]
    assert t.offset[0, 1, 0] == pytest.approx(0.999 * 8 - 7, abs=1e-5)
    assert t.offset[0, 2, 0] == pytest.approx(1.2 * 8 - 7, abs=1e-5)  # outside: offset beyond [0, 1)
    assert t.nb[0, 0, 0].tolist() == pytest.approx([0.999 * 8, 4.0], abs=1e-5)
    assert t.score_map().sum().item() == 3


def test_loss_is_zero_for_ideal_outputs_and_weights_apply():
    pts = torch.rand(2, 68, 2, generator=torch.Generator().manual_seed(5))
    nb = codec.neighbor_indices(codec.mean_face(pts), 10)
    t = codec.encode(pts, (8, 8), nb)
    ideal = codec.ideal_outputs(pts, (8, 8), nb)
    loss, _ = pipnet_loss(ideal, t)
    assert float(loss) < 1e-10
    zero = tuple(torch.zeros_like(o) for o in ideal)
    l1, p = pipnet_loss(zero, t, cls_weight=10)
    l2, _ = pipnet_loss(zero, t, cls_weight=20)
    assert float(l2 - l1) == pytest.approx(10 * p["cls"], rel=1e-5)
    assert p["cls"] == pytest.approx(1 / 64, rel=1e-5)


def test_masked_loss_ignores_unlabelled_points_and_equals_the_plain_loss_when_all_are_labelled():
    """?points= data sets: an unlabelled point is no target, nor a neighbour's; with every point labelled the
    masked loss is the plain one."""
    g = torch.Generator().manual_seed(3)
    pts = torch.rand(2, 68, 2, generator=g)
    nb = codec.neighbor_indices(codec.mean_face(pts), 10)
    outs = tuple(torch.randn(o.shape, generator=g) for o in codec.ideal_outputs(pts, (8, 8), nb))
    plain, pp = pipnet_loss(outs, codec.encode(pts, (8, 8), nb))
    full, fp = pipnet_loss(outs, codec.encode(pts, (8, 8), nb, torch.ones(2, 68, dtype=torch.bool)))
    assert float(full) == pytest.approx(float(plain), rel=1e-5) and fp == pytest.approx(pp, rel=1e-5)
    mask = torch.ones(2, 68, dtype=torch.bool)
    mask[:, :17] = False  # the jaw unlabelled
    moved = pts.clone()
    moved[:, :17] = torch.rand(2, 17, 2, generator=g)  # where an unlabelled point "is" does not matter
    a, _ = pipnet_loss(outs, codec.encode(pts, (8, 8), nb, mask))
    b, _ = pipnet_loss(outs, codec.encode(moved, (8, 8), nb, mask))
    assert float(a) == pytest.approx(float(b), rel=1e-6) and float(a) != pytest.approx(float(plain), rel=1e-3)
    ideal = codec.ideal_outputs(pts, (8, 8), nb)
    wrong_jaw = tuple(o.clone() for o in ideal)
    wrong_jaw[1][:, :17] += 0.7  # the jaw's offsets wrong: no loss when the jaw is unlabelled
    assert float(pipnet_loss(wrong_jaw, codec.encode(pts, (8, 8), nb, mask))[0]) < 1e-10
    assert float(pipnet_loss(wrong_jaw, codec.encode(pts, (8, 8), nb))[0]) > 0.1


def test_augmenter_carries_the_mask_through_the_mirror():
    from pipnet_model.augment import Augmenter, AugmentConfig
    scheme = SCHEMES["68"]
    pts = np.stack([np.linspace(40, 160, 68), np.linspace(50, 150, 68)], 1)
    mask = np.ones(68, bool)
    mask[:17] = False
    img = np.zeros((200, 200, 3), np.uint8)
    for flip in (0.0, 1.0):
        aug = Augmenter(scheme, 64, 1.1, AugmentConfig(p_flip=flip, p_translate=0, p_rotate=0, p_occlusion=0,
                                                       p_blur=0, p_gray=0))
        _, out = aug(img, pts, np.random.default_rng(0), mask)
        want = mask[np.asarray(scheme.flip_perm)] if flip else mask
        assert (np.isfinite(out[:, 0]) == want).all()
        _, plain = aug(img, pts, np.random.default_rng(0))
        np.testing.assert_allclose(out[want], plain[want])


@pytest.mark.parametrize("name", ["68", "98", "29", "19"])
def test_flip_permutations_are_involutions_and_swap_eyes(name):
    s = SCHEMES[name]
    perm = np.array(s.flip_perm)
    assert np.array_equal(perm[perm], np.arange(s.num_points))
    a, b = s.eye_corners
    assert perm[a] == b and perm[b] == a


def test_custom_scheme_from_json(tmp_path):
    f = tmp_path / "five.json"
    f.write_text('{"name": "five", "num_points": 5, "flip_pairs": [[0, 1], [3, 4]], "eye_corners": [0, 1]}')
    s = get_scheme(f)
    assert s.num_points == 5 and s.flip_perm == (1, 0, 2, 4, 3)
    f.write_text('{"name": "bad", "num_points": 5, "flip_perm": [1, 2, 0, 3, 4], "eye_corners": [0, 1]}')
    with pytest.raises(PIPNetError, match="involution"):
        get_scheme(f)
    with pytest.raises(PIPNetError, match="unknown landmark scheme"):
        get_scheme("42")


def test_68_flip_pairs_are_anatomical():
    p = SCHEMES["68"].flip_perm
    for a, b in [(0, 16), (17, 26), (36, 45), (39, 42), (48, 54), (31, 35), (60, 64)]:
        assert p[a] == b
    for k in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert p[k] == k
    assert all(p[k] != k for k in range(17) if k != 8)


@pytest.mark.parametrize("nrm", [True, False])
@pytest.mark.parametrize("mode", ["cyclic", "exact"])
def test_numpy_decode_equals_the_torch_decode(nrm, mode):
    """The torch-free runtime decodes with decode_np: same points and confidences as decode."""
    from pipnet_model.codec import decode, decode_np, neighbor_indices, reverse_index
    torch.manual_seed(3)
    n, c, h, w, b = 68, 10, 6, 6, 5
    mf = torch.rand(n, 2)
    nb = neighbor_indices(mf, c)
    rev = reverse_index(nb, mode)
    outs = (torch.randn(b, n, h, w), torch.rand(b, n, h, w), torch.rand(b, n, h, w),
            torch.randn(b, n * c, h, w), torch.randn(b, n * c, h, w))
    p1, c1 = decode(outs, nb, rev, nrm=nrm)
    p2, c2 = decode_np([o.numpy() for o in outs], *rev.numpy(), nrm=nrm)
    np.testing.assert_allclose(p2, p1.numpy(), atol=1e-6)
    np.testing.assert_allclose(c2, c1.numpy(), atol=1e-7)
