"""Shared test fixtures. Photos come from the repo's own examples/ (public domain / CC0)."""
from pathlib import Path

import pytest
import torch
from PIL import Image

pytest_plugins = ["ci_skips"]  # under CI=true a skipped must-run test fails the run

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def example_photos() -> list[Path]:
    return sorted(EXAMPLES.glob("*.jpg"))


def photo_tensor(path: Path, size: int) -> torch.Tensor:
    """(3, size, size) RGB 0..1 centre crop of a photo."""
    image = Image.open(path).convert("RGB")
    scale = size / min(image.size)
    image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))))
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1).float() / 255


@pytest.fixture(scope="session")
def photos_224() -> torch.Tensor:
    """(4, 3, 224, 224) real photos, RGB 0..1."""
    return torch.stack([photo_tensor(p, 224) for p in example_photos()])
