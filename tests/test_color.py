"""The color-statistics term (styletransfer.losses.color) and its place in the perceptual loss."""
import pytest
import torch

from styletransfer.losses.color import ColorDistributionLoss, color_directions, paired_color_distance, quantiles
from styletransfer.losses.perceptual import PerceptualLoss
from styletransfer.models.vgg import VGGFeatures


def _painting(seed=0, size=32):
    """Two color clusters, 3:1, like a blue painting with yellow strokes."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.empty(1, 3, size, size)
    image[:, :, :, : size * 3 // 4] = torch.tensor([0.1, 0.2, 0.7])[None, :, None, None]
    image[:, :, :, size * 3 // 4:] = torch.tensor([0.9, 0.8, 0.1])[None, :, None, None]
    return (image + 0.02 * torch.randn(image.shape, generator=generator)).clamp(0, 1)


def test_directions_are_fixed_unit_vectors():
    directions = color_directions(16)
    assert directions.shape == (3, 16)
    torch.testing.assert_close(directions.norm(dim=0), torch.ones(16))
    torch.testing.assert_close(directions, color_directions(16))


def test_quantiles_of_sorted_values_interpolate_between_ranks():
    ordered = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    torch.testing.assert_close(quantiles(ordered, 4), ordered)
    torch.testing.assert_close(quantiles(ordered, 2), torch.tensor([[0.5], [2.5]]))
    torch.testing.assert_close(quantiles(ordered, 1), torch.tensor([[1.5]]))
    torch.testing.assert_close(quantiles(ordered, 8)[[0, -1]], torch.tensor([[0.0], [3.0]]))


def test_zero_for_the_paintings_own_colors_in_any_arrangement():
    painting = _painting()
    loss = ColorDistributionLoss(painting)
    shuffled = painting.reshape(3, -1)[:, torch.randperm(32 * 32)].reshape(1, 3, 32, 32)
    assert loss(painting).item() < 1e-10
    assert loss(shuffled).item() < 1e-10


def test_missing_the_minor_color_costs_more_than_matching_it():
    painting = _painting()
    loss = ColorDistributionLoss(painting)
    all_blue = torch.tensor([0.1, 0.2, 0.7])[None, :, None, None].expand(1, 3, 32, 32)
    with_yellow = _painting(seed=1)
    assert loss(all_blue).item() > 20 * loss(with_yellow).item()


def test_gradient_pulls_colors_towards_the_painting():
    painting = _painting()
    loss = ColorDistributionLoss(painting)
    image = torch.full((2, 3, 32, 32), 0.5, requires_grad=True)
    before = loss(image)
    before.backward()
    with torch.no_grad():
        stepped = image - 5.0 * image.grad
    assert loss(stepped).item() < before.item()


def test_float32_under_bf16_autocast_and_any_image_size():
    loss = ColorDistributionLoss(_painting(size=48))
    image = torch.rand(2, 3, 20, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(image.bfloat16())
    assert value.dtype == torch.float32 and value.item() > 0


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return VGGFeatures(["relu1_1", "relu2_1", "relu2_2"])


def test_perceptual_loss_adds_the_weighted_color_term_only_when_asked(vgg):
    painting, photo, output = _painting(), torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    common = dict(content_layers=["relu2_2"], style_layers=["relu1_1", "relu2_1"], vgg=vgg, tv_weight=1.0)
    without = PerceptualLoss(painting, **common)(output, photo)
    weighted = PerceptualLoss(painting, color_weight=1000.0, **common)(output, photo)
    assert without.color.item() == 0 and without.as_floats()["color"] == 0
    expected = 1000.0 * ColorDistributionLoss(painting)(output).item()
    assert weighted.color.item() == pytest.approx(expected, rel=1e-5)
    assert weighted.total.item() == pytest.approx(without.total.item() + expected, rel=1e-5)


def test_paired_distance_compares_each_image_with_its_own_target_whatever_the_arrangement():
    painting, other = _painting(), _painting(seed=1)
    shuffled = painting.reshape(3, -1)[:, torch.randperm(32 * 32)].reshape(1, 3, 32, 32)
    assert paired_color_distance(shuffled, painting).item() < 1e-10
    all_blue = torch.tensor([0.1, 0.2, 0.7])[None, :, None, None].expand(1, 3, 32, 32)
    assert paired_color_distance(all_blue, painting).item() > 20 * paired_color_distance(other, painting).item()
    pair = paired_color_distance(torch.cat([shuffled, all_blue]), torch.cat([painting, painting]))
    assert pair.item() == pytest.approx(paired_color_distance(all_blue, painting).item() / 2, rel=1e-5)
    with pytest.raises(ValueError, match="differ in shape"):
        paired_color_distance(painting, torch.rand(1, 3, 16, 16))


def test_paired_distance_of_large_images_uses_a_sample_of_pixels_and_pulls_only_the_image():
    torch.manual_seed(0)
    image, target = torch.rand(2, 3, 128, 128, requires_grad=True), torch.rand(2, 3, 128, 128) ** 2
    target.requires_grad_()
    exact = paired_color_distance(image, target, pixels=128 * 128)
    sampled = paired_color_distance(image, target)  # 4,096 of 16,384 pixels
    assert sampled.item() == pytest.approx(exact.item(), rel=0.15)
    sampled.backward()
    assert image.grad.abs().sum() > 0 and target.grad is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert paired_color_distance(image.bfloat16(), target).dtype == torch.float32


def test_distillation_adds_the_weighted_palette_distance_to_the_teacher_output(vgg):
    painting, photo, output, teacher = _painting(), torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), \
        torch.rand(2, 3, 32, 32) ** 3
    common = dict(content_layers=["relu2_2"], style_layers=["relu1_1", "relu2_1"], vgg=vgg, distill_weight=2.0)
    pixels_only = PerceptualLoss(painting, **common)(output, photo, teacher)
    with_palette = PerceptualLoss(painting, distill_palette_weight=50.0, **common)(output, photo, teacher)
    expected = 50.0 * paired_color_distance(output, teacher).item()  # 32×32: every pixel, no sampling
    assert expected > 0
    assert with_palette.distill.item() == pytest.approx(pixels_only.distill.item() + expected, rel=1e-5)
    assert PerceptualLoss(painting, distill_palette_weight=50.0, **common)(output, photo).distill.item() == 0


def test_the_vgg_is_not_run_when_content_and_style_weigh_nothing(vgg, monkeypatch):
    """A distillation fine-tune from the teacher alone (content and style weight 0) skips the
    loss network, the expensive half of a CPU step."""
    loss = PerceptualLoss(_painting(), content_layers=["relu2_2"], style_layers=["relu1_1"], vgg=vgg,
                          content_weight=0, style_weight=0, distill_weight=1.0, tv_weight=1.0)
    monkeypatch.setattr(VGGFeatures, "forward", lambda *args, **kwargs: pytest.fail("the VGG ran"))
    output = torch.rand(2, 3, 32, 32, requires_grad=True)
    terms = loss(output, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert terms.content.item() == 0 and terms.style.item() == 0 and terms.distill.item() > 0
    terms.total.backward()
    assert output.grad.abs().sum() > 0
