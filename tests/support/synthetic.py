"""A synthetic benchmark in the Twitter-GMNER v2.0 file format: posts naming coloured shapes drawn in images.

Post i: "Alice<i> met Bob<i> in Paris" (PER, PER, LOC). Its image (320 x 240) shows a red rectangle (Alice's box)
and a blue one (Bob's box); Paris is not in the image (ungroundable).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ALICE_BOX = (20, 30, 140, 220)
BOB_BOX = (180, 40, 300, 200)
SIZE = (320, 240)


def write_synthetic_gmner(root: Path, posts: int) -> tuple[Path, Path]:
    """Writes ``root/data/{dev.txt, xml/}`` and ``root/images``; returns (data folder, image folder)."""
    data, images = root / "data", root / "images"
    (data / "xml").mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    blocks = []
    for index in range(posts):
        post_id = f"s{index}"
        tokens = [(f"Alice{index}", "B-PER"), ("met", "O"), (f"Bob{index}", "B-PER"), ("in", "O"), ("Paris", "B-LOC")]
        blocks.append(f"IMGID:{post_id}\n" + "".join(f"{t}\t{tag}\n" for t, tag in tokens))
        image = Image.new("RGB", SIZE, (235, 235, 235))
        draw = ImageDraw.Draw(image)
        draw.rectangle(ALICE_BOX, fill=(220, 30, 30))
        draw.rectangle(BOB_BOX, fill=(30, 30, 220))
        image.save(images / f"{post_id}.jpg")
        objects = "".join(
            f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
            f"<ymax>{b[3]}</ymax></bndbox></object>" for name, b in ((f"Alice{index}", ALICE_BOX), (f"Bob{index}", BOB_BOX)))
        (data / "xml" / f"{post_id}.xml").write_text(
            f"<annotation><size><width>{SIZE[0]}</width><height>{SIZE[1]}</height><depth>3</depth></size>{objects}</annotation>")
    (data / "dev.txt").write_text("\n".join(blocks) + "\n")
    return data, images
