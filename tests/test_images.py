"""Tests for styletransfer.core.images: every file is generated here with Pillow."""
from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageFile

from fixtures_images import gradient, jpeg_bytes, png_header_only, write_truncated_jpeg
import styletransfer.core.images as images
from styletransfer.core.images import (
    DEFAULT_MAX_PIXELS,
    float_to_pixels,
    image_to_pixels,
    pixels_to_float,
    pixels_to_image,
    IMAGE_SUFFIXES,
    PHOTO_SUFFIXES,
    SAVE_SUFFIXES,
    ImageError,
    image_to_tensor,
    merge_alpha,
    open_image,
    resize_longest,
    save_image_atomic,
    scale_image,
    split_alpha,
    tensor_to_image,
)


def problem_of(source: object, **kwargs: object) -> str:
    with pytest.raises(ImageError) as caught:
        open_image(source, **kwargs)  # type: ignore[arg-type]
    return caught.value.problem


# --- open_image: good files ------------------------------------------------------------

def test_open_jpeg_from_path_and_file_object(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes((64, 48)))
    from_path = open_image(path)
    with open(path, "rb") as f:
        from_file = open_image(f)
    assert from_path.mode == "RGB" and from_path.size == (64, 48)
    assert from_path.tobytes() == from_file.tobytes()


def test_one_pixel_image(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (10, 200, 30)).save(tmp_path / "dot.png")
    img = open_image(tmp_path / "dot.png")
    assert img.size == (1, 1) and img.getpixel((0, 0)) == (10, 200, 30)


def test_grey_becomes_rgb(tmp_path: Path) -> None:
    Image.new("L", (5, 4), 77).save(tmp_path / "grey.png")
    img = open_image(tmp_path / "grey.png")
    assert img.mode == "RGB" and img.getpixel((2, 2)) == (77, 77, 77)


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    deep = Image.new("I;16", (3, 1))
    for x, value in enumerate((0, 32896, 65535)):
        deep.putpixel((x, 0), value)
    deep.save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    img = open_image(tmp_path / "deep.png")
    assert img.mode == "RGB"
    assert [img.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "print.jpg")
    assert Image.open(tmp_path / "print.jpg").mode == "CMYK"
    img = open_image(tmp_path / "print.jpg")
    red, green, blue = img.getpixel((4, 4))
    assert img.mode == "RGB" and red > 200 and green < 50 and blue < 50


def test_palette_png_with_transparency_keeps_alpha(tmp_path: Path) -> None:
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "sprite.png", transparency=0)
    img = open_image(tmp_path / "sprite.png")
    assert img.mode == "RGBA"
    assert img.getpixel((0, 0))[3] == 0 and img.getpixel((2, 2)) == (255, 0, 0, 255)


def test_grey_with_alpha_becomes_rgba(tmp_path: Path) -> None:
    Image.new("LA", (3, 3), (90, 40)).save(tmp_path / "la.png")
    assert open_image(tmp_path / "la.png").getpixel((1, 1)) == (90, 90, 90, 40)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    left_red_right_blue = Image.new("RGB", (40, 20), (0, 0, 255))
    left_red_right_blue.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    left_red_right_blue.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    img = open_image(tmp_path / "phone.jpg")
    assert img.size == (20, 40)
    top, bottom = img.getpixel((10, 2)), img.getpixel((10, 37))
    assert top[0] > 200 and top[2] < 50  # the stored left (red) side is now on top
    assert bottom[2] > 200 and bottom[0] < 50


def test_multi_picture_jpeg_uses_the_primary_picture() -> None:
    buffer = io.BytesIO()
    first, second = Image.new("RGB", (30, 20), (255, 0, 0)), Image.new("RGB", (30, 20), (0, 0, 255))
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    buffer.seek(0)
    img = open_image(buffer)
    assert img.size == (30, 20) and img.getpixel((5, 5))[0] > 200


# --- open_image: bad files -------------------------------------------------------------

def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert problem_of(tmp_path / "empty.jpg") == "empty file"
    assert problem_of(io.BytesIO()) == "empty file"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("these are not pixels\n")
    assert "not an image file" in problem_of(tmp_path / "notes.jpg")


def test_truncated_jpeg(tmp_path: Path) -> None:
    path = write_truncated_jpeg(tmp_path / "cut.jpg")
    assert "truncated" in problem_of(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert problem_of(tmp_path / "nowhere.jpg") == "file not found"
    assert "folder" in problem_of(tmp_path)


def test_animated_gif_is_refused(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (10, 10), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    assert problem_of(tmp_path / "anim.gif") == "animated images are not supported (3 frames)"


# --- the image-suffix lists ------------------------------------------------------------

@pytest.mark.parametrize("suffix", IMAGE_SUFFIXES)
def test_every_image_suffix_is_a_format_open_image_reads(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"still{suffix.upper()}"  # folder scans compare suffixes in lower case
    Image.new("RGB", (6, 4), (200, 40, 40)).save(path)
    img = open_image(path)
    assert img.size == (6, 4) and img.mode == "RGB"


def test_suffix_lists_are_lower_case_and_one_derives_from_the_other() -> None:
    assert all(suffix == suffix.lower() and suffix.startswith(".") for suffix in IMAGE_SUFFIXES)
    # A still GIF is read (an animated one gets its own message), so an input folder lists it;
    # photo and painting collections leave out its 256-color format.
    assert ".gif" in IMAGE_SUFFIXES and ".gif" not in PHOTO_SUFFIXES
    assert PHOTO_SUFFIXES == tuple(suffix for suffix in IMAGE_SUFFIXES if suffix != ".gif")
    assert set(SAVE_SUFFIXES) <= set(PHOTO_SUFFIXES)


def test_huge_header_fails_before_decoding(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(png_header_only(40000, 40000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        with pytest.raises(ImageError) as caught:
            open_image(tmp_path / "bomb.png")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'bomb.png'}: ")
    assert "1600000000 pixels" in message and "over the limit of 100 megapixels" in message
    assert (caught.value.pixels, caught.value.max_pixels) == (40000 * 40000, DEFAULT_MAX_PIXELS)
    assert "--max-pixels" not in message  # the flag is the CLI's hint, not the library's


def test_pixel_limit_is_the_callers(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes((64, 48)))
    assert "3072 pixels" in problem_of(path, max_pixels=3000)
    assert open_image(path, max_pixels=3072).size == (64, 48)
    # 120 megapixels passes a 200-megapixel limit (Pillow's own default would refuse it),
    # and then fails only because this header has no pixel data.
    (tmp_path / "big.png").write_bytes(png_header_only(12000, 10000))
    assert "megapixels" in problem_of(tmp_path / "big.png")
    assert "truncated or corrupt" in problem_of(tmp_path / "big.png", max_pixels=200_000_000)
    assert "truncated or corrupt" in problem_of(tmp_path / "big.png", max_pixels=None)
    assert Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's default restored


def test_bad_max_pixels_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        open_image(tmp_path / "x.jpg", max_pixels=0)


def test_image_error_message_and_pickling() -> None:
    assert str(ImageError("a/b.jpg", "empty file")) == "a/b.jpg: empty file"
    assert str(ImageError(None, "empty file")) == "empty file"
    copy = pickle.loads(pickle.dumps(ImageError(Path("a/b.jpg"), "empty file")))
    assert (copy.path, copy.problem, str(copy)) == ("a/b.jpg", "empty file", "a/b.jpg: empty file")


# --- alpha, tensors, resizing ----------------------------------------------------------

def test_split_and_merge_alpha() -> None:
    rgba = Image.new("RGBA", (6, 4), (10, 20, 30, 128))
    rgb, alpha = split_alpha(rgba)
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (10, 20, 30)
    assert alpha is not None and alpha.mode == "L" and alpha.getpixel((0, 0)) == 128
    assert split_alpha(rgb)[1] is None
    merged = merge_alpha(Image.new("RGB", (12, 8), (1, 2, 3)), alpha)
    assert merged.mode == "RGBA" and merged.size == (12, 8) and merged.getpixel((5, 5)) == (1, 2, 3, 128)
    assert merge_alpha(rgb, None).mode == "RGB"


def test_image_to_tensor_layout_and_range() -> None:
    img = Image.new("RGB", (3, 2), (255, 0, 51))
    img.putpixel((2, 1), (0, 102, 255))
    t = image_to_tensor(img)
    assert t.shape == (1, 3, 2, 3) and t.dtype == torch.float32
    assert t[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert t[0, :, 1, 2].tolist() == pytest.approx([0.0, 0.4, 1.0])


def test_tensor_round_trip_is_exact() -> None:
    img = gradient((17, 9))
    assert tensor_to_image(image_to_tensor(img)).tobytes() == img.tobytes()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_tensor_to_image_clamps_and_rounds(dtype: torch.dtype) -> None:
    t = torch.tensor([[-0.5, 0.5], [1.5, 0.25]], dtype=dtype).expand(3, 2, 2)
    img = tensor_to_image(t)
    assert img.mode == "RGB" and img.size == (2, 2)
    assert [img.getpixel(xy)[0] for xy in ((0, 0), (1, 0), (0, 1), (1, 1))] == [0, 128, 255, 64]
    assert tensor_to_image(t.unsqueeze(0)).tobytes() == img.tobytes()


def test_tensor_to_image_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        tensor_to_image(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="float"):
        tensor_to_image(torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        tensor_to_image(torch.full((3, 4, 4), float("nan")))


def test_resize_longest() -> None:
    img = gradient((200, 100))
    assert resize_longest(img, 50).size == (50, 25)
    assert resize_longest(img.rotate(90, expand=True), 50).size == (25, 50)
    assert resize_longest(img, 500) is img and resize_longest(img, None) is img
    with pytest.raises(ValueError):
        resize_longest(img, 0)


def test_scale_image() -> None:
    img = gradient((20, 10))
    assert scale_image(img, 0.5).size == (10, 5)
    assert scale_image(img, 2).size == (40, 20)
    assert scale_image(img, 0.001).size == (1, 1)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            scale_image(img, bad)


# --- save_image_atomic -----------------------------------------------------------------

@pytest.mark.parametrize("name, pillow_format", [("a.jpg", "JPEG"), ("b.JPEG", "JPEG"), ("c.png", "PNG"), ("d.webp", "WEBP")])
def test_save_format_from_extension(tmp_path: Path, name: str, pillow_format: str) -> None:
    saved = save_image_atomic(gradient((16, 8)), tmp_path / "deep" / "er" / name)
    assert saved == tmp_path / "deep" / "er" / name
    with Image.open(saved) as img:
        assert img.format == pillow_format and img.size == (16, 8)
    assert os.listdir(saved.parent) == [name]  # no temporary file left behind


def test_save_format_argument_overrides_extension(tmp_path: Path) -> None:
    saved = save_image_atomic(gradient((8, 8)), tmp_path / "out.img", format="png")
    with Image.open(saved) as img:
        assert img.format == "PNG"


def test_save_alpha(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    with Image.open(save_image_atomic(rgba, tmp_path / "a.png")) as png:
        assert png.mode == "RGBA" and png.getpixel((1, 1))[3] == 0
    with Image.open(save_image_atomic(rgba, tmp_path / "a.jpg")) as jpeg:
        assert jpeg.mode == "RGB" and min(jpeg.getpixel((1, 1))) > 245  # transparent -> white


def test_save_refuses_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"out\.gif: cannot save images with extension '\.gif'"):
        save_image_atomic(gradient((4, 4)), tmp_path / "out.gif")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_old_file_and_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    save_image_atomic(Image.new("RGB", (4, 4), (1, 2, 3)), target)
    before = target.read_bytes()

    def fail_half_way(self: Image.Image, fp: io.BufferedWriter, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail_half_way)
    with pytest.raises(ImageError, match="out.png: cannot write image"):
        save_image_atomic(Image.new("RGB", (4, 4), (9, 9, 9)), target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saved_file_gets_normal_permissions(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        saved = save_image_atomic(gradient((4, 4)), tmp_path / "shared.png")
    finally:
        os.umask(old_umask)
    assert saved.stat().st_mode & 0o777 == 0o644


def test_pixels_to_image_from_planes_and_from_interleaved_pixels_agree() -> None:
    pixels = torch.randint(0, 256, (3, 7, 11), dtype=torch.uint8)
    planes = pixels_to_image(pixels)  # contiguous: Pillow interleaves the planes
    interleaved = pixels_to_image(pixels.permute(1, 2, 0).contiguous().permute(2, 0, 1))
    strided = pixels_to_image(pixels[:, ::1, ::2])  # neither: copied to planes first
    assert planes.mode == "RGB" and planes.size == (11, 7)
    assert planes.tobytes() == interleaved.tobytes() == pixels.permute(1, 2, 0).contiguous().numpy().tobytes()
    assert strided.tobytes() == pixels[:, :, ::2].permute(1, 2, 0).contiguous().numpy().tobytes()
    hwc = pixels.permute(1, 2, 0).contiguous()
    interleaved = pixels_to_image(hwc.permute(2, 0, 1))
    saved = planes.tobytes()
    pixels.zero_()  # the images are copies
    hwc.zero_()
    assert planes.tobytes() == interleaved.tobytes() == saved != bytes(len(saved))


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (640, 3), (3, 640)])
@pytest.mark.parametrize("private_api", ["works", "missing"])
def test_image_to_pixels_reads_every_pixel_with_or_without_pillows_raw_encoder(size, private_api, monkeypatch, tmp_path):
    """The one-piece read through Pillow's raw encoder gives exactly ``tobytes()``; when that
    private API is gone or changed, the public ``tobytes()`` is used instead."""
    if private_api == "missing":
        monkeypatch.setattr(images, "_raw_encoder", None)
    torch.manual_seed(0)
    data = torch.randint(0, 256, (size[1], size[0], 3), dtype=torch.uint8)
    made = Image.frombytes("RGB", size, data.numpy().tobytes())
    made.save(tmp_path / "photo.png")
    for img in (made, Image.open(tmp_path / "photo.png"), made.convert("L").convert("RGB")):  # a lazily loaded file too
        pixels = image_to_pixels(img)
        assert pixels.shape == (3, size[1], size[0])
        assert pixels.permute(1, 2, 0).contiguous().numpy().tobytes() == img.tobytes()
    assert torch.equal(image_to_pixels(made), data.permute(2, 0, 1))


def _rounded_the_plain_way(t: torch.Tensor) -> torch.Tensor:
    return t.float().clamp(0, 1).mul(255).round().to(torch.uint8)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_float_to_pixels_rounds_every_16_bit_value_as_round_does(dtype: torch.dtype) -> None:
    """All 65,536 bit patterns (NaN aside): the bias trick agrees with round-half-to-even,
    including the tie 0.5 → 127.5 → 128 and everything outside 0..1."""
    values = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(dtype)
    values = values[~torch.isnan(values)]
    assert torch.equal(float_to_pixels(values), _rounded_the_plain_way(values))


def test_float_to_pixels_rounds_float32_as_round_does() -> None:
    torch.manual_seed(0)
    ties = (torch.arange(256, dtype=torch.float32) + 0.5) / 255  # near k + 0.5 after scaling
    near = torch.cat([ties, torch.nextafter(ties, torch.zeros(())), torch.nextafter(ties, torch.ones(()))])
    values = torch.cat([near, torch.rand(100_000), torch.tensor([-1.0, 0.0, 1.0, 2.0, float("inf"), -float("inf")])])
    assert torch.equal(float_to_pixels(values), _rounded_the_plain_way(values))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("layout", ["planes", "interleaved", "batch"])
def test_float_to_pixels_converts_a_large_image_row_chunk_by_row_chunk(dtype, layout, monkeypatch):
    """On a CPU the rows go through one float32 buffer a few at a time: here 7 rows per chunk of
    a 30-row image, so the last chunk is short. Same result and memory order as the whole image
    at once, and a NaN anywhere (here in the short last chunk) is found."""
    monkeypatch.setattr(images, "_CHUNK_BYTES", 4 * 3 * 50 * 7)
    torch.manual_seed(0)
    t = (torch.rand(3, 30, 50) * 1.4 - 0.2).to(dtype)
    if layout == "interleaved":
        t = t.permute(1, 2, 0).contiguous().permute(2, 0, 1)
    elif layout == "batch":
        t = t[None].contiguous(memory_format=torch.channels_last)
    out = float_to_pixels(t, nan_error="NaN here")
    assert out.stride() == t.stride() and torch.equal(out, _rounded_the_plain_way(t))
    t[..., 1, 29, 49] = float("nan")
    assert torch.equal(float_to_pixels(t)[..., :28, :], out[..., :28, :])  # no check asked for: no error
    with pytest.raises(ValueError, match="^NaN here$"):
        float_to_pixels(t, nan_error="NaN here")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_float_to_pixels_leaves_its_input_alone(dtype: torch.dtype) -> None:
    t = torch.tensor([-0.5, 0.5, 1.5, 0.25, 0.8], dtype=dtype)
    before = t.clone()
    assert float_to_pixels(t).tolist() == [0, 128, 255, 64, 204]
    assert torch.equal(t, before)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_pixels_to_float_is_the_float32_quotient_rounded_once(dtype: torch.dtype) -> None:
    """Every uint8 value: the float32 value of k / 255, rounded once to ``dtype`` (float64: the
    float32 quotient, as every float32 network input was made before)."""
    pixels = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    assert torch.equal(pixels_to_float(pixels, dtype), (pixels.float() / 255).to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_conversions_keep_an_interleaved_images_memory_order(dtype: torch.dtype) -> None:
    """A (3, H, W) view of interleaved (H, W, 3) pixels converts to float and back without a
    transposing copy: the float tensor is channels-last for the network, and the uint8 result
    stays interleaved, which pixels_to_image hands to Pillow as it is."""
    hwc = torch.randint(0, 256, (5, 7, 3), dtype=torch.uint8)
    floats = pixels_to_float(hwc.permute(2, 0, 1), dtype)
    assert floats.stride() == (1, 21, 3)
    back = float_to_pixels(floats)
    assert back.stride() == (1, 21, 3) and torch.equal(back, hwc.permute(2, 0, 1))


def test_split_alpha_hands_back_an_rgb_image_without_copying_it() -> None:
    """stylize() reads the colour part only, so an RGB photo is not copied on the way in or
    out (about a millisecond each at 1080p); other modes are converted."""
    rgb = gradient((8, 6))
    assert split_alpha(rgb) == (rgb, None) and split_alpha(rgb)[0] is rgb
    assert merge_alpha(rgb, None) is rgb
    grey = rgb.convert("L")
    converted, alpha = split_alpha(grey)
    assert converted.mode == "RGB" and alpha is None and converted is not grey
