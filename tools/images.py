"""Loading post images safely: one place that turns a path into an RGB PIL image or a clear error.

Boxes and masks everywhere refer to pixels of the image as a viewer shows it: an EXIF orientation (a phone photo
stored sideways with a "rotate 90" tag) is applied here, once, for every entry point (CLI, chat, web app, eval).
Images without an orientation tag, such as the Twitter datasets' (Twitter strips EXIF), are unchanged, so their
boxes agree with the dataset annotations.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from groundex.agent.errors import GroundexError
from groundex.agent.schema import ImageSize

MAX_IMAGE_PIXELS = 50_000_000  # far above any social-media image; guards against decompression bombs
MAX_IMAGE_BYTES = 50 * 1024 * 1024


class ImageLoadError(GroundexError):
    """An image that is missing, unreadable, truncated, not an image, or too large."""


def load_image(path: Path) -> Image.Image:
    """Open, fully decode and convert to RGB; raises ``ImageLoadError`` naming the path and the problem."""
    if not path.is_file():
        raise ImageLoadError(f"image {path} does not exist")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ImageLoadError(f"image {path} is {path.stat().st_size // 2**20} MiB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.width * opened.height > MAX_IMAGE_PIXELS:
                    raise ImageLoadError(
                        f"image {path} is {opened.width}x{opened.height} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels"
                    )
                opened.load()
                upright = ImageOps.exif_transpose(opened)  # a copy in the displayed frame (or ``opened`` itself)
                return upright.convert("RGB")
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageLoadError(f"{path} is not a readable image ({error.__class__.__name__})") from error
    except OSError as error:  # truncated or corrupt data
        raise ImageLoadError(f"image {path} is damaged or truncated ({error})") from error


def image_size(image: Image.Image) -> ImageSize:
    return ImageSize(image.width, image.height)
