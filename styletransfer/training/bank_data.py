"""The one stream of photos a bank of networks trains on: batch ``position`` of epoch ``epoch``,
exactly the crops a single run with the same data seed reads (styletransfer.training.trainer's
reproducibility rules), decoded, cropped and sent to the device once per step for every network.

Two ways to the same crops:

- :class:`PhotoStream` with a DataLoader (as the Trainer): worker processes decode (or read from
  the decoded cache, ``cache_images``) and crop; the uint8 batch is copied to the device;
- :class:`DeviceCrops`: every training image decoded once, resized, and kept *on the training
  device* as uint8 (one flat buffer of RGB rows); each step's crop positions are drawn on the host
  (a few random draws per photo, the same draws as :func:`styletransfer.training.data.random_crop`)
  and the crops are cut there by one gather, already channels-last. No decoding, no per-step host
  copy of pixels and no worker processes: what a GPU that trains a thousand images a second
  needs from a data set of a few thousand photos.
"""
from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from styletransfer.core.images import ImageError, pixels_to_float
from styletransfer.training.data import ImageFolderDataset, SeededCrops, _collate, epoch_order, load_resized_pixels, mix_seed

Batch = tuple[torch.Tensor, list[tuple[str, str]]]


class DeviceCrops:
    """The training images of ``dataset`` decoded and resized once (``threads`` at a time) and
    held on ``device`` as uint8; unusable files are recorded in ``dataset.skipped`` (with a
    warning) and passed over as :meth:`ImageFolderDataset.crop_pixels` does.

    :meth:`crops` gives the crops of ``(index, crop_seed)`` keys, the same pixels as
    ``SeededCrops(dataset)[key]``, as a (B, 3, S, S) uint8 tensor in channels-last memory.
    """

    def __init__(self, dataset: ImageFolderDataset, device: torch.device, threads: int = 1):
        self.dataset, self.device, self.size = dataset, device, dataset.image_size

        def load(index: int) -> torch.Tensor | ImageError:
            try:
                return load_resized_pixels(dataset.files[index], self.size)
            except ImageError as error:
                return error

        with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
            loaded = list(pool.map(load, range(len(dataset.files))))
        self.offsets: list[int] = []
        self.shapes: list[tuple[int, int]] = []
        self.usable: list[bool] = []
        rows, offset = [], 0
        for index, item in enumerate(loaded):
            if isinstance(item, ImageError):
                dataset._mark_unusable(index, item)
                self.offsets.append(-1)
                self.shapes.append((0, 0))
                self.usable.append(False)
                continue
            _, height, width = item.shape
            rows.append(item.permute(1, 2, 0).reshape(-1))  # H, W, RGB
            self.offsets.append(offset)
            self.shapes.append((height, width))
            self.usable.append(True)
            offset += item.numel()
        if not rows:
            from styletransfer.training.data import DatasetError, _describe_skipped
            raise DatasetError(f"no usable images in {dataset.root} ({_describe_skipped(dataset.skipped)})")
        self.pixels = torch.cat(rows).to(device)
        self.nbytes = self.pixels.numel()
        self._generator = torch.Generator()
        span = torch.arange(self.size, device=device)
        self._rows = span.view(1, -1, 1, 1)
        self._columns = (span * 3).view(1, 1, -1, 1)
        self._channels = torch.arange(3, device=device).view(1, 1, 1, -1)

    def _candidate(self, index: int) -> int:
        count = len(self.usable)
        for step in range(count):
            candidate = (index + step) % count
            if self.usable[candidate]:
                return candidate
        raise AssertionError("no usable image")  # excluded in __init__

    def positions(self, keys: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
        """(offset, width, top, left) of each key's crop: the draws of ``random_crop`` (top, then
        left) from torch's generator seeded with the key's crop seed."""
        out = []
        for index, crop_seed in keys:
            candidate = self._candidate(index)
            height, width = self.shapes[candidate]
            self._generator.manual_seed(crop_seed)
            top = int(torch.randint(0, height - self.size + 1, (), generator=self._generator))
            left = int(torch.randint(0, width - self.size + 1, (), generator=self._generator))
            out.append((self.offsets[candidate], width, top, left))
        return out

    def crops(self, keys: list[tuple[int, int]]) -> torch.Tensor:
        """(B, 3, S, S) uint8 crops on the device (channels-last memory), one gather."""
        info = torch.tensor(self.positions(keys), dtype=torch.long)
        if self.device.type == "cuda":
            info = info.pin_memory()
        info = info.to(self.device, non_blocking=True).view(-1, 4, 1, 1, 1)
        offset, width, top, left = info.unbind(1)
        index = offset + ((top + self._rows) * width + left) * 3 + self._columns + self._channels
        return self.pixels[index].permute(0, 3, 1, 2)


class PhotoStream:
    """The batches of a bank's photos as float RGB 0..1 on ``device`` (channels-last when
    asked), with the (path, problem) of unusable files newly met in each.

    Args:
        dataset: the training images.
        batch_size, seed: photos per step; the data seed (epoch order and crops).
        workers: DataLoader processes (not used with ``device_crops``).
        device_crops: cut the crops on the device from this cache instead of a DataLoader.
    """

    def __init__(self, dataset: ImageFolderDataset, *, batch_size: int, seed: int, workers: int,
                 device: torch.device, channels_last: bool, device_crops: DeviceCrops | None = None):
        self.dataset, self.batch_size, self.seed, self.workers = dataset, batch_size, seed, workers
        self.device, self.channels_last, self.device_crops = device, channels_last, device_crops
        self.steps_per_epoch = len(dataset) // batch_size

    def _keys(self, epoch: int, position: int) -> list[list[tuple[int, int]]]:
        order = epoch_order(len(self.dataset), self.seed, epoch)
        size = self.batch_size
        return [[(order[i], mix_seed(self.seed, epoch, i)) for i in range(b * size, (b + 1) * size)]
                for b in range(position, self.steps_per_epoch)]

    def _prepare(self, pixels: torch.Tensor) -> torch.Tensor:
        photos = pixels_to_float(pixels.to(self.device, non_blocking=True))
        return photos.contiguous(memory_format=torch.channels_last if self.channels_last
                                 else torch.contiguous_format)

    def batches(self, epoch: int, position: int) -> Iterator[Batch]:
        """The batches of epoch ``epoch`` from batch ``position`` to its end."""
        keys = self._keys(epoch, position)
        if self.device_crops is not None:
            for batch in keys:
                yield self._prepare(self.device_crops.crops(batch)), []
            return
        loader = DataLoader(SeededCrops(self.dataset), batch_sampler=keys, num_workers=self.workers,
                            collate_fn=_collate, pin_memory=self.device.type == "cuda", generator=torch.Generator())
        for pixels, skipped in loader:
            yield self._prepare(pixels), skipped
