import cv2
import numpy as np
import pytest

from pipnet_model import SCHEMES, PIPNetError
from pipnet_model.augment import Augmenter, AugmentConfig
from pipnet_model.datasets import load_dataset, read_cofw, read_image, read_pts_file

from conftest import render_face, shared_path, synthetic_faces, write_csv_dataset


def _flip(points, width, scheme):
    p = np.asarray(points, dtype=np.float64).copy()
    p[:, 0] = (width - 1) - p[:, 0]
    return p[list(scheme.flip_perm)]


def _check_flip_consistent(ds):
    """Mirroring keeps the scheme's meaning: after a flip + permutation the left-side eye corner is still on the left."""
    a, b = ds.scheme.eye_corners
    for r in ds.records:
        w = 10_000.0
        f = _flip(r.points, w, ds.scheme)
        assert (r.points[a, 0] < r.points[b, 0]) == (f[a, 0] < f[b, 0])
        np.testing.assert_allclose(_flip(f, w, ds.scheme), r.points, atol=1e-3)


def test_csv_reader_on_ytf68():
    ds = load_dataset(f"csv:{shared_path('data/ytf68/test.csv')}")
    assert len(ds) == 521 and ds.scheme.num_points == 68
    r = ds.records[0]
    assert r.points.shape == (68, 2) and r.image.is_file()
    img = read_image(r)
    assert img.ndim == 3 and (r.points[:, 0] < img.shape[1]).all() and (r.points[:, 1] < img.shape[0]).all()
    _check_flip_consistent(ds)


def test_csv_reader_finds_columns_by_header(tmp_path):
    faces = synthetic_faces(2, seed=1)
    f = write_csv_dataset(tmp_path, faces)
    lines = f.read_text().splitlines()
    cols = lines[0].split(",")
    order = [0] + list(range(len(cols) - 1, 0, -1))  # reversed coordinate columns
    f.write_text("\n".join(",".join(row.split(",")[i] for i in order) for row in lines) + "\n")
    ds = load_dataset(f"csv:{f}")
    np.testing.assert_allclose(ds.records[1].points, faces[1][1], atol=1e-3)


def test_known_csv_data_sets_are_converted_to_0_based_centres(tmp_path):
    """w300/lfpw/ytf68 labels are 1-based (pipnet_model.datasets.CONVENTIONS, with the evidence): read, they are one
    pixel up and left of the file's numbers; ?offset= overrides (0: raw), a CSV elsewhere is read as 0-based."""
    raw = load_dataset(f"csv:{shared_path('data/ytf68/test.csv')}?offset=0")
    conv = load_dataset(f"csv:{shared_path('data/ytf68/test.csv')}")
    half = load_dataset(f"csv:{shared_path('data/ytf68/test.csv')}?offset=0.5,0.25")
    first = [float(v) for v in shared_path("data/ytf68/test.csv").read_text().splitlines()[1].split(",")[1:3]]
    assert raw.records[0].points[0].tolist() == first
    np.testing.assert_allclose(conv.records[0].points, raw.records[0].points - 1.0)
    np.testing.assert_allclose(half.records[3].points, raw.records[3].points - [0.5, 0.25])
    faces = synthetic_faces(1, seed=2)
    d = tmp_path / "w300"  # a folder named as a known data set takes its convention
    f = write_csv_dataset(d, faces)
    np.testing.assert_allclose(load_dataset(f"csv:{f}").records[0].points, faces[0][1] - 1.0, atol=1e-3)
    other = write_csv_dataset(tmp_path / "mine", faces)
    np.testing.assert_allclose(load_dataset(str(other)).records[0].points, faces[0][1], atol=1e-3)
    for bad in ("?offset=a", "?offset=1,2,3", "?scale=2", "?points=x", "?points=60-70"):
        with pytest.raises(PIPNetError, match="offset|points"):
            load_dataset(f"csv:{f}{bad}")
    inner = load_dataset(f"csv:{f}?points=17-67&offset=0")
    assert inner.records[0].meta["mask"].tolist() == [False] * 17 + [True] * 51
    np.testing.assert_allclose(inner.records[0].points, faces[0][1], atol=1e-3)
    with pytest.raises(PIPNetError, match="csv"):
        load_dataset(f"pts:{tmp_path}?offset=1")


def test_pts_reader_on_fixtures():
    d = shared_path("data/formats/pts68")
    ds = load_dataset(f"pts:{d}")
    assert len(ds) == 3 and all(r.points.shape == (68, 2) for r in ds.records)
    raw = (d / "einstein.pts").read_text().split("{")[1].split()[:2]
    r = next(r for r in ds.records if r.image.stem == "einstein")
    assert r.points[0].tolist() == pytest.approx([float(raw[0]) - 1, float(raw[1]) - 1])  # 1-based -> 0-based
    for r in ds.records:
        img = read_image(r)
        assert 0 <= r.points[:, 0].min() and r.points[:, 0].max() < img.shape[1]
    _check_flip_consistent(ds)


def test_pts_reader_on_generated_files(tmp_path):
    """The 300-W layout written here (runs without ../shared): 1-based points, images found by stem, nested."""
    import cv2
    faces = synthetic_faces(2, seed=3)
    (tmp_path / "sub").mkdir()
    for k, (img, pts) in enumerate(faces):
        folder = tmp_path / ("sub" if k else "")
        cv2.imwrite(str(folder / f"f{k}.png"), img)
        body = "\n".join(f"{x + 1:.6f} {y + 1:.6f}" for x, y in pts)
        (folder / f"f{k}.pts").write_text(f"version: 1\nn_points:  68\n{{\n{body}\n}}\n")
    ds = load_dataset(f"pts:{tmp_path}")
    got = {r.image.stem: r.points for r in ds.records}
    assert sorted(got) == ["f0", "f1"]
    for k, (_, pts) in enumerate(faces):
        np.testing.assert_allclose(got[f"f{k}"], pts, atol=1e-4)


def test_wflw_reader_on_a_generated_line(tmp_path):
    """WFLW's text layout (196 coordinates, 4 box values, 6 attribute flags, image path), runs without ../shared."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(10, 200, (98, 2))
    line = " ".join(f"{v:.3f}" for v in pts.reshape(-1)) + " 5 6 210 220 0 1 0 0 0 1 12--Group/12_1.jpg"
    f = tmp_path / "list.txt"
    f.write_text(line + "\n")
    ds = load_dataset(f"wflw:{f}", images="/imgs")
    assert len(ds) == 1 and ds.scheme.num_points == 98 and str(ds.records[0].image) == "/imgs/12--Group/12_1.jpg"
    np.testing.assert_allclose(ds.records[0].points, pts, atol=1e-3)


def test_wflw_reader_on_fixture():
    ds = load_dataset(f"wflw:{shared_path('data/formats/wflw98/list_98pt_sample.txt')}", images="/imgs")
    assert len(ds) == 5 and ds.scheme.num_points == 98
    assert str(ds.records[0].image).startswith("/imgs/39--Ice_Skating/")
    first = (shared_path("data/formats/wflw98/list_98pt_sample.txt").read_text().split()[:2])
    assert ds.records[0].points[0].tolist() == pytest.approx([float(v) for v in first])
    _check_flip_consistent(ds)


def test_cofw_reader_on_generated_mat(tmp_path):
    from scipy.io import savemat
    rng = np.random.default_rng(0)
    imgs = np.empty((2, 1), dtype=object)
    phis = np.zeros((2, 87))
    for i in range(2):
        imgs[i, 0] = rng.integers(0, 255, (60 + i, 80), dtype=np.uint8)
        phis[i, :29] = rng.uniform(1, 80, 29)
        phis[i, 29:58] = rng.uniform(1, 60, 29)
    savemat(tmp_path / "COFW_test.mat", {"IsT": imgs, "phisT": phis})
    ds = read_cofw(tmp_path / "COFW_test.mat")
    assert len(ds) == 2 and ds.scheme.num_points == 29
    np.testing.assert_allclose(ds.records[1].points[:, 0], phis[1, :29] - 1, atol=1e-4)
    assert read_image(ds.records[1]).shape == (61, 80, 3)


def test_bad_specs_and_files(tmp_path):
    with pytest.raises(PIPNetError, match="KIND:PATH"):
        load_dataset("nonsense")
    with pytest.raises(PIPNetError, match="not found"):
        load_dataset(f"csv:{tmp_path}/missing.csv")
    (tmp_path / "x.pts").write_text("version: 1\nn_points: 3\n{\n1 2\n3 4\n}\n")
    with pytest.raises(PIPNetError, match="n_points says 3"):
        read_pts_file(tmp_path / "x.pts")


def _bright_at(img, pts, thr=150):
    h, w = img.shape[:2]
    ok = []
    for x, y in pts:
        xi, yi = int(round(x)), int(round(y))
        if 1 <= xi < w - 1 and 1 <= yi < h - 1:
            ok.append(img[yi - 1:yi + 2, xi - 1:xi + 2].max() > thr)
    return np.mean(ok), len(ok)


@pytest.mark.parametrize("seed", range(12))
def test_augmentation_keeps_landmarks_on_their_dots(seed):
    """Dots drawn at the landmarks must still lie under the transformed landmarks, and in the right order."""
    img, pts = synthetic_faces(1, size=200, seed=seed)[0]
    img = (img // 4).astype(np.uint8)
    img = render_face(pts, img.shape[:2], seed)  # bright dots, dim background
    cfg = AugmentConfig(p_translate=1, p_rotate=1, p_flip=0.5, p_occlusion=0, p_blur=0, p_gray=0)
    aug = Augmenter(SCHEMES["68"], 128, 1.3, cfg)
    crop, out = aug(img, pts, np.random.default_rng(seed))
    frac, n = _bright_at(crop, out)
    assert n > 50 and frac > 0.95
    # the flip permutation keeps meaning: point 36 (image-left outer eye corner) stays left of 45
    assert out[36, 0] < out[45, 0]
    # colour identifies each dot: compare the dot colour under each transformed point with the original's
    src_col = np.array([img[int(round(y)), int(round(x))] for x, y in pts], dtype=int)
    got_col = np.array([crop[int(round(y)), int(round(x))] if 0 <= round(x) < 128 and 0 <= round(y) < 128
                        else [-999] * 3 for x, y in out], dtype=int)
    inside = got_col[:, 0] >= 0
    perm = list(SCHEMES["68"].flip_perm)
    # unflipped: point i sits on dot i; flipped: on the mirrored dot of point perm[i]
    same = (np.abs(src_col - got_col).max(1) < 60)[inside].mean()
    swapped = (np.abs(src_col[perm] - got_col).max(1) < 60)[inside].mean()
    assert max(same, swapped) > 0.8


def test_degradation_loses_detail_but_keeps_the_face_where_it_was():
    """--degrade: a shrunk, noised, JPEG-compressed copy of the same size, whose content stays in place (the labels
    need no change), and which loses fine detail; off by default, leaving the paper's augmentation as it was."""
    from pipnet_model.augment import degrade
    img, pts = synthetic_faces(1, size=200, seed=3)[0]
    img = render_face(pts, img.shape[:2], 3)
    crop = Augmenter(SCHEMES["68"], 128, 1.3).plain(img, pts)[0]
    cfg = AugmentConfig(degrade_min_px=40, noise_sigma=6)
    sharp = lambda a: cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    for seed in range(6):
        out = degrade(crop, np.random.default_rng(seed), cfg)
        assert out.shape == crop.shape and out.dtype == np.uint8
        assert not np.array_equal(out, crop)
        # content in place: blurred copies agree far better than with a copy shifted by 4 px
        b = lambda a: cv2.GaussianBlur(a, (0, 0), 3).astype(float)
        assert np.abs(b(out) - b(crop)).mean() < 0.5 * np.abs(b(np.roll(crop, 4, axis=1)) - b(crop)).mean()
    # fine detail is lost (noise off here: it adds detail of its own)
    quiet = AugmentConfig(degrade_min_px=32, noise_sigma=0, jpeg_quality=(90, 90))
    ratios = [sharp(degrade(crop, np.random.default_rng(seed), quiet)) / sharp(crop) for seed in range(8)]
    assert max(ratios) < 1.05 and np.mean(ratios) < 0.7
    # off by default: the same draws give the same crop as without the option
    a = Augmenter(SCHEMES["68"], 128, 1.3)(img, pts, np.random.default_rng(5))[0]
    b2 = Augmenter(SCHEMES["68"], 128, 1.3, AugmentConfig(p_degrade=0.0))(img, pts, np.random.default_rng(5))[0]
    assert AugmentConfig().p_degrade == 0 and np.array_equal(a, b2)
    # --degrade-source 1: a face the crop upscales (a 107 px square of the image into a 256 px crop) is left alone;
    # the same face into a 96 px crop (downscaled: the source has the resolution) is degraded
    only_sharp = AugmentConfig(p_degrade=1.0, degrade_source=1.0)
    up = Augmenter(SCHEMES["68"], 256, 1.3, only_sharp)(img, pts, np.random.default_rng(5))[0]
    plain = Augmenter(SCHEMES["68"], 256, 1.3)(img, pts, np.random.default_rng(5))[0]
    assert np.array_equal(up, plain)
    down = Augmenter(SCHEMES["68"], 96, 1.3, only_sharp)(img, pts, np.random.default_rng(5))[0]
    assert not np.array_equal(down, Augmenter(SCHEMES["68"], 96, 1.3)(img, pts, np.random.default_rng(5))[0])


def test_aflw_reader_on_generated_mat(tmp_path):
    from scipy.io import savemat

    from pipnet_model.datasets import read_aflw
    rng = np.random.default_rng(1)
    data = np.hstack([rng.uniform(1, 90, (3, 19)), rng.uniform(1, 70, (3, 19))])
    names = np.empty((3, 1), dtype=object)
    for i in range(3):
        names[i, 0] = f"0/image{i:05d}.jpg"
    savemat(tmp_path / "AFLWinfo_release.mat", {"data": data, "nameList": names})
    ds = read_aflw(tmp_path / "AFLWinfo_release.mat", images="/aflw/flickr")
    assert len(ds) == 3 and ds.scheme.num_points == 19 and ds.scheme.norm == "box"
    assert str(ds.records[2].image) == "/aflw/flickr/0/image00002.jpg"
    np.testing.assert_allclose(ds.records[0].points[:, 1], data[0, 19:] - 1, atol=1e-4)
    _check_flip_consistent(ds)
