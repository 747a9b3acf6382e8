import pytest
import torch

from styletransfer import PerceptualLoss, gram_matrix, total_variation
from styletransfer.models.vgg import VGGFeatures

LAYERS = ["relu1_1", "relu2_1", "relu2_2", "relu3_1", "relu4_1"]


@pytest.fixture(scope="module")
def vgg():
    return VGGFeatures(LAYERS)


def test_gram_matrix_is_normalized_by_c_h_w():
    f = torch.randn(2, 4, 3, 5)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / (4 * 3 * 5)
    torch.testing.assert_close(gram_matrix(f), expected)


def test_total_variation_is_zero_for_flat_images_only():
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)).item() == 0
    assert total_variation(torch.rand(1, 3, 8, 8)).item() > 0


def test_style_grams_are_computed_once_per_style_image(vgg, monkeypatch):
    calls = []
    original = VGGFeatures.forward
    monkeypatch.setattr(VGGFeatures, "forward", lambda self, x, layers=None: calls.append(x.shape[0]) or original(self, x, layers))
    loss = PerceptualLoss(torch.rand(1, 3, 64, 64), vgg=vgg)
    assert calls == [1]
    assert loss.style_gram("relu4_1").shape == (1, 512, 512)
    loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert calls == [1, 2, 2, 2, 2]  # per step: content targets + output, never the style again


def test_terms_and_weights(vgg):
    style, photo = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 48, 48)
    plain = PerceptualLoss(style, vgg=vgg)(photo, photo)
    assert plain.content.item() == 0  # output == content
    assert plain.style.item() > 0 and plain.tv.item() == 0  # tv weight defaults to 0
    weighted = PerceptualLoss(style, content_weight=3, style_weight=10, tv_weight=2, vgg=vgg)
    other = torch.rand(2, 3, 48, 48)
    base = PerceptualLoss(style, vgg=vgg)(other, photo)
    terms = weighted(other, photo)
    assert terms.content.item() == pytest.approx(3 * base.content.item(), rel=1e-5)
    assert terms.style.item() == pytest.approx(10 * base.style.item(), rel=1e-5)
    assert terms.tv.item() == pytest.approx(2 * total_variation(other).item(), rel=1e-5)
    assert terms.total.item() == pytest.approx(terms.content.item() + terms.style.item() + terms.tv.item())


def test_per_layer_style_weights(vgg):
    style, x = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 32, 32)
    only_first = PerceptualLoss(style, style_layer_weights={"relu1_1": 1, "relu2_1": 0, "relu3_1": 0, "relu4_1": 0}, vgg=vgg)
    single = PerceptualLoss(style, style_layers=["relu1_1"], vgg=vgg)
    assert only_first(x, x).style.item() == pytest.approx(single(x, x).style.item(), rel=1e-5)
    with pytest.raises(ValueError, match="2 style layer weights for 4 style layers"):
        PerceptualLoss(style, style_layer_weights=[1, 2], vgg=vgg)


def test_the_distillation_term_is_the_weighted_pixel_mse_to_the_teacher_output(vgg):
    style, photo, output, teacher = (torch.rand(1, 3, 64, 64), torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32),
                                     torch.rand(2, 3, 32, 32))
    loss = PerceptualLoss(style, distill_weight=5.0, vgg=vgg)
    assert loss(output, photo).distill.item() == 0  # no teacher output: no term
    terms = loss(output, photo, teacher)
    assert terms.distill.item() == pytest.approx(5.0 * torch.mean((output - teacher) ** 2).item(), rel=1e-5)
    assert terms.total.item() == pytest.approx(sum(terms.as_floats()[key] for key in
                                                   ("content", "style", "tv", "color", "distill")), rel=1e-6)
    assert loss(teacher, photo, teacher).distill.item() == 0
    student = output.clone().requires_grad_()
    target = teacher.clone().requires_grad_()
    loss(student, photo, target).total.backward()
    assert student.grad.abs().sum() > 0 and target.grad is None  # the teacher output is a fixed target


def test_the_distillation_feature_term_is_the_weighted_vgg_feature_mse_to_the_teacher_output(vgg):
    """distill_feature_weight × the MSE of the chosen VGG layers' features of the output and of
    the teacher's output, in the distill term: none without a teacher, 0 for the teacher's own
    picture, no gradient into the teacher, and the same value whether or not the content and
    style pass already ran the VGG."""
    style, photo, output, teacher = (torch.rand(1, 3, 64, 64), torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32),
                                     torch.rand(2, 3, 32, 32))
    layers = ["relu1_1", "relu2_2"]
    expected = sum(torch.mean((vgg(output, [name])[name] - vgg(teacher, [name])[name]) ** 2) for name in layers)
    only = PerceptualLoss(style, content_weight=0, style_weight=0, distill_feature_weight=3.0,
                          distill_feature_layers=layers, vgg=vgg)
    assert only(output, photo).distill.item() == 0
    assert only(output, photo, teacher).distill.item() == pytest.approx(3.0 * expected.item(), rel=1e-5)
    assert only(teacher, photo, teacher).distill.item() == 0
    full = PerceptualLoss(style, distill_weight=5.0, distill_feature_weight=3.0, distill_feature_layers=layers, vgg=vgg)
    pixel = PerceptualLoss(style, distill_weight=5.0, vgg=vgg)(output, photo, teacher).distill
    assert full(output, photo, teacher).distill.item() == pytest.approx(pixel.item() + 3.0 * expected.item(), rel=1e-5)
    student, target = output.clone().requires_grad_(), teacher.clone().requires_grad_()
    only(student, photo, target).total.backward()
    assert student.grad.abs().sum() > 0 and target.grad is None


def test_the_feature_term_builds_its_layers_into_the_loss_network():
    """Without a given VGG, the loss network covers the feature layers too; weight 0 adds none."""
    style = torch.rand(1, 3, 32, 32)
    loss = PerceptualLoss(style, content_layers=["relu1_2"], style_layers=["relu1_1"],
                          distill_feature_weight=1.0, distill_feature_layers=["relu3_1"])
    assert set(loss.vgg.layer_index) == {"relu1_1", "relu1_2", "relu3_1"}
    off = PerceptualLoss(style, content_layers=["relu1_2"], style_layers=["relu1_1"],
                         distill_feature_layers=["relu3_1"])
    assert set(off.vgg.layer_index) == {"relu1_1", "relu1_2"}
