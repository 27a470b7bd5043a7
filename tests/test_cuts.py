"""Shot cuts (facetrack.cuts): every track ends at a cut, so one ID never runs from one person onto another."""
import numpy as np

from conftest import shared_path


def test_shot_cuts_finds_the_jump_not_motion():
    from facetrack.cuts import ShotCuts
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    a = np.repeat(np.repeat(a[::40, ::40], 40, 0), 40, 1)[:360, :640]  # blocky pictures: a thumbnail keeps them
    b = np.repeat(np.repeat(b[::40, ::40], 40, 1), 40, 0)[:360, :640]
    cuts = ShotCuts()
    seen = []
    for i in range(60):
        base = a if i < 30 else b
        frame = np.roll(base, 2 * i, axis=1)  # a slow pan
        seen.append(cuts(frame))
    assert [i for i, c in enumerate(seen) if c] == [30]
    # a scene that changes this much every frame (a strobe, a fast shaky camera) has no cut in it
    cuts.reset()
    flips = [cuts(a if i % 2 else b) for i in range(40)]
    assert sum(flips[5:]) == 0


def test_a_track_does_not_run_across_a_cut_onto_another_person(tmp_path, detector_model):
    """The identity benchmark's cut clip of seed 11: two people, a cut to another scene with a third in the middle,
    a cut back. Before the cuts were seen, the third person's track slid onto the second person after the cut back
    and went on as them (one ID, two people). Re-identification off: each ID is one person."""
    from facetrack import scenes
    from facetrack.pipeline import TrackOptions, run
    from facetrack.scoring import read_boxes
    from facetrack.sinks import make_sink
    from facetrack.tracking import associate
    import json
    pool = scenes.people(f"csv:{shared_path('data/ytf68/test.csv')}")
    clip = scenes.render_scene("cut", 11, pool, scenes.backgrounds(scenes.W, scenes.H), tmp_path / "cut.mp4")
    out = tmp_path / "cut.csv"
    s = run(str(clip), [make_sink("csv", out)], TrackOptions(device="cpu", detector_model=str(detector_model),
                                                             reid=False), progress=False)
    assert s["cuts"] == 2
    truth = json.loads((tmp_path / "cut.mp4.truth.json").read_text())["frames"]
    boxes = read_boxes(out)
    who: dict[int, dict[int, int]] = {}
    for f, faces in enumerate(truth):
        preds = boxes.get(f, [])
        for r, c in associate([x[1:5] for x in faces], [b for _, b in preds], 0.5)[0]:
            v = who.setdefault(preds[c][0], {})
            v[faces[r][0]] = v.get(faces[r][0], 0) + 1
    assert len(who) >= 5  # the two people, the third, the two again
    for tid, votes in who.items():
        assert sorted(votes.values())[:-1] == [] or sum(sorted(votes.values())[:-1]) <= 2, (tid, votes)


def test_a_cut_to_another_person_at_the_same_place_gives_a_new_id(tmp_path, detector_model):
    """A cut from A to B where only the face changes (a plain background, B where A was): no shot cut, but the
    face's box changed all over at once, so the re-identifier looks again; B is not A, and B's rows carry a new ID
    from the frame after the cut on."""
    import pytest

    from facetrack import reid, scenes
    from facetrack.pipeline import TrackOptions, run
    from facetrack.scoring import read_boxes
    from facetrack.sinks import make_sink
    if not reid.available():
        pytest.skip("needs the reid extra (dlib-bin, face_recognition_models)")
    pool = scenes.people(f"csv:{shared_path('data/ytf68/test.csv')}")
    rich = [i for i, p in enumerate(pool) if len(p) >= 3]
    clip = scenes.render_appearances([(0, 3, rich[0], 0, 0.5), (3, 6, rich[5], 0, 0.5)], pool, tmp_path / "ab.mp4")
    out = tmp_path / "ab.csv"
    s = run(str(clip), [make_sink("csv", out)], TrackOptions(device="cpu", detector_model=str(detector_model),
                                                             reid=True), progress=False)
    assert s["cuts"] == 0 and s["reid"]["changes"] == 1
    ids = {f: {b[0] for b in faces} for f, faces in read_boxes(out).items()}
    a, b = ids[10], ids[120]
    assert len(a) == len(b) == 1 and a != b
    assert all(ids[f] == a for f in range(75) if f in ids) and all(ids[f] == b for f in range(76, 150) if f in ids)
    assert sum(f in ids for f in range(150)) >= 147  # the new track is reported from its first frame
