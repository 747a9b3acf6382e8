"""The warping error (styletransfer.inference.video.warping) on synthetic frames: a smooth
pattern translated by a known shift; a perfect output, a flickering one, the occlusion mask at
the border where new content enters, subsampled pairs, and OpenCV missing."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from styletransfer.errors import MissingDependencyError
from styletransfer.inference.video.warping import (FlowMeasure, WarpingError, WarpingMeter, import_cv2,
                                                   measure_warping_error)

SIDE, SHIFT, FRAMES = 96, 3, 8
MISSING = "the warping error needs the optional package cv2: pip install opencv-python-headless"


def canvas(seed: int, width: int = SIDE + SHIFT * FRAMES) -> np.ndarray:
    """A smooth random RGB texture (random 8-pixel cells, bicubically enlarged), SIDE high."""
    cells = np.random.default_rng(seed).integers(0, 256, (SIDE // 8, width // 8 + 1, 3), dtype=np.uint8)
    big = Image.fromarray(cells).resize((cells.shape[1] * 8, SIDE), Image.Resampling.BICUBIC)
    return np.asarray(big)[:, :width]


def panned(picture: np.ndarray, frames: int = FRAMES) -> list[np.ndarray]:
    """A window over ``picture`` moving left by SHIFT pixels a frame: the content moves right and
    new content enters at the left edge."""
    start = SHIFT * frames
    return [np.ascontiguousarray(picture[:, start - SHIFT * t: start - SHIFT * t + SIDE]) for t in range(frames)]


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(input frames, a perfect output: another texture under exactly the same motion)."""
    pytest.importorskip("cv2")
    return panned(canvas(1)), panned(canvas(2))


def test_a_perfect_output_has_no_warping_error_and_a_flickering_one_has(clip):
    inputs, perfect = clip
    steady = measure_warping_error(inputs, perfect)
    assert isinstance(steady, WarpingError) and steady.pairs == FRAMES - 1
    assert steady.output < 5e-5 and steady.input < 5e-5  # interpolation and flow errors only
    assert 0.9 < steady.visible < 1.0  # the entering strip is masked
    gains = np.random.default_rng(0).uniform(0.8, 1.2, FRAMES)
    flickering = [(frame * gain).clip(0, 255).astype(np.uint8) for frame, gain in zip(perfect, gains)]
    flickers = measure_warping_error(inputs, flickering)
    assert flickers.input == pytest.approx(steady.input)  # the same flow and mask
    assert flickers.output > 1e-3 and flickers.output > 20 * steady.output
    assert flickers.ratio == pytest.approx(flickers.output / flickers.input)
    assert set(flickers.as_dict()) == {"output", "input", "ratio", "pairs", "visible", "seconds"}
    assert str(flickers).startswith("warping error ")


def test_the_occlusion_mask_masks_the_content_that_entered(clip):
    inputs, _ = clip
    measure = FlowMeasure()
    previous, current = (measure.gray(frame, (SIDE, SIDE)) for frame in inputs[:2])
    back, forward = measure.flow(current, previous), measure.flow(previous, current)
    assert back[SIDE // 4: -SIDE // 4, SIDE // 4: -SIDE // 4].mean(axis=(0, 1)) == pytest.approx([-SHIFT, 0], abs=0.1)
    visible = measure.visible(back, forward)
    assert not visible[:, :SHIFT].any()  # new at the left edge: nothing in frame t−1 to compare with
    assert visible[:, SHIFT + 2:].mean() > 0.97
    # Flows that disagree (a pixel maps there but not back) are occluded too.
    wrong = forward.copy()
    wrong[:, SIDE // 2:] *= -1
    assert measure.visible(back, wrong)[:, SIDE // 2 + SHIFT:].mean() < 0.05


def test_every_measures_a_regular_sample_of_the_pairs(clip):
    inputs, perfect = clip
    assert measure_warping_error(inputs, perfect, every=3).pairs == 2  # (2, 3) and (5, 6)
    assert measure_warping_error(inputs, perfect, every=7).pairs == 1
    meter = WarpingMeter(every=8)
    for frame, output in zip(inputs, perfect):
        meter.add(frame, output)
    assert meter.result() is None  # no pair measured
    smaller = [np.asarray(Image.fromarray(frame).resize((SIDE // 2, SIDE // 2))) for frame in perfect]
    assert measure_warping_error(inputs, smaller).pairs == FRAMES - 1  # the inputs are brought to the outputs' size
    with pytest.raises(ValueError, match="at least two frames"):
        measure_warping_error(inputs[:1], perfect[:1])
    with pytest.raises(ValueError, match="8 input frames but 7 output frames"):
        measure_warping_error(inputs, perfect[1:])
    with pytest.raises(ValueError, match="at least 1"):
        WarpingMeter(every=0)


def test_missing_opencv_is_one_line_with_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(MissingDependencyError) as caught:
        import_cv2()
    assert str(caught.value) == MISSING and "\n" not in MISSING
    with pytest.raises(MissingDependencyError, match="pip install opencv-python-headless"):
        measure_warping_error([np.zeros((8, 8, 3), np.uint8)] * 2, [np.zeros((8, 8, 3), np.uint8)] * 2)
