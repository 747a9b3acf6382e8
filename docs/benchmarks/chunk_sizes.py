"""float_to_pixels on a 1080p network output at several chunk sizes, alternating: each round
times every size once (in a rotated order), so drift on a shared machine hits all sizes alike.
Run from the repository root: .venv/bin/python docs/benchmarks/chunk_sizes.py [fp32|bf16] [ROUNDS]"""
import statistics, sys, time
import torch
from styletransfer.core.device import keep_freed_memory
keep_freed_memory()
import styletransfer.core.images as images

dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[sys.argv[1] if len(sys.argv) > 1 else "fp32"]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
sizes_mib = [1, 2, 3, 4, 6, 8, 12, 16, 1000]  # 1000: one piece
output = torch.sigmoid(torch.randn(1, 3, 1080, 1920)).to(dtype).contiguous(memory_format=torch.channels_last)[0]
times = {size: [] for size in sizes_mib}
for round_index in range(rounds):
    order = sizes_mib[round_index % len(sizes_mib):] + sizes_mib[: round_index % len(sizes_mib)]
    for size in order:
        images._CHUNK_BYTES = size << 20
        images.float_to_pixels(output, nan_error="x")  # warm
        start = time.perf_counter()
        for _ in range(5):
            images.float_to_pixels(output, nan_error="x")
        times[size].append((time.perf_counter() - start) / 5 * 1000)
print(f"| chunk | ms (median of {rounds} rounds of 5 calls) | min |\n|---|---:|---:|")
for size in sizes_mib:
    label = "one piece" if size == 1000 else f"{size} MiB"
    print(f"| {label} | {statistics.median(times[size]):.2f} | {min(times[size]):.2f} |")
print(f"\ntorch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} threads, {dtype}")
