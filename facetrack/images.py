"""Still images: the faces of one image (detector, landmarks with re-crops, head pose, openness)."""
from __future__ import annotations

import numpy as np

from .detectors import detect_boxes
from .types import Face



def faces_of_image(img: np.ndarray, detector, predictor, max_faces: int = 10, refine: int = 2) -> list[Face]:
    """Every face the detector finds, with landmarks (``refine`` re-crops), head pose and openness (68 points)."""
    dets, boxes = detect_boxes(detector, img, max_faces=max_faces)
    lms, conf = predictor.predict(img, boxes, refine=refine)
    faces = [Face(d.box, lm, c, det_score=d.score) for d, lm, c in zip(dets, lms, conf)]
    if predictor.num_points == 68:  # blinks need a track: a still has none
        from .pose import HeadPoseAnalyser, OpennessAnalyser
        pose, open_ = HeadPoseAnalyser(), OpennessAnalyser()
        for f in faces:
            open_(f)
            pose(f, frame=img)
    return faces
