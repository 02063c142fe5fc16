"""Screenshots of the whole screen (every monitor), scaled down and compressed.

On X11 a JPEG is made in bands of 64 rows, so the whole image is never held: a 1280x720 image is 3.7 MB
(Pillow keeps 4 bytes a pixel), more than the rest of a screenshot's memory. Each band is encoded as a JPEG
of its own with the same settings, and their compressed data are joined into one baseline JPEG as its
restart intervals: a restart resets the decoder's state, so the result decodes to exactly the pixels of the
image encoded in one piece. WebP cannot be joined so: its bands are pasted into the whole image.

The screen is read in strips of 128 KB, each scaled into its band as it arrives; each strip passes through
python-xlib's receive buffer several times over, so smaller strips cost less memory. Each strip is fetched
with a few rows either side and scaled with a source box, so the result is the image scaled in one piece (a
handful of pixels one level off, in rounding, at some ratios). Windows and macOS (and unusual X pixel
formats) grab the whole screen with mss and encode it in one piece.
"""

from __future__ import annotations

import io
import math
import struct
import sys
from collections.abc import Iterator
from typing import Any

from safeguard_proto.v1 import agent_pb2 as pb

from agent import memory

STRIP_BYTES = 128 * 1024  # screen data fetched from the X server per request
MCU_SIZE = 16  # a 4:2:0 JPEG is coded in blocks of 16x16 pixels
BAND_ROWS = 4 * MCU_SIZE  # output rows encoded at a time (each band but the last must be whole blocks)


def grab(*, max_width: int, quality: int, image_format: str) -> pb.Screenshot:
    """Capture the screen; scale it to at most ``max_width`` pixels wide (0: keep), keeping its aspect ratio.

    ``image_format`` is "jpeg" or "webp". A new connection or mss handle each time: they are tied to the thread
    that made them, and screenshots are rare, so Pillow (and mss) are imported on the first one, not when the
    agent starts.
    """
    from PIL import Image

    # Importing Pillow maps ten libraries and reads some 2.3 MB of them (symbols, relocations) that encoding
    # never touches again: those pages (and any other clean ones) go before the screenshot's own memory comes.
    memory.release_unused_memory()
    if sys.platform not in ("win32", "darwin"):
        from Xlib import display

        connection = display.Display()
        try:
            screen = _x11_screen(connection)
            if screen is not None:
                geometry = screen.root.get_geometry()
                source = geometry.width, geometry.height
                size = _scaled_size(*source, max_width)
                bands = _x11_bands(Image, screen.root, source, size)
                if image_format == "jpeg":
                    return _screenshot(_jpeg(size, bands, quality), image_format, size)
                image = Image.new("RGB", size)
                for top, band in zip(range(0, size[1], BAND_ROWS), bands, strict=True):
                    image.paste(band, (0, top))
                return _screenshot(_encoded(image, image_format, quality=quality), image_format, size)
        finally:
            connection.close()
    image = _grab_mss(Image, max_width)
    return _screenshot(_encoded(image, image_format, quality=quality), image_format, image.size)


def _screenshot(image: bytes, image_format: str, size: tuple[int, int]) -> pb.Screenshot:
    return pb.Screenshot(image=image, format=image_format, width=size[0], height=size[1])


def _jpeg(size: tuple[int, int], bands: Iterator[Any], quality: int) -> bytes:
    """One baseline JPEG of ``size`` from bands of BAND_ROWS rows (the last may be shorter), encoded one at a
    time: the first band's headers with the full height and a restart interval of one band, then each band's
    compressed data, separated by restart markers."""
    parts: list[bytes] = []
    for index, band in enumerate(bands):
        # Fixed 4:2:0 subsampling and the standard Huffman tables (no optimize): every band has the same
        # tables, which the first band's headers declare for all of them.
        data = _encoded(band, "jpeg", quality=quality, subsampling="4:2:0", optimize=False)
        scan = _scan_start(data)
        if index == 0:
            mcus = math.ceil(size[0] / MCU_SIZE) * (BAND_ROWS // MCU_SIZE)
            parts.append(_headers(data[:scan], height=size[1], restart_interval=mcus))
        else:
            parts.append(bytes((0xFF, 0xD0 + (index - 1) % 8)))  # RST0 to RST7 in turn
        parts.append(data[scan:-2])  # the compressed data, without the band's end-of-image marker
    parts.append(b"\xff\xd9")
    return b"".join(parts)


def _encoded(image: Any, image_format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    # Named, so that Pillow (13 here) imports this format's plugin only: given just a format, it imports its five
    # common ones first (PNG's brings the decimal module), ~0.9 MB more at the screenshot's peak.
    out.name = f"screenshot.{image_format}"
    image.save(out, **options)
    return out.getvalue()


def _scan_start(jpeg: bytes) -> int:
    """Where the compressed data begins: just after the start-of-scan segment."""
    position = 2  # after the start-of-image marker
    while True:
        marker, length = jpeg[position + 1], struct.unpack_from(">H", jpeg, position + 2)[0]
        position += 2 + length
        if marker == 0xDA:
            return position


def _headers(headers: bytes, *, height: int, restart_interval: int) -> bytes:
    """A band's headers with the image's height in its frame header and a restart interval before its scan."""
    out = bytearray(headers)
    position = 2
    while out[position + 1] != 0xDA:
        if out[position + 1] == 0xC0:  # baseline frame header: length, precision, then the height
            struct.pack_into(">H", out, position + 5, height)
        position += 2 + struct.unpack_from(">H", out, position + 2)[0]
    out[position:position] = struct.pack(">BBHH", 0xFF, 0xDD, 4, restart_interval)
    return bytes(out)


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


def _x11_screen(connection: Any) -> Any:
    """The screen, whose root window is all monitors; None when its pixels are not 32-bit little-endian BGRX."""
    from Xlib import X

    info, screen = connection.display.info, connection.screen()
    bits = {f.depth: f.bits_per_pixel for f in info.pixmap_formats}.get(screen.root_depth)
    visual = next(
        (v for d in screen.allowed_depths for v in d.visuals if v.visual_id == screen.root_visual), None
    )
    if bits != 32 or info.image_byte_order != X.LSBFirst or visual is None or visual.red_mask != 0xFF0000:
        return None
    return screen


def _x11_bands(Image: Any, root: Any, source: tuple[int, int], size: tuple[int, int]) -> Iterator[Any]:
    """The root window, of ``source`` size, scaled to ``size`` in bands of BAND_ROWS rows, read in strips as each
    band is asked for."""
    from Xlib import X

    (width, height), scaling = source, size != source
    ratio = height / size[1]  # source rows per output row
    margin = math.ceil(ratio) + 1 if scaling else 0  # the bilinear filter's reach, in source rows
    out_rows = max(1, min(BAND_ROWS, int(STRIP_BYTES // (width * 4) / ratio)))
    for band_top in range(0, size[1], BAND_ROWS):
        band = Image.new("RGB", (size[0], min(BAND_ROWS, size[1] - band_top)))
        for first in range(band_top, band_top + band.height, out_rows):
            last = min(band_top + band.height, first + out_rows)
            y0, y1 = first * ratio, last * ratio
            top, bottom = max(0, math.floor(y0) - margin), min(height, math.ceil(y1) + margin)
            data = root.get_image(0, top, width, bottom - top, X.ZPixmap, 0xFFFFFFFF).data
            strip = Image.frombytes("RGB", (width, bottom - top), data, "raw", "BGRX")
            if scaling:
                strip = strip.resize(
                    (size[0], last - first), Image.Resampling.BILINEAR, box=(0, y0 - top, width, y1 - top)
                )
            band.paste(strip, (0, first - band_top))
        yield band
