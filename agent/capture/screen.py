"""Screenshots of the whole screen (every monitor), scaled down and compressed.

On X11 the screen is read in strips of 128 KB, each scaled into the output image as it arrives, so a
screenshot of a 1920x1080 desktop scaled to 1280 pixels costs the agent about 5.5 MB at its peak (the output
image is 3.7 MB of it) rather than 25 MB (the whole screen in shared memory, again as bytes, again as an
image, then scaled). Each strip passes through python-xlib's receive buffer several times over, so smaller
strips cost less memory: half-megabyte ones took 8 MB at the peak, for 10 ms less CPU per screenshot. Each
strip is fetched with a few rows either side and scaled with a source box, so the result is the image scaled
in one piece.
Windows and macOS (and unusual X pixel formats) grab the whole screen with mss.
"""

from __future__ import annotations

import io
import math
import sys
from typing import Any

from safeguard_proto.v1 import agent_pb2 as pb

STRIP_BYTES = 128 * 1024  # screen data fetched from the X server per request


def grab(*, max_width: int, quality: int, image_format: str) -> pb.Screenshot:
    """Capture the screen; scale it to at most ``max_width`` pixels wide (0: keep), keeping its aspect ratio.

    ``image_format`` is "jpeg" or "webp". A new connection or mss handle each time: they are tied to the thread
    that made them, and screenshots are rare, so Pillow (and mss) are imported on the first one, not when the
    agent starts.
    """
    from PIL import Image

    image = _grab_x11(Image, max_width) if sys.platform not in ("win32", "darwin") else None
    if image is None:
        image = _grab_mss(Image, max_width)
    out = io.BytesIO()
    image.save(out, format=image_format.upper(), quality=quality)
    return pb.Screenshot(image=out.getvalue(), format=image_format, width=image.width, height=image.height)


def _scaled_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    if max_width and width > max_width:
        return max_width, round(height * max_width / width)
    return width, height


def _grab_mss(Image: Any, max_width: int) -> Any:
    import mss

    with mss.MSS() as screen:
        shot = screen.grab(screen.monitors[0])
    image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
    size = _scaled_size(image.width, image.height, max_width)
    return image if size == image.size else image.resize(size, Image.Resampling.BILINEAR)


def _grab_x11(Image: Any, max_width: int) -> Any:
    """The root window (all monitors) in strips; None when its pixels are not 32-bit little-endian BGRX."""
    from Xlib import X, display

    connection = display.Display()
    try:
        info, screen = connection.display.info, connection.screen()
        bits = {f.depth: f.bits_per_pixel for f in info.pixmap_formats}.get(screen.root_depth)
        visual = next(
            (v for d in screen.allowed_depths for v in d.visuals if v.visual_id == screen.root_visual), None
        )
        if bits != 32 or info.image_byte_order != X.LSBFirst or visual is None or visual.red_mask != 0xFF0000:
            return None
        root = screen.root
        geometry = root.get_geometry()
        width, height = geometry.width, geometry.height
        size = _scaled_size(width, height, max_width)
        scaling = size != (width, height)
        out = Image.new("RGB", size)
        ratio = height / size[1]  # source rows per output row
        margin = math.ceil(ratio) + 1 if scaling else 0  # the bilinear filter's reach, in source rows
        out_rows = max(1, int(STRIP_BYTES // (width * 4) / ratio))
        for first in range(0, size[1], out_rows):
            last = min(size[1], first + out_rows)
            y0, y1 = first * ratio, last * ratio
            top, bottom = max(0, math.floor(y0) - margin), min(height, math.ceil(y1) + margin)
            data = root.get_image(0, top, width, bottom - top, X.ZPixmap, 0xFFFFFFFF).data
            strip = Image.frombytes("RGB", (width, bottom - top), data, "raw", "BGRX")
            if scaling:
                strip = strip.resize(
                    (size[0], last - first), Image.Resampling.BILINEAR, box=(0, y0 - top, width, y1 - top)
                )
            out.paste(strip, (0, first))
        return out
    finally:
        connection.close()
