"""Screenshots of the whole screen (every monitor), scaled down and compressed."""

from __future__ import annotations

import io

from safeguard_proto.v1 import agent_pb2 as pb


def grab(*, max_width: int, quality: int, image_format: str) -> pb.Screenshot:
    """Capture the screen; scale it to at most ``max_width`` pixels wide (0: keep), keeping its aspect ratio.

    ``image_format`` is "jpeg" or "webp". A new mss handle each time: they are tied to the thread that made
    them, and screenshots are rare: mss and Pillow are imported on the first one, not when the agent starts.
    """
    import mss
    from PIL import Image

    with mss.MSS() as screen:
        shot = screen.grab(screen.monitors[0])
    image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
    if max_width and image.width > max_width:
        image = image.resize(
            (max_width, round(image.height * max_width / image.width)), Image.Resampling.BILINEAR
        )
    out = io.BytesIO()
    image.save(out, format=image_format.upper(), quality=quality)
    return pb.Screenshot(image=out.getvalue(), format=image_format, width=image.width, height=image.height)
