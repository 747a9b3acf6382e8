"""Tests for styletransfer.training.data: folders and a tiny COCO set generated in tmp_path."""
from __future__ import annotations

import pickle
import random
import warnings
from pathlib import Path

import pytest
import torch

from fixtures_images import gradient, make_coco, write_truncated_jpeg
from styletransfer.training.data import (
    CocoDataset,
    DatasetError,
    ImageFolderDataset,
    find_training_photos,
    load_center_crop,
    scan_images,
    split_holdout,
)
from styletransfer.core.images import image_to_tensor

SIZE = 16


def make_folder(root: Path) -> Path:
    """Three good images (one nested, one with an upper-case extension), two bad ones, and
    files that are not taken as images."""
    (root / "sub").mkdir(parents=True)
    gradient((64, 40)).save(root / "b.png")
    gradient((30, 50)).save(root / "sub" / "c.jpg")
    gradient((20, 20)).save(root / "A.JPG", "JPEG")
    (root / "broken.jpg").write_text("not an image")
    write_truncated_jpeg(root / "cut.jpeg")
    (root / "readme.txt").write_text("hello")
    (root / "._b.png").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata companion
    return root


def test_find_image_files_is_sorted_and_filtered(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "photos")
    names = [p.relative_to(root).as_posix() for p in find_training_photos(root)]
    assert names == ["A.JPG", "b.png", "broken.jpg", "cut.jpeg", "sub/c.jpg"]


def test_scan_images_reports_bad_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "photos")
    good, bad = scan_images(find_training_photos(root))
    assert [p.name for p in good] == ["A.JPG", "b.png", "c.jpg"]
    problems = dict((p.name, problem) for p, problem in bad)
    assert problems.keys() == {"broken.jpg", "cut.jpeg"}
    assert "not an image file" in problems["broken.jpg"] and "truncated" in problems["cut.jpeg"]


def test_folder_dataset_skips_bad_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "photos")
    data = ImageFolderDataset(root, SIZE)
    assert len(data) == 3 and [p.name for p in data.files] == ["A.JPG", "b.png", "c.jpg"]
    assert sorted(p.name for p, _ in data.skipped) == ["broken.jpg", "cut.jpeg"]
    assert pickle.loads(pickle.dumps(data)).files == data.files  # for DataLoader workers
    for i in range(len(data)):
        item = data[i]
        assert item.shape == (3, SIZE, SIZE) and item.dtype == torch.float32
        assert 0 <= item.min() and item.max() <= 1


def test_crops_follow_torch_seed_only(tmp_path: Path) -> None:
    gradient((80, 40)).save(tmp_path / "wide.png")
    gradient((40, 80)).save(tmp_path / "tall.png")
    data = ImageFolderDataset(tmp_path, SIZE)

    def crops(index: int, torch_seed: int, python_seed: int = 0) -> list[torch.Tensor]:
        torch.manual_seed(torch_seed)
        random.seed(python_seed)
        return [data[index] for _ in range(4)]

    for index in range(2):  # the crop moves along the tall image and across the wide one
        first, again = crops(index, 1), crops(index, 1, python_seed=99)
        assert all(torch.equal(a, b) for a, b in zip(first, again))
        distinct = {tuple(item.flatten().tolist()) for seed in range(12) for item in crops(index, seed)}
        assert len(distinct) > 1


def test_crop_is_a_window_of_the_resized_image(tmp_path: Path) -> None:
    gradient((64, 16)).save(tmp_path / "strip.png")  # shorter side already SIZE: no resize
    data = ImageFolderDataset(tmp_path, SIZE)
    whole = image_to_tensor(gradient((64, 16)))[0]
    torch.manual_seed(0)
    item = data[0]
    assert any(torch.equal(item, whole[:, :, left:left + SIZE]) for left in range(64 - SIZE + 1))


def test_unreadable_file_at_load_time_is_replaced_by_the_next(tmp_path: Path) -> None:
    gradient((20, 20)).save(tmp_path / "a.png")
    gradient((30, 20)).save(tmp_path / "b.png")
    data = ImageFolderDataset(tmp_path, SIZE, validate=False)
    (tmp_path / "a.png").write_text("overwritten after the scan")
    torch.manual_seed(3)
    expected = data[1]
    with pytest.warns(RuntimeWarning, match="a.png"):
        torch.manual_seed(3)
        assert torch.equal(data[0], expected)
    assert [(p.name, "not an image file" in problem) for p, problem in data.skipped] == [("a.png", True)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once only
        data[0]
    assert len(data.skipped) == 1


def test_all_files_unreadable_at_load_time(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_text("nope")
    data = ImageFolderDataset(tmp_path, SIZE, validate=False)
    with pytest.warns(RuntimeWarning), pytest.raises(DatasetError, match="no usable images in"):
        data[0]


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"{tmp_path}: no image files"):
        ImageFolderDataset(tmp_path)
    with pytest.raises(DatasetError, match="image folder not found"):
        ImageFolderDataset(tmp_path / "missing")


def test_folder_of_bad_files_names_the_folder_and_the_files(tmp_path: Path) -> None:
    (tmp_path / "one.jpg").write_bytes(b"")
    (tmp_path / "two.png").write_text("text")
    with pytest.raises(DatasetError) as caught:
        ImageFolderDataset(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"no usable images in {tmp_path} (2 files skipped: ")
    assert "one.jpg: empty file" in message and "two.png: not an image file" in message


def test_explicit_files_relative_to_root(tmp_path: Path) -> None:
    make_folder(tmp_path)
    data = ImageFolderDataset(tmp_path, SIZE, files=["sub/c.jpg", "b.png"])
    assert data.files == [tmp_path / "sub" / "c.jpg", tmp_path / "b.png"]


def test_load_center_crop(tmp_path: Path) -> None:
    gradient((64, 16)).save(tmp_path / "strip.png")
    crop = load_center_crop(tmp_path / "strip.png", SIZE)
    whole = image_to_tensor(gradient((64, 16)))[0]
    assert torch.equal(crop, whole[:, :, 24:40])
    assert load_center_crop(tmp_path / "strip.png", 8).shape == (3, 8, 8)


def test_split_holdout(tmp_path: Path) -> None:
    for i in range(5):
        gradient((20 + i, 20)).save(tmp_path / f"{i}.png")
    data = ImageFolderDataset(tmp_path, SIZE)
    split = split_holdout(data, 2)
    assert [p.name for p in split.val_files] == ["3.png", "4.png"]
    assert [p.name for p in split.train.files] == ["0.png", "1.png", "2.png"]
    assert len(split.train) == 3 and split.train.image_size == SIZE
    assert all(torch.equal(a, load_center_crop(p, SIZE)) for a, p in zip(split.val_images, split.val_files))
    assert len(data) == 5  # the original is unchanged
    with pytest.raises(DatasetError, match="cannot hold out 5 of 5"):
        split_holdout(data, 5)


def test_split_holdout_passes_over_unreadable_files(tmp_path: Path) -> None:
    for i in range(4):
        gradient((20, 20)).save(tmp_path / f"{i}.png")
    data = ImageFolderDataset(tmp_path, SIZE, validate=False)
    (tmp_path / "3.png").write_bytes(b"")
    train, val_files, _ = split_holdout(data, 1)
    assert [p.name for p in val_files] == ["2.png"]
    assert [p.name for p in train.files] == ["0.png", "1.png"]
    assert [(p.name, problem) for p, problem in data.skipped] == [("3.png", "empty file")]
    assert train.skipped == data.skipped


# --- COCO ------------------------------------------------------------------------------

PERSON, DOG, CAT = 1, 18, 17
IMAGES = {5: [PERSON], 2: [DOG], 9: [DOG, PERSON], 4: [CAT], 7: []}


def names(data: ImageFolderDataset) -> list[str]:
    return [p.name for p in data.files]


def test_coco_all_images_sorted_by_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_coco(tmp_path / "coco", IMAGES)
    data = CocoDataset(root, image_size=SIZE)
    assert names(data) == [f"{i:012d}.jpg" for i in (2, 4, 5, 7, 9)]
    assert data.root == root / "train2017" and data.skipped == []
    assert data[0].shape == (3, SIZE, SIZE)
    assert capsys.readouterr().out == ""  # pycocotools' progress messages are swallowed


def test_coco_category_filter_is_a_union(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco", IMAGES)
    assert names(CocoDataset(root, categories=["dog"])) == ["000000000002.jpg", "000000000009.jpg"]
    cats_or_dogs = CocoDataset(root, categories=["dog", "cat"])
    assert names(cats_or_dogs) == ["000000000002.jpg", "000000000004.jpg", "000000000009.jpg"]


def test_coco_max_images(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco", IMAGES)
    assert names(CocoDataset(root, max_images=2)) == ["000000000002.jpg", "000000000004.jpg"]


def test_coco_unknown_category(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco", IMAGES)
    with pytest.raises(DatasetError, match=r"unknown COCO category 'dgo'; valid names: cat, dog, person"):
        CocoDataset(root, categories=["dog", "dgo"])


def test_coco_annotations_argument_and_2014_layout(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco14", {3: [CAT], 1: [DOG]}, year="2014")
    data = CocoDataset(annotations=root / "annotations" / "instances_train2014.json")
    assert data.root == root / "train2014" and names(data) == ["000000000001.jpg", "000000000003.jpg"]


def test_coco_bad_image_is_skipped(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco", IMAGES)
    (root / "train2017" / "000000000004.jpg").write_text("oops")
    (root / "train2017" / "000000000005.jpg").unlink()
    data = CocoDataset(root)
    assert names(data) == ["000000000002.jpg", "000000000007.jpg", "000000000009.jpg"]
    assert {(p.name, problem.split(" (")[0]) for p, problem in data.skipped} == {
        ("000000000004.jpg", "not an image file"), ("000000000005.jpg", "file not found")}


def test_coco_missing_pieces(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="COCO folder not found"):
        CocoDataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="expected train2014/ or train2017/"):
        CocoDataset(tmp_path / "empty")
    root = make_coco(tmp_path / "coco", IMAGES)
    (root / "annotations" / "instances_train2017.json").unlink()
    with pytest.raises(DatasetError, match=r"instances_train2017\.json: COCO annotation file not found"):
        CocoDataset(root)


@pytest.mark.parametrize("content", ['{"images": [', "[1, 2, 3]", '{"images": [{"id": 1}], "categories": []}'])
def test_coco_malformed_annotations(tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_coco(tmp_path / "coco", IMAGES)
    (root / "annotations" / "instances_train2017.json").write_text(content)
    with pytest.raises(DatasetError, match="instances_train2017.json: malformed COCO annotation file"):
        CocoDataset(root)
    assert capsys.readouterr().out == ""


def test_coco_no_matching_images(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco", {1: [DOG]})
    with pytest.raises(DatasetError, match="no COCO images showing cat"):
        CocoDataset(root, categories=["cat"])

