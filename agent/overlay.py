"""Drawing triples on the post image: boxes, translucent masks and "text (TYPE)" labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from groundex.agent.schema import Triple

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
    unplaced = []
    for index, triple in enumerate(triples):
        label = f"{triple.entity.text} ({triple.entity.type})"
        if triple.box is None:
            unplaced.append(label)
            continue
        colour = PALETTE[index % len(PALETTE)]
        box = triple.box
        draw.rectangle([box.x1, box.y1, box.x2, box.y2], outline=colour, width=width)
        left, top, right, bottom = draw.textbbox((box.x1, box.y1), label, font=font)
        label_top = box.y1 - (bottom - top) - 4 if box.y1 - (bottom - top) - 4 >= 0 else box.y1
        draw.rectangle([box.x1, label_top, box.x1 + (right - left) + 6, label_top + (bottom - top) + 4], fill=colour)
        draw.text((box.x1 + 3, label_top + 1), label, fill=(255, 255, 255), font=font)
    if unplaced:
        note = "not in image: " + ", ".join(unplaced)
        left, top, right, bottom = draw.textbbox((4, 4), note, font=font)
        draw.rectangle([0, 0, right + 4, bottom + 4], fill=(0, 0, 0))
        draw.text((4, 4), note, fill=(255, 255, 255), font=font)
    return canvas


def save_overlay(image: Image.Image, triples: list[Triple] | tuple[Triple, ...], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_overlay(image, triples).save(path)
    return path
