"""Hashing a media file: MD5, SHA-1, SHA-256 of the bytes, and PDQ with quality for images.

The file is streamed for the cryptographic hashes, then (if it is an image) decoded once for PDQ
with a pixel limit against decompression bombs. Images are converted to RGB first: palette and
1-bit images hash wrongly otherwise. Greyscale of more than 8 bits (modes ``I;16``, ``I``, ``F``)
is brought to 8 bits before that: the conversion clips at 255, so a 16-bit image came out white
(quality 0, a hash unrelated to its 8-bit copy's). A file that cannot be hashed as an image gets
a reason (``empty_file``, ``corrupt_image``, ``truncated_image``, ``decompression_bomb``,
``unreadable``, and ``no_decoder`` for an image in a format nothing here decodes, such as HEIC)
and keeps its byte hashes where it has any; the caller keeps the report.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError

from safeguarding.hashing.pdq_bits import bits_to_hex

DEFAULT_MAX_PIXELS = 50_000_000
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".heif", ".jxl"}
)
_CHUNK = 1 << 20
# Image formats recognised by their first bytes, for telling an image nothing here decodes from a
# damaged file: HEIF (HEIC, and AVIF where Pillow lacks its plugin) by the brands of its ISO
# media ``ftyp`` box, JPEG XL by its two signatures (bare codestream, container).
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
     b"avif", b"avis"}
)  # fmt: skip
_JPEG_XL = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")
# Modes of greyscale wider than 8 bits, brought to 8 bits before the RGB conversion.
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_WIDE = _SIXTEEN_BIT | {"I", "F"}


@dataclass(frozen=True)
class FileDigest:
    """Hashes of one file. ``pdq`` is None for non-images and for unhashable images."""

    size: int
    md5: str | None
    sha1: str | None
    sha256: str | None
    pdq: str | None = None
    pdq_quality: int | None = None
    unhashable_reason: str | None = None

    @property
    def hashes(self) -> dict[str, str]:
        found = {"md5": self.md5, "sha1": self.sha1, "sha256": self.sha256, "pdq": self.pdq}
        return {kind: value for kind, value in found.items() if value is not None}


def hash_file(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> FileDigest:
    """All hashes of the file at ``path``; never raises for bad content, only records why."""
    md5, sha1, sha256 = (
        hashlib.md5(usedforsecurity=False),
        hashlib.sha1(usedforsecurity=False),
        hashlib.sha256(),
    )
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                size += len(chunk)
                md5.update(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
    except OSError:
        return FileDigest(0, None, None, None, unhashable_reason="unreadable")
    if size == 0:
        return FileDigest(0, None, None, None, unhashable_reason="empty_file")
    digest = FileDigest(size, md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest())
    pdq, quality, reason = _pdq(path, max_pixels)
    if reason == "not_an_image" and _undecodable_image(path):
        reason = "no_decoder"
    elif reason == "not_an_image" and path.suffix.lower() not in IMAGE_EXTENSIONS:
        return digest
    elif reason == "not_an_image":
        reason = "corrupt_image"
    return FileDigest(digest.size, digest.md5, digest.sha1, digest.sha256, pdq, quality, reason)


def _pdq(path: Path, max_pixels: int) -> tuple[str | None, int | None, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return None, None, "decompression_bomb"
                rgb = _eight_bit(image).convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, None, "decompression_bomb"
    except UnidentifiedImageError:
        return None, None, "not_an_image"
    except OSError as exc:
        truncated = "truncated" in str(exc).lower()
        return None, None, "truncated_image" if truncated else "corrupt_image"
    except (ValueError, SyntaxError, EOFError):
        return None, None, "corrupt_image"
    bits, quality = pdqhash.compute(np.asarray(rgb))
    return bits_to_hex(bits), int(quality), None


def _eight_bit(image: Image.Image) -> Image.Image:
    """``image``, greyscale wider than 8 bits brought to 8 (others as they are). 16-bit samples
    are divided by 257 (65535 to 255), as an 8-bit copy of the image holds them. ``I`` and ``F``
    hold whatever the file stored: floating-point values within 0–1 are taken as fractions of
    white, values within 0–255 are kept, within 0–65535 taken as 16-bit, and any other range is
    stretched from its minimum to its maximum (PDQ's bits do not change with the scale; the
    stretch keeps the contrast that the quality measures)."""
    if image.mode not in _WIDE:
        return image
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if image.mode in _SIXTEEN_BIT or (low >= 0 and 255 < high <= 65535):
        values = values / 257
    elif image.mode == "F" and low >= 0 and high <= 1:
        values = values * 255
    elif low < 0 or high > 255:
        values = (values - low) * (255 / (high - low) if high > low else 0.0)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _undecodable_image(path: Path) -> bool:
    """Whether the file starts as an image in a format nothing here decodes (no HEIF decoder is
    installed): such a file is not ``corrupt_image``, which would say the provider's file is
    damaged, but ``no_decoder``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(32)
    except OSError:
        return False
    if head.startswith(_JPEG_XL):
        return True
    if head[4:8] != b"ftyp":
        return False
    box = min(int.from_bytes(head[:4], "big"), len(head))
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, box - 3, 4)]
    return any(brand in _HEIF_BRANDS for brand in brands)
