"""Images in planner messages: standard image blocks that point at files, resolved by each backend.

A post's image travels in a ``HumanMessage`` as a standard image block that points at the file
(``{"type": "image", "url": "file:///abs/path.jpg"}``), so checkpointed threads do not store image bytes;
each backend resolves the block when it sends: in-process backends load the file, HTTP backends inline it
as base64.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import unquote, urlparse

from langchain_core.messages import BaseMessage
from PIL import Image

from groundex.tools.images import load_image


def image_block(path: Path) -> dict[str, Any]:
    return {"type": "image", "url": path.resolve().as_uri()}


def is_image_block(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") in ("image", "image_url")


def block_image(block: dict[str, Any]) -> Image.Image:
    """The PIL image of an image block (a file:// url, a data url, or base64 data)."""
    url = block.get("url") or (block.get("image_url") or {}).get("url")
    if isinstance(url, str) and url.startswith("file://"):
        return load_image(Path(unquote(urlparse(url).path)))
    if isinstance(url, str) and url.startswith("data:"):
        data = url.split(",", 1)[1]
    else:
        data = block.get("base64") or block.get("data")
    if not data:
        raise ValueError(f"image block without data: {str(block)[:80]}")
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def png_block(image: Image.Image) -> dict[str, Any]:
    """A standard image block holding ``image`` as base64 PNG (what HTTP backends send)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"type": "image", "base64": base64.b64encode(buffer.getvalue()).decode("ascii"), "mime_type": "image/png"}


def inline_images(messages: Sequence[BaseMessage], keep_images: bool) -> list[BaseMessage]:
    """Messages with file images turned into base64 PNG blocks, or dropped when ``keep_images`` is false."""
    converted: list[BaseMessage] = []
    for message in messages:
        if not isinstance(message.content, list) or not any(is_image_block(b) for b in message.content):
            converted.append(message)
            continue
        blocks = []
        for block in message.content:
            if not is_image_block(block):
                blocks.append(block)
            elif keep_images:
                blocks.append(png_block(block_image(block)))
        converted.append(message.model_copy(update={"content": blocks}))
    return converted
