"""Vision tools without learned weights, for the CPU profile: OpenCV Haar cascades and GrabCut.

What they can and cannot do (also in the README):
- ``opencv-person`` grounding finds people only: frontal faces and upper / full bodies (Haar cascades that ship
  with OpenCV). A face is widened to a head-and-shoulders box, since GMNER boxes a person, not a face. It picks
  the most prominent person, so with several people it cannot tell which one the entity is. Any entity of a
  non-person type gets no box.
- ``detector`` entailment confirms the planner's judgement where a detector can: a person entity is visible
  only if some face or body is found; for other types it keeps the planner's judgement (probability 0.5).
- ``grabcut`` segmentation: OpenCV GrabCut initialised with the box, on a crop around it; where GrabCut finds no
  foreground, the mask is the box itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from groundex.agent.schema import Box, Entity, Mask
from groundex.tools.base import Grounding, GroundingTool, SegmentationTool, ToolSetupError, Visibility
from groundex.tools.images import image_size

FACE_TO_PERSON = (1.0, 0.4, 1.0, 2.2)  # widen a face box by this share of its width/height: left, up, right, down


@dataclass(frozen=True)
class PersonDetection:
    box: Box
    kind: str  # "face" or "body"


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as error:
        raise ToolSetupError("the CPU vision tools need OpenCV: pip install 'opencv-python-headless<5'") from error
    if not hasattr(cv2, "CascadeClassifier"):
        raise ToolSetupError("this OpenCV build has no CascadeClassifier (OpenCV 5 dropped it): install opencv-python-headless<5")
    return cv2


class PersonDetector:
    """Faces and bodies with OpenCV's shipped Haar cascades; boxes in original pixels."""

    CASCADES = {"face": "haarcascade_frontalface_default.xml", "body": "haarcascade_upperbody.xml",
                "full": "haarcascade_fullbody.xml"}

    def __init__(self) -> None:
        cv2 = _cv2()
        self._cv2 = cv2
        self._cascades = {kind: cv2.CascadeClassifier(cv2.data.haarcascades + name) for kind, name in self.CASCADES.items()}
        self._lock = threading.Lock()  # a CascadeClassifier is not safe to share between threads

    def detect(self, image: Image.Image) -> list[PersonDetection]:
        gray = self._cv2.equalizeHist(self._cv2.cvtColor(np.asarray(image.convert("RGB")), self._cv2.COLOR_RGB2GRAY))
        size = image_size(image)
        smallest = max(24, min(image.width, image.height) // 12)
        found = []
        with self._lock:
            for kind, cascade in self._cascades.items():
                hits = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(smallest, smallest))
                for x, y, w, h in hits:
                    box = Box(float(x), float(y), float(x + w), float(y + h))
                    if kind == "face":
                        left, up, right, down = FACE_TO_PERSON
                        box = Box(x - left * w, y - up * h, x + w + right * w, y + h + down * h).clip(size) or box
                    found.append(PersonDetection(box, "face" if kind == "face" else "body"))
        return sorted(found, key=lambda d: -d.box.area)


class OpenCvPersonGrounding:
    def __init__(self, detector: PersonDetector, is_person: Callable[[str], bool]):
        self.detector, self.is_person = detector, is_person

    def locate(self, image: Image.Image, entity: Entity) -> Grounding | None:
        if not self.is_person(entity.type):
            return None
        detections = self.detector.detect(image)
        if not detections:
            return None
        return Grounding(pick_by_position([d.box for d in detections], entity.description, image.width), None)


_POSITIONS = {"left": lambda b, w: b.x1 + b.x2, "right": lambda b, w: -(b.x1 + b.x2),
              "middle": lambda b, w: abs(b.x1 + b.x2 - w), "center": lambda b, w: abs(b.x1 + b.x2 - w),
              "centre": lambda b, w: abs(b.x1 + b.x2 - w), "smallest": lambda b, w: b.area,
              "largest": lambda b, w: -b.area, "biggest": lambda b, w: -b.area}


def pick_by_position(boxes: list[Box], description: str, image_width: int) -> Box:
    """The box a referring expression's position word points at ("the man on the left" -> the leftmost);
    the first (the detector's best) when the description names no position. ``boxes`` in pixels, non-empty."""
    words = description.lower().replace(",", " ").split()
    for word, key in _POSITIONS.items():
        if word in words:
            return min(boxes, key=lambda b: key(b, image_width))
    return boxes[0]


class DetectorEntailment:
    def __init__(self, detector: PersonDetector, is_person: Callable[[str], bool]):
        self.detector, self.is_person = detector, is_person

    def visibility(self, image: Image.Image, entity: Entity) -> Visibility:
        if not self.is_person(entity.type):
            return Visibility(True, 0.5)
        seen = bool(self.detector.detect(image))
        return Visibility(seen, 0.9 if seen else 0.1)


class GrabCutSegmentation:
    """Box-prompted masks with GrabCut, computed on a crop around each box (faster on large images)."""

    def __init__(self, iterations: int = 4, margin: float = 0.15):
        self._cv2 = _cv2()
        self.iterations, self.margin = iterations, margin

    def _one(self, pixels: np.ndarray, box: Box) -> np.ndarray:
        cv2 = self._cv2
        height, width = pixels.shape[:2]
        mx, my = self.margin * (box.x2 - box.x1), self.margin * (box.y2 - box.y1)
        cx1, cy1 = int(max(0, box.x1 - mx)), int(max(0, box.y1 - my))
        cx2, cy2 = int(min(width, np.ceil(box.x2 + mx))), int(min(height, np.ceil(box.y2 + my)))
        crop = np.ascontiguousarray(pixels[cy1:cy2, cx1:cx2, ::-1])  # GrabCut wants BGR
        rx1, ry1 = int(box.x1) - cx1, int(box.y1) - cy1
        rect = (rx1, ry1, max(1, int(np.ceil(box.x2)) - cx1 - rx1), max(1, int(np.ceil(box.y2)) - cy1 - ry1))
        full = np.zeros((height, width), dtype=bool)
        label = np.zeros(crop.shape[:2], dtype=np.uint8)
        foreground = np.zeros(crop.shape[:2], dtype=bool)
        if crop.shape[0] >= 2 and crop.shape[1] >= 2 and rect[2] >= 2 and rect[3] >= 2:
            try:
                cv2.grabCut(crop, label, rect, np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64),
                            self.iterations, cv2.GC_INIT_WITH_RECT)
                foreground = (label == cv2.GC_FGD) | (label == cv2.GC_PR_FGD)
            except cv2.error:
                foreground[:] = False
        if foreground.any():
            full[cy1:cy2, cx1:cx2] = foreground
        else:
            full[int(box.y1):int(np.ceil(box.y2)), int(box.x1):int(np.ceil(box.x2))] = True
        inside = np.zeros_like(full)  # GrabCut's rectangle init keeps everything outside the box background
        inside[int(box.y1):int(np.ceil(box.y2)), int(box.x1):int(np.ceil(box.x2))] = True
        return full & inside

    def segment(self, image: Image.Image, image_key: str, boxes: Sequence[Box]) -> list[Mask]:
        pixels = np.asarray(image.convert("RGB"))
        return [Mask.from_array(self._one(pixels, box)) for box in boxes]


def _needs_person_types(is_person: Callable[[str], bool] | None) -> Callable[[str], bool]:
    if is_person is None:
        raise ToolSetupError("the OpenCV person tools need to know which entity types are people (is_person)")
    return is_person


def build_person_grounding(*, is_person: Callable[[str], bool] | None = None, **_: Any) -> GroundingTool:
    return OpenCvPersonGrounding(PersonDetector(), _needs_person_types(is_person))


def build_detector_entailment(*, is_person: Callable[[str], bool] | None = None, **_: Any) -> DetectorEntailment:
    return DetectorEntailment(PersonDetector(), _needs_person_types(is_person))


def build_grabcut(**_: Any) -> SegmentationTool:
    return GrabCutSegmentation()
