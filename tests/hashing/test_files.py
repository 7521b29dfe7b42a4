"""Hashing media: reference PDQ hashes, byte hashes, and every kind of broken image."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safeguarding.hashing.files import hash_file
from safeguarding.hashing.pdq_bits import hex_distance
from safeguarding.triage.generate import benign_image

REFERENCE = Path(__file__).parent.parent / "data" / "pdq-reference"
EXPECTED = list(csv.DictReader((REFERENCE / "expected-pdq.csv").open()))


@pytest.mark.parametrize("row", EXPECTED, ids=[r["file"] for r in EXPECTED])
def test_reference_images_hash_within_10_bits_of_meta_reference(row: dict[str, str]) -> None:
    digest = hash_file(REFERENCE / row["file"])
    assert digest.pdq is not None and digest.unhashable_reason is None
    assert hex_distance(digest.pdq, row["pdq_hex"]) <= 10
    assert digest.pdq_quality is not None and digest.pdq_quality >= 80


def test_byte_hashes_are_those_of_the_file() -> None:
    path = REFERENCE / "shrink-a-lot.jpg"
    data = path.read_bytes()
    digest = hash_file(path)
    assert digest.md5 == hashlib.md5(data).hexdigest()
    assert digest.sha1 == hashlib.sha1(data).hexdigest()
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)


def _save(image: Image.Image, path: Path, fmt: str) -> Path:
    image.save(path, fmt)
    return path


def test_palette_and_one_bit_images_hash_like_their_rgb_version(tmp_path: Path) -> None:
    picture = benign_image(7)
    rgb = hash_file(_save(picture, tmp_path / "rgb.png", "PNG"))
    palette = hash_file(_save(picture.convert("P"), tmp_path / "p.png", "PNG"))
    assert rgb.pdq and palette.pdq
    assert hex_distance(rgb.pdq, palette.pdq) <= 31
    bilevel = hash_file(_save(picture.convert("1"), tmp_path / "b.png", "PNG"))
    assert bilevel.pdq is not None and bilevel.unhashable_reason is None


def test_zero_byte_file_is_unhashable(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    digest = hash_file(path)
    assert digest.unhashable_reason == "empty_file"
    assert digest.md5 is None and digest.pdq is None


def test_corrupt_image_is_unhashable_but_keeps_byte_hashes(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(b"definitely not an image, whatever the name says" * 10)
    digest = hash_file(path)
    assert digest.unhashable_reason == "corrupt_image"
    assert digest.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest.pdq is None


def test_image_with_damaged_data_is_unhashable(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    benign_image(4).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[200:400] = bytes(200)  # overwrite compressed pixel data
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    digest = hash_file(path)
    assert digest.unhashable_reason in {"corrupt_image", "truncated_image"}
    assert digest.pdq is None


def test_truncated_image_is_unhashable(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    benign_image(3).save(buffer, "JPEG", quality=90)
    path = tmp_path / "truncated.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    digest = hash_file(path)
    assert digest.unhashable_reason == "truncated_image"
    assert digest.pdq is None and digest.md5 is not None


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # A small PNG that claims to be 20,000 × 20,000 pixels.
    path = _save(Image.new("1", (20_000, 20_000)), tmp_path / "bomb.png", "PNG")
    assert path.stat().st_size < 200_000
    digest = hash_file(path, max_pixels=10_000_000)
    assert digest.unhashable_reason == "decompression_bomb"
    assert digest.pdq is None


def test_non_image_media_get_byte_hashes_and_no_reason(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    digest = hash_file(path)
    assert digest.unhashable_reason is None and digest.pdq is None and digest.md5


def _grey_twins(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """An 8-bit greyscale benign image saved as PNG, and its pixel values."""
    grey = benign_image(11).convert("L")
    return _save(grey, tmp_path / "g8.png", "PNG"), np.asarray(grey)


def test_sixteen_bit_greyscale_hashes_like_its_eight_bit_copy(tmp_path: Path) -> None:
    # convert("RGB") clipped 16-bit values at 255: the image came out white, quality 0, and its
    # hash far from that of the same picture in 8 bits.
    eight, values = _grey_twins(tmp_path)
    wide = (values.astype(np.uint16) * 257).astype(np.uint16)
    sixteen = _save(Image.fromarray(wide), tmp_path / "g16.png", "PNG")
    assert Image.open(sixteen).mode == "I;16"
    expected, found = hash_file(eight), hash_file(sixteen)
    assert expected.pdq and found.pdq and expected.pdq_quality == found.pdq_quality
    assert hex_distance(expected.pdq, found.pdq) == 0 and found.unhashable_reason is None


@pytest.mark.parametrize(
    ("mode", "scale", "offset"),
    [("I", 257, 0), ("F", 257, 0), ("F", 1, 0), ("I", 1000, -100_000), ("F", 1 / 255, 0)],
)
def test_wide_greyscale_of_any_range_hashes_like_its_eight_bit_copy(
    tmp_path: Path, mode: str, scale: float, offset: float
) -> None:
    eight, values = _grey_twins(tmp_path)
    dtype = np.int32 if mode == "I" else np.float32
    wide = (values.astype(np.float64) * scale + offset).astype(dtype)
    path = _save(Image.fromarray(wide, mode), tmp_path / "wide.tiff", "TIFF")
    assert Image.open(path).mode == mode
    expected, found = hash_file(eight), hash_file(path)
    assert expected.pdq and found.pdq and found.pdq_quality is not None
    assert hex_distance(expected.pdq, found.pdq) <= 8 and found.pdq_quality >= 50


@pytest.mark.parametrize("name", ["photo.heic", "photo.bin"])
def test_an_image_in_a_format_without_a_decoder_says_so(tmp_path: Path, name: str) -> None:
    # No HEIF decoder is installed: every HEIC photo was "corrupt_image", as if the provider's
    # file were damaged. The format is known by its ftyp box, whatever the file is named.
    path = tmp_path / name
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200))
    digest = hash_file(path)
    assert digest.unhashable_reason == "no_decoder" and digest.pdq is None
    assert digest.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    jxl = tmp_path / "photo.jxl"
    jxl.write_bytes(b"\xff\x0a" + bytes(100))
    assert hash_file(jxl).unhashable_reason == "no_decoder"
    damaged = tmp_path / "damaged.heic"
    damaged.write_bytes(b"not an image at all" * 10)
    assert hash_file(damaged).unhashable_reason == "corrupt_image"
