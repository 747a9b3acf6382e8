import json
import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from styletransfer import ModelFileError, TransformerNet, load_model, save_model
from styletransfer.modelfiles import catalogue, int8
from styletransfer.core import files
from styletransfer.modelfiles import format as modelfile


def _trained(norm="batch", attention="srm"):
    torch.manual_seed(1)
    net = TransformerNet(norm=norm, attention=attention)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    net.train()
    net(torch.rand(2, 3, 16, 16))  # move BN statistics
    return net.eval()


@pytest.mark.parametrize("norm,attention", [("batch", "srm"), ("batch", "se"), ("instance", "none")])
def test_round_trip_rebuilds_the_exact_network(tmp_path, norm, attention):
    net = _trained(norm, attention)
    path = save_model(net, tmp_path / "m.safetensors", style="Great Wave", content_weight=1.5, steps=10)
    loaded = load_model(path)
    assert loaded.config == net.config and not loaded.training
    assert loaded.metadata["style"] == "Great Wave" and loaded.metadata["steps"] == 10
    assert loaded.metadata["library_version"] and loaded.metadata["date"]
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_fp16_file_is_half_the_size_and_loads_as_fp32(tmp_path):
    net = _trained()
    full = save_model(net, tmp_path / "a.safetensors")
    half = save_model(net, tmp_path / "b.safetensors", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(half)
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (loaded(x) - net(x)).abs().max() < 2e-3


def test_int8_file_is_a_quarter_of_the_size_and_stays_close(tmp_path):
    net = _trained()
    full = save_model(net, tmp_path / "a.safetensors")
    quarter = save_model(net, tmp_path / "q.safetensors", dtype=torch.int8, steps=7)
    assert quarter.stat().st_size < 0.3 * full.stat().st_size
    _, metadata = modelfile.read_header(quarter)
    assert metadata["steps"] == 7
    loaded = load_model(quarter)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        reference, quantized = net(x), loaded(x)
    # Per-channel int8 kernels: within a couple of levels of 255, and not a copy of the float net.
    assert 0 < (quantized - reference).abs().max() < 2.5 / 255


def test_int8_quantization_keeps_each_output_channel_within_half_a_step():
    weight = torch.randn(8, 4, 3, 3) * torch.logspace(-3, 1, 8)[:, None, None, None]
    quantized, scale = int8.quantize_int8(weight)
    assert quantized.dtype == torch.int8 and scale.shape == (8,)
    error = (int8.dequantize_int8(quantized, scale) - weight).abs().amax(dim=(1, 2, 3))
    assert torch.all(error <= scale / 2 + 1e-9)


def test_int8_weight_without_its_scales_is_refused_naming_the_file_and_weight(tmp_path):
    path = save_model(_trained(), tmp_path / "q.safetensors", dtype=torch.int8)
    from safetensors.torch import load_file
    tensors = load_file(str(path))
    config = modelfile.read_header(path)[0].as_dict()
    del tensors[next(key for key in tensors if key.endswith(int8.SCALE_SUFFIX))]
    save_file(tensors, tmp_path / "broken.safetensors",
              metadata={"format": "styletransfer-model", "format_version": "2", "config": json.dumps(config)})
    with pytest.raises(ModelFileError, match=r"broken.safetensors: weight .* is stored as int8 without"):
        load_model(tmp_path / "broken.safetensors")


def test_load_by_name_from_the_style_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "SHIPPED_STYLES_DIR", tmp_path / "styles")
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    save_model(_trained(), tmp_path / "styles" / "wave.safetensors", title="The Great Wave")
    save_model(_trained("instance", "none"), catalogue.user_models_dir() / "mine.safetensors")
    assert load_model("wave").metadata["title"] == "The Great Wave"
    assert load_model("mine").config.norm == "instance"
    assert catalogue.list_models() == ["wave", "mine"]
    with pytest.raises(ModelFileError, match="no such model file or style name .*known styles: mine, wave"):
        load_model("nope")



def test_bad_files_give_one_clear_line_naming_the_file(tmp_path):
    net = _trained()
    good = save_model(net, tmp_path / "good.safetensors")
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    config = json.dumps(net.config.as_dict())
    cases = {
        "text.safetensors": (None, "not a model file"),
        "plain.safetensors": ({"x": torch.zeros(2)}, "not a styletransfer model file"),
        "future.safetensors": ({"format": "styletransfer-model", "format_version": "99", "config": config}, "unknown format version '99'"),
        "noconfig.safetensors": ({"format": "styletransfer-model", "format_version": "1"}, "no network 'config'"),
        "badconfig.safetensors": ({"format": "styletransfer-model", "format_version": "1", "config": '{"norm": "layer"}'}, "unknown norm"),
    }
    (tmp_path / "text.safetensors").write_text("hello, I am not a model")
    save_file({"x": torch.zeros(2)}, tmp_path / "plain.safetensors")
    for name, (header, _) in cases.items():
        if header is not None and "format" in header:
            save_file(tensors, tmp_path / name, metadata=header)
    missing = dict(tensors)
    missing.pop("head.1.weight")
    save_file(missing, tmp_path / "missing.safetensors", metadata={"format": "styletransfer-model", "format_version": "1", "config": config})
    cases["missing.safetensors"] = (None, "missing 1 weight\\(s\\) \\(head.1.weight\\)")
    wrong = dict(tensors)
    wrong["head.1.bias"] = torch.zeros(4)
    save_file(wrong, tmp_path / "shape.safetensors", metadata={"format": "styletransfer-model", "format_version": "1", "config": config})
    cases["shape.safetensors"] = (None, "weight head.1.bias has shape \\(4,\\), expected \\(3,\\)")
    for name, (_, problem) in cases.items():
        with pytest.raises(ModelFileError, match=problem) as error:
            load_model(tmp_path / name)
        message = str(error.value)
        assert message.startswith(str(tmp_path / name)) and "\n" not in message
    loaded = load_model(good).state_dict()
    assert loaded.keys() == net.state_dict().keys()
    assert all(torch.equal(loaded[key], value) for key, value in net.state_dict().items())


def test_save_is_atomic(tmp_path, monkeypatch):
    net = _trained()
    path = save_model(net, tmp_path / "m.safetensors", steps=1)
    before = path.read_bytes()

    def crash(*args, **kwargs):  # the new file is written, but cannot be flushed to disk
        raise OSError("disk full")
    monkeypatch.setattr(files, "_sync", crash)
    with pytest.raises(OSError):
        save_model(net, path, steps=2)
    with pytest.raises(OSError):
        modelfile.update_metadata(path, steps=3)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_model_files_are_readable_as_the_umask_allows(tmp_path):
    """A model file gets the permissions of any new file (0644 under the usual umask 022), not
    owner-only: a styles folder shared between users, or served, must be readable (safetensors'
    save_file writes 0600)."""
    old = os.umask(0o022)
    try:
        path = save_model(_trained(), tmp_path / "m.safetensors", steps=1)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        modelfile.update_metadata(path, steps=2)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = save_model(_trained(), tmp_path / "private.safetensors", dtype=torch.int8, steps=1)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
