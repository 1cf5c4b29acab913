"""Image loading errors and the overlay drawing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from groundex.agent.overlay import draw_overlay
from groundex.agent.schema import Box, Entity, Mask, Triple
from groundex.tools import images
from groundex.tools.images import ImageLoadError, load_image


def test_bad_images_are_reported_by_name(tmp_path, monkeypatch):
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "missing.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="not a readable image"):
        load_image(text)
    whole = tmp_path / "whole.png"
    Image.effect_noise((200, 200), 50).convert("RGB").save(whole)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(truncated)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(ImageLoadError, match="limit is 10,000 pixels"):
        load_image(whole)


def test_grayscale_images_load_as_rgb(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (40, 30), 128).save(path)
    assert load_image(path).mode == "RGB" and load_image(path).size == (40, 30)


def test_overlay_draws_boxes_tints_masks_and_lists_unplaced_entities():
    image = Image.new("RGB", (200, 100), (255, 255, 255))
    area = np.zeros((100, 200), dtype=bool)
    area[60:90, 120:190] = True
    triples = [Triple(Entity("Messi", 0, 5, "PER"), Box(20, 30, 80, 90)),
               Triple(Entity("ball", 6, 10, "OTHER"), Box(120, 60, 190, 90), Mask.from_array(area)),
               Triple(Entity("Madrid", 11, 17, "LOC"))]
    drawn = np.asarray(draw_overlay(image, triples))
    assert tuple(drawn[60, 20]) != (255, 255, 255)          # the left edge of Messi's box
    assert tuple(drawn[75, 155]) != (255, 255, 255)         # inside the tinted mask
    assert tuple(drawn[50, 100]) == (255, 255, 255)         # untouched background
    assert tuple(drawn[2, 2]) != (255, 255, 255)            # the "not in image" banner
    assert image.getpixel((20, 60)) == (255, 255, 255)      # the input image is not modified


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_an_exif_orientation_is_applied_once_where_images_load(tmp_path, suffix):
    # a phone photo stored 60x20 (landscape pixels) with "rotate 90 CW" (orientation 6) is shown 20x60 by viewers
    stored = Image.new("RGB", (60, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 10, 20))  # red on the stored left edge: the top once rotated clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / f"phone{suffix}"
    stored.save(path, exif=exif)
    upright = load_image(path)
    assert upright.size == (20, 60)
    red, green, blue = upright.getpixel((10, 2))
    assert red > 200 and blue < 60
    plain = tmp_path / f"plain{suffix}"
    stored.save(plain)
    assert load_image(plain).size == (60, 20)  # no orientation tag: the stored frame


def test_labels_avoid_the_banner_and_each_other_and_stay_inside_the_image():
    from groundex.agent.overlay import Rect, place_label
    from groundex.agent.schema import Box

    size = (300, 200)
    banner = Rect(0, 0, 300, 40)  # a wrapped "not in image" banner across the top
    taken = [banner]
    boxes = [Box(0, 0, 120, 100), Box(5, 2, 130, 90), Box(250, 10, 320, 60), Box(100, 150, 200, 199.5),
             Box(0, 0, 300, 200), Box(280, 190, 300, 200)]
    for box in boxes:
        spot = place_label(90, 16, box, size, taken)
        assert 0 <= spot.x1 < spot.x2 <= 300 and 0 <= spot.y1 < spot.y2 <= 200
        assert not any(spot.overlaps(other) for other in taken)
        taken.append(spot)
    assert place_label(400, 16, Box(0, 0, 10, 10), size, []).x2 <= 300  # a label wider than the image is clipped


def test_the_readme_example_keeps_its_banner_clear_of_the_first_label(repo_root):
    import numpy as np

    from groundex.agent.overlay import draw_overlay
    from groundex.agent.schema import Box, Entity, Triple

    image = Image.open(repo_root / "examples" / "images" / "astronaut.png")
    triples = [Triple(Entity("Eileen Collins", 0, 14, "PER"), Box(84.0, 29.8, 363.0, 364.6)),
               Triple(Entity("NASA", 61, 65, "ORG"))]
    drawn = np.asarray(draw_overlay(image, triples))
    banner_rows = np.where((drawn[:, 2] == 0).all(axis=1))[0]  # the banner is black at its left edge
    label_colour = np.array([230, 25, 75])
    label_rows = np.where((np.abs(drawn[:, 90].astype(int) - label_colour) < 3).all(axis=1))[0]
    assert len(banner_rows) and len(label_rows) and label_rows.min() > banner_rows.max()
