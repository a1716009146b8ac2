"""Render the application icon (app.svg) into the files each operating system wants.

Run after changing app.svg, from the repository root::

    QT_QPA_PLATFORM=offscreen .venv/bin/python resources/render_icons.py

It writes, beside app.svg:

- ``app-<size>.png`` (16 to 512 pixels): the Linux icon theme sizes, installed
  as ``hicolor/<size>x<size>/apps/mail-server-configurator.png``;
- ``app.ico``: the Windows executable's icon, 16 to 256 pixels;
- ``app.icns``: the macOS application bundle's icon, 16 to 1024 pixels.

Qt draws the SVG, so no other image tool is needed.  Both containers hold PNG
images, which Windows (since Vista) and macOS (since 10.7) read directly;
their layout is simple enough to write here instead of adding a dependency.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "app.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# Apple's PNG-capable icon types and the pixel size each holds.
ICNS_TYPES = (
    (b"icp4", 16),
    (b"ic11", 32),  # 16 at 2x
    (b"icp5", 32),
    (b"ic12", 64),  # 32 at 2x
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic13", 256),  # 128 at 2x
    (b"ic08", 256),
    (b"ic14", 512),  # 256 at 2x
    (b"ic09", 512),
    (b"ic10", 1024),  # 512 at 2x
)


def render(renderer: QSvgRenderer, size: int) -> bytes:
    """The SVG drawn into a transparent square of ``size`` pixels, as PNG bytes."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QImageWriter(buffer, QByteArray(b"png"))
    if not writer.write(image):
        raise RuntimeError(f"could not encode the {size} px image as PNG: {writer.errorString()}")
    return bytes(data.data())


def ico(images: dict[int, bytes]) -> bytes:
    """A Windows .ico holding one PNG per size (a size of 256 is written as 0)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, png in images.items():
        side = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        blobs += png
        offset += len(png)
    return header + entries + blobs


def icns(images: dict[int, bytes]) -> bytes:
    """A macOS .icns holding the PNG-capable icon types."""
    body = b"".join(
        kind + struct.pack(">I", 8 + len(images[size])) + images[size] for kind, size in ICNS_TYPES
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    _app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        print(f"{SOURCE} is not a valid SVG image", file=sys.stderr)
        return 1
    sizes = sorted({*PNG_SIZES, *ICO_SIZES, *(size for _, size in ICNS_TYPES)})
    images = {size: render(renderer, size) for size in sizes}
    for size in PNG_SIZES:
        (HERE / f"app-{size}.png").write_bytes(images[size])
    (HERE / "app.ico").write_bytes(ico({size: images[size] for size in ICO_SIZES}))
    (HERE / "app.icns").write_bytes(icns(images))
    print(f"Wrote {len(PNG_SIZES)} PNG sizes, app.ico and app.icns to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
