"""Drawing triples on the post image: boxes, translucent masks and "text (TYPE)" labels."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from groundex.agent.schema import Box, Triple

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40)]
MASK_ALPHA = 0.45


def draw_overlay(image: Image.Image, triples: list[Triple] | tuple[Triple, ...]) -> Image.Image:
    """A copy of ``image`` with every grounded triple drawn; entities without a region are listed at the top."""
    canvas = image.convert("RGB").copy()
    pixels = np.asarray(canvas).astype(np.float32)
    for index, triple in enumerate(triples):
        if triple.mask is not None and triple.mask.size == (canvas.height, canvas.width):
            colour = np.array(PALETTE[index % len(PALETTE)], dtype=np.float32)
            area = triple.mask.to_array()
            pixels[area] = (1 - MASK_ALPHA) * pixels[area] + MASK_ALPHA * colour
    canvas = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(12, canvas.width // 50))
    width = max(2, canvas.width // 250)
    taken: list[Rect] = []
    unplaced = [f"{t.entity.text} ({t.entity.type})" for t in triples if t.box is None]
    if unplaced:  # the banner first, wrapped to the image's width: every label is placed around it
        lines = _wrap("not in image: " + ", ".join(unplaced), font, draw, canvas.width - 8)
        height = sum(_size(draw, line, font)[1] + 4 for line in lines) + 4
        banner = Rect(0, 0, min(canvas.width, max(_size(draw, line, font)[0] for line in lines) + 8), height)
        draw.rectangle(banner.corners, fill=(0, 0, 0))
        y = 4
        for line in lines:
            draw.text((4, y), line, fill=(255, 255, 255), font=font)
            y += _size(draw, line, font)[1] + 4
        taken.append(banner)
    for index, triple in enumerate(triples):
        if triple.box is None:
            continue
        colour = PALETTE[index % len(PALETTE)]
        box = triple.box
        draw.rectangle([box.x1, box.y1, box.x2, box.y2], outline=colour, width=width)
        label = _fit(f"{triple.entity.text} ({triple.entity.type})", font, draw, canvas.width - 6)
        text_width, text_height = _size(draw, label, font)
        spot = place_label(text_width + 6, text_height + 4, box, canvas.size, taken)
        taken.append(spot)
        draw.rectangle(spot.corners, fill=colour)
        draw.text((spot.x1 + 3, spot.y1 + 1), label, fill=(255, 255, 255), font=font)
    return canvas


class Rect(NamedTuple):
    """A label's or banner's area in pixels, ``[x1, x2) x [y1, y2)``."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def corners(self) -> list[float]:
        return [self.x1, self.y1, self.x2 - 1, self.y2 - 1]

    def overlaps(self, other: "Rect") -> bool:
        return self.x1 < other.x2 and other.x1 < self.x2 and self.y1 < other.y2 and other.y1 < self.y2


def place_label(width: float, height: float, box: Box, image_size: tuple[int, int], taken: list[Rect]) -> Rect:
    """Where a ``width`` x ``height`` label of ``box`` goes: above the box, inside its top, below it, or inside its
    bottom (the first that overlaps no banner or label already placed), moved left where it would cross the right
    edge; where all four are taken, the nearest free row below (or above) the box. Always inside the image."""
    image_width, image_height = image_size
    width, height = min(width, image_width), min(height, image_height)
    x = max(0.0, min(float(box.x1), image_width - width))

    def at(y: float) -> Rect:
        y = max(0.0, min(y, image_height - height))
        return Rect(x, y, x + width, y + height)

    candidates = [at(box.y1 - height), at(box.y1), at(box.y2), at(box.y2 - height)]
    rows = int(image_height // height)
    start = int(max(0.0, min(box.y1, image_height - height)) // height)
    candidates += [at(row * height) for row in sorted(range(rows), key=lambda row: (abs(row - start), row < start))]
    for candidate in candidates:
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    return candidates[0]  # a crowded image: the label may cover another, never leave the image


def _size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _fit(text: str, font, draw: ImageDraw.ImageDraw, max_width: int) -> str:
    """``text``, cut with an ellipsis where it is wider than ``max_width`` pixels."""
    if _size(draw, text, font)[0] <= max_width:
        return text
    while len(text) > 1 and _size(draw, text + "…", font)[0] > max_width:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, font, draw: ImageDraw.ImageDraw, max_width: int) -> list[str]:
    """``text`` broken at spaces into lines at most ``max_width`` pixels wide (a word wider than that is cut)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and _size(draw, f"{lines[-1]} {word}", font)[0] <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(_fit(word, font, draw, max_width))
    return lines


def save_overlay(image: Image.Image, triples: list[Triple] | tuple[Triple, ...], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_overlay(image, triples).save(path)
    return path
