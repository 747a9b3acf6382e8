"""Every benchmark in one command, then the targets table of issue 7 and the machine.

    .venv/bin/python benchmarks/run_all.py [--quick] [--json all.json] [--threads-sweep 1,2,4]

Runs bench_inference.py, bench_memory.py and bench_training.py one after another (each in its
own process, their tables printed as they finish), then prints every target with its measured
value and whether it is met. ``--threads-sweep`` adds a table of stylize() at 512 px with
torch.set_num_threads set to each value (the reference keeps its default).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SCRIPTS = ("bench_inference.py", "bench_memory.py", "bench_training.py")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--only", help="comma list of scripts to run (inference,memory,training)")
    parser.add_argument("--no-compile", action="store_true", help="skip bench_inference's torch.compile table")
    parser.add_argument("--threads-sweep", type=lambda s: [int(v) for v in s.split(",")],
                        help="also time stylize() at 512 px (quick: 128) for each thread count")
    args = parser.parse_args(argv)
    passed = ["--reference", str(args.reference), "--device", args.device]
    passed += ["--quick"] if args.quick else []
    passed += ["--threads", str(args.threads)] if args.threads else []
    passed += ["--no-keep-freed-memory"] if args.no_keep_freed_memory else []
    only = args.only.split(",") if args.only else None
    outputs = {}
    with tempfile.TemporaryDirectory(prefix="bench_all_") as tmp:
        for script in SCRIPTS:
            name = script[len("bench_"):-len(".py")]
            if only and name not in only:
                continue
            print(f"\n## {script}\n", flush=True)
            extra = ["--no-compile"] if script == "bench_inference.py" and args.no_compile else []
            outputs[name] = common.run_script_json(script, passed + extra, Path(tmp) / f"{name}.json")
        sweep_rows = []
        for threads in args.threads_sweep or []:
            size = "128" if args.quick else "512"
            print(f"\n## threads {threads}\n", flush=True)
            data = common.run_script_json(
                "bench_inference.py",
                [*passed, "--sizes", size, "--threads", str(threads), "--tables", "speed", "--formats", "contiguous"],
                Path(tmp) / f"threads{threads}.json")
            for row in data["results"]["inference"]:
                sweep_rows.append((threads, row["precision"], row["seconds"], int(size) ** 2 / 1e6 / row["seconds"],
                                   row["speedup"]))
            outputs[f"threads{threads}"] = data
    print("\n## Summary")
    if sweep_rows:
        print(f"\n### stylize() at {size} px by thread count\n")
        print(common.markdown_table(["threads", "precision", "s", "MP/s", "speed-up vs reference"], sweep_rows))
    targets = [t for name, data in outputs.items() if not name.startswith("threads") for t in data["targets"]]
    print("\n### Targets\n")
    print(common.markdown_table(["target", "goal", "measured", "met"],
                                [(t["target"], t["goal"], t["measured"], t["met"]) for t in targets]))
    machine = common.machine_info(args.device)
    print(f"\nMachine: {common.describe_machine(machine)}")
    if args.quick:
        print("(--quick: tiny sizes and repeats; these numbers are not measurements)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "quick": args.quick, "targets": targets,
                                         "runs": outputs}, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
