"""Image input/output: safe opening, tensor conversion, resizing and atomic saving.

Images travel through the library as Pillow images in mode ``RGB`` (or ``RGBA`` when the
file has transparency) and as float tensors of shape (1, 3, H, W), RGB in 0..1.

:func:`open_image` turns every file problem (missing, empty, not an image, truncated,
animated, too large) into one :class:`ImageError` line naming the file. Its pixel limit
guards against decompression bombs: the image size in the file header is checked before
any pixel data is decoded, so a small file claiming 40000x40000 pixels fails at once.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import threading
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from styletransfer.errors import StyleTransferError
from styletransfer.core.files import atomic_path

DEFAULT_MAX_PIXELS: int = 100_000_000
"""Largest image :func:`open_image` accepts by default: 100 megapixels (e.g. 12000x8000),
about 300 MB of RGB pixel data once decoded. Pass ``max_pixels=None`` to disable the guard."""

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""File suffixes (lower case) of the images :func:`open_image` reads: what a folder of inputs to
stylize is searched for. A GIF is read when it holds one frame; an animated one is refused with
its own message, so a folder scan reports it rather than skipping it unseen."""

PHOTO_SUFFIXES: tuple[str, ...] = tuple(suffix for suffix in IMAGE_SUFFIXES if suffix != ".gif")
"""The full-color subset of :data:`IMAGE_SUFFIXES`, searched for in collections of photos and
paintings (training data, evaluation photos, a style's painting): GIF holds at most 256 colors
and is mostly animations and graphics, so such folders leave it out."""

def find_image_files(folder: str | os.PathLike[str], *, recursive: bool = False,
                     suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """The image files in ``folder`` (by suffix, any case), with ``recursive`` those of its
    sub-folders too (following folder links): the one folder scan of the library (inputs to
    stylize, training photos, evaluation photos).

    Hidden files and folders (a name starting with ".", e.g. macOS ``._photo.jpg`` companions)
    are skipped. Sorted by the path relative to ``folder``, so the order is the same on every
    machine. Nothing is opened; a missing folder gives an empty list.
    """
    root = Path(folder)
    found = []
    for current, subfolders, names in os.walk(root, followlinks=True):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".")) if recursive else []
        found += [Path(current, name) for name in names
                  if not name.startswith(".") and Path(name).suffix.lower() in suffixes
                  and Path(current, name).is_file()]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


_SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}

SAVE_SUFFIXES: tuple[str, ...] = tuple(_SAVE_FORMATS)
"""File suffixes :func:`save_image_atomic` can write (JPEG, PNG, WebP)."""
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, zlib.error)

# Pillow's own decompression-bomb check reads the module global Image.MAX_IMAGE_PIXELS at
# open, crop and some load steps. open_image sets it to the caller's limit while it opens
# and decodes one image; the lock keeps concurrent calls from restoring each other's values.
_pixel_limit_lock = threading.Lock()


def _new_pixel_limit_lock() -> None:
    """Give a forked child a fresh lock (a thread of the parent may have held the old one)."""
    global _pixel_limit_lock
    _pixel_limit_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_pixel_limit_lock)


class ImageError(StyleTransferError, ValueError):
    """An image that cannot be used; the message is ``"{path}: {problem}"``, or just the
    problem for in-memory images (``path`` None). ``.path`` and ``.problem`` hold the parts."""

    def __init__(self, path: str | os.PathLike[str] | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type[ImageError], tuple[str | None, str]]:
        return type(self), (self.path, self.problem)


class ImageTooLargeError(ImageError):
    """An image over the caller's pixel limit. ``.pixels`` is its width x height (None when
    Pillow did not say) and ``.max_pixels`` the limit, so each front end can add its own hint
    (a command-line flag, "upload a smaller image")."""

    def __init__(self, path: str | os.PathLike[str] | None, pixels: int | None, max_pixels: int | None):
        self.pixels = pixels
        self.max_pixels = max_pixels
        size = f" has {pixels} pixels ({pixels / 1e6:.1f} megapixels)," if pixels is not None else " is"
        limit = f"{max_pixels / 1e6:g} megapixels" if max_pixels is not None else "the pixel limit"
        super().__init__(path, f"image{size} over the limit of {limit}")

    def __reduce__(self) -> tuple[type[ImageTooLargeError], tuple[str | None, int | None, int | None]]:
        return type(self), (self.path, self.pixels, self.max_pixels)


def _pixels_in(pillow_message: str) -> int | None:
    """The pixel count in Pillow's decompression-bomb message (it gives no width and height)."""
    found = re.search(r"\((\d+) pixels\)", pillow_message)
    return int(found[1]) if found else None


@contextlib.contextmanager
def _pillow_pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Make Pillow's decompression-bomb check use ``max_pixels`` and raise at once above it
    (Pillow only warns between 1x and 2x its limit)."""
    with _pixel_limit_lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _is_empty(source: str | os.PathLike[str] | BinaryIO) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return os.stat(source).st_size == 0
    if not getattr(source, "seekable", lambda: False)():
        return False
    position = source.tell()
    end = source.seek(0, os.SEEK_END)
    source.seek(position)
    return end == 0


def _to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to ``RGB``, or ``RGBA`` when the image has transparency.

    16-bit and 32-bit integer grey (``I;16*``, ``I``) are scaled from 0..65535, float grey
    (``F``) is read as 0..1; both are clipped to that range.
    """
    if img.mode in ("RGB", "RGBA"):
        return img
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        return img.convert("RGBA")
    if img.mode.startswith("I") or img.mode == "F":
        scale = 255.0 if img.mode == "F" else 255.0 / 65535.0
        grey = img.convert("F").point(lambda value: value * scale)
        return grey.convert("L").convert("RGB")  # F -> L rounds and clips to 0..255
    return img.convert("RGB")


def open_image(
    path_or_file: str | os.PathLike[str] | BinaryIO,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Open, fully decode and normalize an image file.

    EXIF orientation is applied (a portrait phone photo comes out portrait). Every mode is
    converted to ``RGB``, or to ``RGBA`` when the file has transparency (alpha channel or a
    palette/grey transparency color). Animated images are refused; of a multi-picture
    JPEG (MPO, as some cameras write) the primary picture is used.

    Args:
        path_or_file: a path, or a binary file object (read from its start).
        max_pixels: the largest width x height accepted, checked from the file header
            before decoding; None disables the guard (only for trusted files).

    Returns:
        A loaded Pillow image in mode ``RGB`` or ``RGBA``, detached from the file.

    Raises:
        ImageError: the file is missing, empty, not an image, truncated or corrupt,
            animated, or (ImageTooLargeError) larger than ``max_pixels``.
    """
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive number of pixels or None, not {max_pixels!r}")
    if isinstance(path_or_file, (str, os.PathLike)):
        name: str | None = os.fspath(path_or_file)
    else:
        name = getattr(path_or_file, "name", None)
        name = name if isinstance(name, str) else None
    try:
        if _is_empty(path_or_file):
            raise ImageError(name, "empty file")
        with _pillow_pixel_limit(max_pixels), Image.open(path_or_file) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > 1 and img.format != "MPO":
                raise ImageError(name, f"animated images are not supported ({frames} frames)")
            img.load()
            oriented = ImageOps.exif_transpose(img)
        return _to_rgb_or_rgba(oriented)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(name, _pixels_in(str(exc)), max_pixels) from exc
    except FileNotFoundError as exc:
        raise ImageError(name, "file not found") from exc
    except IsADirectoryError as exc:
        raise ImageError(name, "is a folder, not an image file") from exc
    except PermissionError as exc:
        raise ImageError(name, "permission denied") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(name, "not an image file (unknown format or damaged header)") from exc
    except OSError as exc:
        if exc.errno is not None:
            raise ImageError(name, f"cannot read file ({exc.strerror})") from exc
        raise ImageError(name, f"truncated or corrupt image data ({exc})") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(name, f"truncated or corrupt image data ({exc})") from exc


def split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Separate color from transparency.

    Returns:
        ``(rgb, alpha)``: the ``RGB`` image and its ``L`` alpha channel (0 transparent,
        255 opaque), or None when the image has no transparency. An ``RGB`` image without
        transparency is returned as it is, not copied (a 1080p copy costs about a
        millisecond): treat ``rgb`` as read-only.
    """
    if img.mode not in _ALPHA_MODES and "transparency" not in img.info:
        return (img if img.mode == "RGB" else img.convert("RGB")), None
    rgba = img.convert("RGBA")
    return rgba.convert("RGB"), rgba.getchannel("A")


def merge_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """Put an alpha channel back on a color image (the inverse of :func:`split_alpha`).

    The alpha channel is resized to the color image's size if they differ (the stylized
    image may be smaller than the original). ``alpha`` None gives the ``RGB`` image.

    Returns:
        ``RGBA`` image of ``rgb``'s size, or ``RGB`` when ``alpha`` is None: then ``rgb``
        itself if it is already ``RGB`` (not a copy).
    """
    if rgb.mode != "RGB":
        rgb = rgb.convert("RGB")
    if alpha is None:
        return rgb
    alpha = alpha.convert("L")
    if alpha.size != rgb.size:
        alpha = alpha.resize(rgb.size, Image.Resampling.LANCZOS)
    merged = rgb.copy()
    merged.putalpha(alpha)
    return merged


_raw_encoder = getattr(Image, "_getencoder", None)
"""Pillow's (private) encoder factory, behind :func:`_rgb_bytes`; None in a Pillow without it."""


def _rgb_bytes(rgb: Image.Image) -> bytes:
    """``rgb.tobytes()`` of a loaded, non-empty ``RGB`` image in one piece: ``tobytes`` packs the
    pixels in 64 kB pieces and joins them, a second copy (0.6 of its 1.3 ms at 1080p). Falls back
    to ``tobytes`` if Pillow's raw encoder does not answer as expected (it is not public API)."""
    size = rgb.width * rgb.height * 3
    try:
        rgb.load()
        encoder = _raw_encoder("RGB", "raw", "RGB")
        encoder.setimage(rgb.im, (0, 0) + rgb.size)
        _, status, data = encoder.encode(size)
        if status == 1 and isinstance(data, bytes) and len(data) == size:
            return data
    except Exception:  # noqa: BLE001 - any surprise from a private API means: take the public road
        pass
    return rgb.tobytes()


def image_to_pixels(img: Image.Image) -> torch.Tensor:
    """Pillow image to a (3, H, W) uint8 RGB tensor on the CPU (a view of one copy of the
    pixels; any mode is converted to ``RGB`` first and alpha dropped).

    The tensor views the ``bytes`` that Pillow's ``tobytes`` returns, which nothing else holds:
    copying them into a ``bytearray`` first, only to make the buffer formally writable, cost a
    quarter of a millisecond at 1080p. Writing into the tensor is safe all the same."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")  # convert() would copy an RGB image
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given buffer is not writable", category=UserWarning)
        pixels = torch.frombuffer(_rgb_bytes(rgb), dtype=torch.uint8)
    return pixels.view(rgb.height, rgb.width, 3).permute(2, 0, 1)


def pixels_to_float(pixels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 RGB pixels (any shape, any device) → ``dtype`` (float32 by default) in 0..1, on the
    same device: the float32 values, rounded to ``dtype``.

    bfloat16 and float16 are converted directly (two passes over 16-bit values instead of three
    over float32): 0..255 are exact in both, and their division is computed in float32 and
    rounded once, so the result is the same."""
    if dtype in (torch.bfloat16, torch.float16):
        return pixels.to(dtype).div_(255)
    return pixels.float().div_(255).to(dtype)


_ROUNDING_BIAS = float(2 ** 23)
"""Added to a float32 in 0..255, it leaves round-half-to-even of that value in the low byte of
the sum's bits: float32 numbers in [2**23, 2**24) are spaced exactly 1 apart."""

_CHUNK_BYTES = 3 << 20
"""float32 bytes :func:`float_to_pixels` works on at a time on a CPU: its passes over a 1080p image
then run in the cache (~3 ms → ~1.5 ms; docs/benchmarks/cpu-2core-outside-session13.md)."""


def float_to_pixels(t: torch.Tensor, *, nan_error: str | None = None) -> torch.Tensor:
    """Float RGB nominally in 0..1 (any shape, dtype, device) → uint8 of the same shape and
    memory order on the same device: computed in float32, clamped, scaled to 0..255 and rounded
    (half to even); ``t`` is not changed.

    The rounding and the conversion are one addition and one integer narrowing: ``x + 2**23``
    holds round(x) in the low byte of its bits (:data:`_ROUNDING_BIAS`), and narrowing int32 to
    uint8 keeps that byte. Same result as ``round()`` then ``to(uint8)``, in two fewer passes;
    PyTorch's float → uint8 conversion is the slowest of them on a CPU (3.4 ms for 1080p).
    bfloat16 and float16 values times 255 are exact in float32, so for them the scaling and the
    bias are one pass (``bias + 255·x``, rounded once whether or not it is fused). On a CPU the
    rows (dimension -2) are converted a few at a time (:data:`_CHUNK_BYTES`) through one float32
    buffer, so that each pass reads what the previous one left in the cache.

    Args:
        nan_error: when given, raise ``ValueError(nan_error)`` if ``t`` holds a NaN (infinities
            are clamped like any value): the clamped float32 values are summed while they are
            in the cache, and clamping keeps NaN, so a finite sum proves there is none.
    """
    out = torch.empty_like(t, dtype=torch.uint8)
    rows_of, out_rows = (t, out) if t.dim() >= 2 else (t.reshape(1, -1), out.view(1, -1))  # one code path
    rows = rows_of.shape[-2]
    step = max(1, min(rows, _CHUNK_BYTES // max(1, 4 * rows_of[..., :1, :].numel())
                      if t.device.type == "cpu" else rows))
    buffer = torch.empty_like(rows_of.narrow(-2, 0, min(step, rows)), dtype=torch.float32)
    sums = []
    for start in range(0, rows, step):
        part = rows_of.narrow(-2, start, min(step, rows - start))
        x = buffer.narrow(-2, 0, part.shape[-2])
        if t.dtype == torch.float32:
            torch.clamp(part, 0, 1, out=x)
        else:
            x.copy_(part).clamp_(0, 1)
        if nan_error is not None:
            sums.append(x.sum())
        if t.dtype in (torch.bfloat16, torch.float16):
            torch.add(torch.tensor(_ROUNDING_BIAS), x, alpha=255, out=x)  # a 0-dim CPU tensor: a scalar on any device
        else:
            x.mul_(255).add_(_ROUNDING_BIAS)
        out_rows.narrow(-2, start, part.shape[-2]).copy_(x.view(torch.int32))
    if sums and not torch.isfinite(torch.stack(sums).sum()):
        raise ValueError(nan_error)
    return out


def pixels_to_image(pixels: torch.Tensor) -> Image.Image:
    """(3, H, W) uint8 RGB tensor on any device → Pillow ``RGB`` image (a copy).

    Channel planes (a contiguous tensor) are interleaved by Pillow's ``Image.merge``, which is
    several times faster than a transposing copy in torch; pixels already interleaved (a
    permuted (H, W, 3) tensor) are copied as they are."""
    pixels = pixels.cpu()
    height, width = pixels.shape[1:]
    hwc = pixels.permute(1, 2, 0)
    if hwc.is_contiguous():  # Pillow copies RGB from the buffer into its own 4-byte pixels
        return Image.frombuffer("RGB", (width, height), hwc.numpy(), "raw", "RGB", 0, 1)
    planes = pixels.contiguous()
    return Image.merge("RGB", [Image.frombuffer("L", (width, height), planes[c].numpy(), "raw", "L", 0, 1)
                               for c in range(3)])


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """Pillow image to a float tensor.

    Any mode is converted to ``RGB`` first; alpha is dropped, so call :func:`split_alpha`
    beforehand to keep it.

    Returns:
        (1, 3, H, W) float32 tensor, RGB in 0..1, on the CPU.
    """
    return pixels_to_float(image_to_pixels(img)).unsqueeze(0)


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """Float tensor to a Pillow ``RGB`` image.

    Args:
        t: (1, 3, H, W) or (3, H, W) tensor of any float dtype and device, RGB nominally in
            0..1; values outside are clamped, then scaled to 0..255 and rounded.

    Raises:
        ValueError: wrong shape, a non-float dtype, or NaN values.
    """
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected an image tensor of shape (1, 3, H, W) or (3, H, W), got {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"expected a float image tensor with values in 0..1, got {t.dtype}")
    t = t.detach().cpu().float()
    if torch.isnan(t).any():
        raise ValueError("image tensor contains NaN values")
    return pixels_to_image(float_to_pixels(t))


def resize_longest(img: Image.Image, max_size: int | None) -> Image.Image:
    """Shrink an image so its longer side is at most ``max_size`` pixels, keeping its aspect
    ratio (Lanczos filter). Smaller images, and ``max_size`` None, return ``img`` unchanged."""
    if max_size is None:
        return img
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1 pixel, not {max_size}")
    longest = max(img.size)
    if longest <= max_size:
        return img
    scale = max_size / longest
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def scale_image(img: Image.Image, factor: float) -> Image.Image:
    """Resize an image by ``factor`` (0.5 halves each side, 2 doubles it; Lanczos filter).
    Each side is rounded and kept at least 1 pixel."""
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"scale factor must be a positive number, not {factor}")
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)


def _for_format(img: Image.Image, image_format: str) -> Image.Image:
    """The image in a mode the format can hold: JPEG has no alpha, so transparent areas are
    composited onto white; PNG and WebP keep ``RGBA``."""
    rgb, alpha = split_alpha(img)
    if alpha is None:
        return rgb
    if image_format == "JPEG":
        white = Image.new("RGB", rgb.size, (255, 255, 255))
        return Image.composite(rgb, white, alpha)
    return merge_alpha(rgb, alpha)


def encode_image(img: Image.Image, format: str, *, quality: int = 95) -> bytes:
    """The image as the bytes of a ``"jpeg"``/``"jpg"``, ``"png"`` or ``"webp"`` file (any case),
    converted as :func:`save_image_atomic` converts it (JPEG: transparency onto white).

    Raises:
        ImageError: an unsupported format.
    """
    key = f".{format.lower()}"
    if key not in _SAVE_FORMATS:
        raise ImageError(None, f"cannot encode images as {format!r}; use jpg, png or webp")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, not {quality}")
    buffer = io.BytesIO()
    _for_format(img, _SAVE_FORMATS[key]).save(buffer, format=_SAVE_FORMATS[key], quality=quality)
    return buffer.getvalue()


def save_image_atomic(
    img: Image.Image,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int = 95,
) -> Path:
    """Save an image so that ``path`` never holds a half-written file.

    The image is written to a hidden temporary file in the same folder, flushed to disk
    (fsync), then renamed over ``path`` in one step; on any error the temporary file is
    removed and an existing ``path`` is left untouched. Parent folders are created.
    JPEG cannot hold transparency: ``RGBA`` images are composited onto white.

    Args:
        img: image in any mode (saved as ``RGB``, or ``RGBA`` for PNG/WebP with alpha).
        path: destination file.
        format: ``"jpeg"``/``"jpg"``, ``"png"`` or ``"webp"`` (any case); None picks it
            from the extension of ``path``.
        quality: JPEG/WebP quality, 1..100 (PNG is lossless and ignores it).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ImageError: unsupported format, or the file cannot be written.
    """
    path = Path(path)
    key = f".{format.lower()}" if format is not None else path.suffix.lower()
    if key not in _SAVE_FORMATS:
        wanted = f"format {format!r}" if format is not None else f"extension {path.suffix!r}"
        raise ImageError(path, f"cannot save images with {wanted}; use .jpg, .png or .webp")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, not {quality}")
    image_format = _SAVE_FORMATS[key]
    output = _for_format(img, image_format)
    try:
        with atomic_path(path) as partial, open(partial, "xb") as f:
            output.save(f, format=image_format, quality=quality)
    except OSError as exc:
        raise ImageError(path, f"cannot write image ({exc.strerror or exc})") from exc
    return path


