"""Builders for test image files and a tiny COCO data set, all generated with Pillow."""
from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

from PIL import Image


def gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A smooth image whose pixels differ everywhere, so crops at different places differ."""
    width, height = size
    img = Image.new("RGB", size)
    img.putdata([(x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256)
                 for y in range(height) for x in range(width)])
    return img.convert(mode)


def jpeg_bytes(size: tuple[int, int] = (64, 48), **save_args: object) -> bytes:
    buffer = io.BytesIO()
    gradient(size).save(buffer, "JPEG", quality=90, **save_args)
    return buffer.getvalue()


def write_truncated_jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A JPEG cut off half way through its pixel data (the header is intact)."""
    data = jpeg_bytes(size)
    path.write_bytes(data[: len(data) // 2])
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR (8-bit RGB) claiming width x height, with no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


COCO_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
    {"id": 17, "name": "cat", "supercategory": "animal"},
]


def make_coco(root: Path, image_categories: dict[int, list[int]], year: str = "2017") -> Path:
    """A COCO-format data set under ``root``: ``train{year}/`` with one small JPEG per image
    id and ``annotations/instances_train{year}.json`` giving each image one annotation per
    category id in ``image_categories[image_id]`` (an empty list: an image with none).
    Images get different sizes so they can be told apart. Returns ``root``."""
    images_dir = root / f"train{year}"
    images_dir.mkdir(parents=True)
    (root / "annotations").mkdir()
    images, annotations = [], []
    for image_id, category_ids in image_categories.items():
        name = f"{image_id:012d}.jpg"
        width, height = 40 + image_id, 30 + image_id
        (images_dir / name).write_bytes(jpeg_bytes((width, height)))
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for category_id in category_ids:
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category_id,
                "bbox": [2.0, 3.0, 10.0, 12.0],
                "area": 120.0,
                "iscrowd": 0,
                "segmentation": [[2.0, 3.0, 12.0, 3.0, 12.0, 15.0, 2.0, 15.0]],
            })
    document = {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}
    (root / "annotations" / f"instances_train{year}.json").write_text(json.dumps(document))
    return root
