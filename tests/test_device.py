import pytest
import torch

from styletransfer.core import device as device_module
from styletransfer.core.device import autocast, emulated_precision, pick_device, pick_precision


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device(None).type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"


def test_explicit_device_wins_and_unavailable_ones_are_clear_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        pick_device("tpu")


def test_precision_choice(monkeypatch):
    assert pick_precision(torch.device("cuda")) == torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert pick_precision(torch.device("cuda"), training=True) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert pick_precision(torch.device("cuda"), training=True) == torch.float16
    assert pick_precision(torch.device("cuda", 0), "fp32", training=True) == torch.float32
    assert pick_precision(torch.device("cpu"), "fp32") == torch.float32
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: True)
    assert pick_precision(torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: False)
    assert pick_precision(torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        pick_precision(torch.device("cpu"), "int4")


def test_autocast_runs_bf16_on_cpu():
    conv = torch.nn.Conv2d(3, 4, 3)
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert conv(torch.rand(1, 3, 8, 8)).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), torch.float32):
        assert conv(torch.rand(1, 3, 8, 8)).dtype == torch.float32



def test_keep_freed_memory_stops_page_faults_after_the_first_pass():
    """After keep_freed_memory() a network's typical pass after the first page-faults (almost)
    nothing: the freed activations stay in the process. (With the trim threshold truncated to
    0, as it was, every pass faulted ~18,000 pages at 384 px, more than glibc's defaults.) In
    a child process: the malloc settings are process-wide."""
    import subprocess
    import sys
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc settings")
    code = """
import resource, torch
from styletransfer.core.device import keep_freed_memory
assert keep_freed_memory()
from styletransfer.models.transformer import TransformerNet
net = TransformerNet(width=12, residual_blocks=3).eval()
x = torch.rand(1, 3, 384, 384)
faults = []
with torch.no_grad():
    for _ in range(7):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        net(x)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sorted(faults[1:])[3])  # the median pass after the first (the heap settles in 2 or 3)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) < 1000


def test_emulated_precision(monkeypatch):
    cpu = torch.device("cpu")
    assert not emulated_precision(cpu, torch.float32)
    assert not emulated_precision(torch.device("cuda"), torch.bfloat16)
    assert not emulated_precision(torch.device("mps"), torch.float16)
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: True)
    assert not emulated_precision(cpu, torch.bfloat16)
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: False)
    assert emulated_precision(cpu, torch.bfloat16)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(device_module, "_cpu_flags", lambda: "flags : fpu avx2 fma")
    assert emulated_precision(cpu, torch.float16)
    monkeypatch.setattr(device_module, "_cpu_flags", lambda: "flags : fpu avx2 avx512_fp16 fma")
    assert not emulated_precision(cpu, torch.float16)
    monkeypatch.setattr(device_module, "_cpu_flags", lambda: "flags : fpu avx2 fma")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AMX")
    assert not emulated_precision(cpu, torch.float16)
