"""Minimal PNG encoder (stdlib zlib), so exporting a view needs no imaging library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import torch


def encode_png(rgb: torch.Tensor) -> bytes:
    """Encode an (H, W, 3) or (H, W, 4) uint8 tensor as PNG bytes."""
    if rgb.dtype != torch.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(
            f"expected an (H, W, 3|4) uint8 tensor, got {rgb.dtype} {tuple(rgb.shape)}"
        )
    height, width, channels = rgb.shape
    rows = torch.cat([torch.zeros(height, 1, dtype=torch.uint8), rgb.reshape(height, -1)], dim=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    color_type = 2 if channels == 3 else 6
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    pixels = zlib.compress(rows.contiguous().numpy().tobytes(), 6)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def png_export(image: torch.Tensor, path: str | Path | None = None, min_size: int = 256) -> bytes:
    """Encode an (H, W, 3) uint8 image as PNG, enlarged (nearest) to at least ``min_size``.

    Writes the file too when ``path`` is given; returns the PNG bytes.
    """
    scale = max(1, -(-min_size // max(image.shape[:2])))
    data = encode_png(image.repeat_interleave(scale, 0).repeat_interleave(scale, 1).contiguous())
    if path is not None:
        Path(path).write_bytes(data)
    return data
