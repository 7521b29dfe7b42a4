"""Hashing a media file: MD5, SHA-1, SHA-256 of the bytes, and PDQ with quality for images.

The file is streamed for the cryptographic hashes, then (if it is an image) decoded once for PDQ
with a pixel limit against decompression bombs. Images are converted to RGB first: palette and
1-bit images hash wrongly otherwise. A file that cannot be hashed as an image gets a reason
(``empty_file``, ``corrupt_image``, ``truncated_image``, ``decompression_bomb``, ``unreadable``)
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
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic"}
)
_CHUNK = 1 << 20


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
    if reason == "not_an_image" and path.suffix.lower() not in IMAGE_EXTENSIONS:
        return digest
    if reason == "not_an_image":
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
                rgb = image.convert("RGB")
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
