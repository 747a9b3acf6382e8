"""Comparing variants over seeds: the paired statistics, compare() (each variant once per seed,
paired by seed), the plot with seed bands, the ± table with its confidence intervals, and
compare-runs over existing run folders. Tiny trainings: 32 px, 2 steps, CPU, fp32."""
from __future__ import annotations

import csv
import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
from matplotlib.collections import PolyCollection
from PIL import Image

from fixtures_images import gradient
from styletransfer.apps.cli import main as cli_main
from styletransfer.evaluation.runs_table import comparison_rows, write_comparison_table
from styletransfer.models.transformer import TransformerNet, count_parameters
from styletransfer.evaluation.plots import comparison_figure
from styletransfer.training.curves import smooth, smoothing_window
from styletransfer.training.runfolder import read_csv
from styletransfer.evaluation.statistics import confidence_interval, mean, paired_differences, sample_std, t_quantile
from styletransfer.evaluation.variants import compare
from styletransfer.training import TrainingConfig, TrainingError

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# The statistics, on numbers worked out by hand
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("df, quantile", [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (5, 2.5706),
                                          (9, 2.2622), (10, 2.2281), (29, 2.0452), (100, 1.9840)])
def test_t_quantiles_match_the_printed_table(df, quantile):
    assert t_quantile(0.975, df) == pytest.approx(quantile, abs=1e-4)
    assert t_quantile(0.025, df) == pytest.approx(-quantile, abs=1e-4)


def test_t_quantile_approaches_the_normal_one_and_refuses_nonsense():
    assert t_quantile(0.95, 2) == pytest.approx(2.9200, abs=1e-4)
    assert t_quantile(0.975, 10_000) == pytest.approx(1.95996, abs=1e-3)
    with pytest.raises(ValueError, match="probability"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.975, 0)


def test_paired_confidence_interval_on_known_numbers():
    baseline = {0: 10.0, 1: 20.0, 2: 40.0}
    variant = {0: 9.0, 1: 21.0, 2: 36.0, 7: 1.0}  # seed 7 has no baseline run: not paired
    differences = paired_differences(baseline, variant)
    assert differences == pytest.approx([-10.0, 5.0, -10.0])  # percent of the baseline
    assert paired_differences(baseline, variant, relative=False) == pytest.approx([-1.0, 1.0, -4.0])
    interval = confidence_interval(differences)
    # mean −5, s = √75, half width t(0.975, 2)·s/√3 = 4.3027·8.6603/1.7321 = 21.514
    assert interval.n == 3 and interval.mean == pytest.approx(-5.0)
    assert interval.low == pytest.approx(-5.0 - 21.514, abs=1e-3)
    assert interval.high == pytest.approx(-5.0 + 21.514, abs=1e-3)
    assert sample_std([1.0, 2.0, 3.0]) == pytest.approx(1.0) and mean([1.0, 2.0, 3.0]) == 2.0
    one = confidence_interval([4.0])  # one seed: a mean, no interval
    assert one.mean == 4.0 and math.isnan(one.low) and math.isnan(one.high) and not one.defined
    assert math.isnan(sample_std([4.0]))


# ---------------------------------------------------------------------------------------------
# compare(): 2 variants × 2 seeds
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """8 generated photos, each different (color channels permuted, flipped, rotated)."""
    root = tmp_path_factory.mktemp("photos")
    base = gradient((56, 44))
    for index in range(8):
        bands = base.split()
        image = Image.merge("RGB", [bands[(index + k) % 3] for k in range(3)])
        if index % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.rotate(45 * index, expand=False).save(root / f"photo{index}.png")
    return root


@pytest.fixture(scope="module")
def style(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("style") / "painting.png"
    gradient((48, 40)).rotate(90, expand=True).save(path)
    return path


def tiny(style: Path, photos: Path, out: Path, **options) -> TrainingConfig:
    settings = dict(style=str(style), images=str(photos), out_dir=str(out), batch_size=2, image_size=32,
                    precision="fp32", device="cpu", workers=0, val_images=2, style_layers=["relu1_1", "relu2_1"],
                    steps=2, checkpoint_every=0, val_every=1, preview_every=0)
    settings.update(options)
    return TrainingConfig(**settings)


@pytest.fixture(scope="module")
def comparison(photos, style, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    result = compare(tiny(style, photos, out), ["bn", "bn+srm"], seeds=[0, 1])
    return out, result


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_compare_trains_each_variant_once_per_seed_on_paired_data(comparison):
    out, result = comparison
    assert result.completed
    assert result.run_dirs == {variant: {seed: out / variant / f"seed{seed}" for seed in (0, 1)}
                               for variant in ("bn", "bn+srm")}
    configs = {(variant, seed): json.loads((out / variant / f"seed{seed}" / "config.json").read_text())
               for variant in ("bn", "bn+srm") for seed in (0, 1)}
    for (variant, seed), config in configs.items():
        assert config["seed"] == seed and config["attention"] == ("srm" if variant == "bn+srm" else "none")
        assert config["name"] == f"cmp-{variant}-seed{seed}"
        # Paired: the variants of one seed differ in their network only.
        other = configs[("bn" if variant == "bn+srm" else "bn+srm", seed)]
        differing = {key for key in config if config[key] != other[key]}
        assert differing == {"attention", "out_dir", "name"}
    totals = {key: read_csv(out / key[0] / f"seed{key[1]}" / "metrics.csv")[0]["total"] for key in configs}
    assert totals[("bn", 0)] != totals[("bn", 1)]  # another seed, another draw
    assert {p.name for p in out.iterdir()} == {"bn", "bn+srm", "comparison.png", "comparison.md", "comparison.csv"}
    assert Image.open(out / "comparison.png").format == "PNG"


def test_the_table_gives_mean_and_std_over_seeds_and_the_paired_ci(comparison):
    out, _ = comparison
    table = read_table(out / "comparison.csv")
    assert [row["run"] for row in table] == ["bn", "bn+srm"]
    assert [row["seeds"] for row in table] == ["2", "2"]
    bn, srm = table
    assert int(srm["parameters"]) == count_parameters(TransformerNet("batch", "srm"))
    assert float(bn["cpu_ms_256px"]) > 0 and float(srm["cpu_ms_256px"]) > 0
    for row, variant in ((bn, "bn"), (srm, "bn+srm")):
        finals = [mean([r["total"] for r in read_csv(out / variant / f"seed{seed}" / "metrics.csv")])
                  for seed in (0, 1)]  # 2 steps: the final loss is the mean of both
        assert float(row["final_total_mean"]) == pytest.approx(mean(finals), rel=1e-3)
        assert float(row["final_total_std"]) == pytest.approx(sample_std(finals), rel=1e-2)
        vals = [read_csv(out / variant / f"seed{seed}" / "val.csv")[-1]["total"] for seed in (0, 1)]
        assert float(row["final_val_total_mean"]) == pytest.approx(mean(vals), rel=1e-3)
    assert bn["baseline"] == srm["baseline"] == "bn"
    assert bn["total_vs_baseline_pct"] == bn["total_vs_baseline_ci_low"] == ""  # the baseline itself
    low, centre, high = (float(srm[f"total_vs_baseline_{key}"]) for key in ("ci_low", "pct", "ci_high"))
    assert low < centre < high
    assert float(srm["val_total_vs_baseline_ci_low"]) < float(srm["val_total_vs_baseline_ci_high"])

    markdown = (out / "comparison.md").read_text().splitlines()
    assert len(markdown) == 4  # header, rule, two rows
    assert "seeds" in markdown[0] and "total vs bn, % (95 % CI)" in markdown[0]
    assert markdown[2].startswith("| bn | batch | none | 2 |") and "±" in markdown[2] and "baseline" in markdown[2]
    assert markdown[3].startswith("| bn+srm | batch | srm | 2 |")
    assert f"{centre:+.1f} [{low:+.1f}, {high:+.1f}]" in markdown[3]


def test_curves_are_a_trailing_mean_over_a_window_of_a_fiftieth_of_the_run_up_to_25_steps():
    assert smooth([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]  # the first point: what there is
    assert smooth([4.0, 4.0, 4.0], 10) == [4.0, 4.0, 4.0]
    assert [smoothing_window(steps) for steps in (10, 100, 1_000, 100_000)] == [1, 2, 20, 25]


def test_the_plot_draws_the_mean_over_seeds_with_a_min_max_band(comparison):
    out, _ = comparison
    dirs = [out / variant / f"seed{seed}" for variant in ("bn", "bn+srm") for seed in (0, 1)]
    figure = comparison_figure(dirs)  # labels default to the variants: two groups of two seeds
    total_axes = figure.axes[2]
    assert total_axes.get_title() == "total loss"
    lines = {line.get_label(): line for line in total_axes.get_lines()}
    assert set(lines) == {"bn train (2 seeds)", "bn validation (2 seeds)",
                          "bn+srm train (2 seeds)", "bn+srm validation (2 seeds)"}
    bands = [c for c in total_axes.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 4  # training and validation band per variant
    curves = []
    for seed in (0, 1):
        rows = read_csv(out / "bn" / f"seed{seed}" / "metrics.csv")
        curves.append(smooth([row["total"] for row in rows], smoothing_window(len(rows))))
    train_line = lines["bn train (2 seeds)"]
    assert list(train_line.get_ydata()) == pytest.approx([(a + b) / 2 for a, b in zip(*curves)])
    band = bands[0].get_paths()[0].vertices[:, 1]
    assert min(band) == pytest.approx(min(min(c) for c in curves))
    assert max(band) == pytest.approx(max(max(c) for c in curves))
    assert figure.get_suptitle() == "line: mean over seeds; shaded: min to max over seeds"

    single = comparison_figure(dirs[:1] + dirs[2:3])  # one seed each: lines, no bands
    assert not [c for c in single.axes[2].collections if isinstance(c, PolyCollection)]
    assert {line.get_label() for line in single.axes[2].get_lines()} == {
        "bn train", "bn validation", "bn+srm train", "bn+srm validation"}


def test_compare_continues_and_refuses_bad_seeds(comparison, photos, style):
    out, _ = comparison
    model = out / "bn" / "seed0" / "model.safetensors"
    before = model.stat().st_mtime_ns
    assert compare(tiny(style, photos, out), ["bn", "bn+srm"], seeds=[0, 1]).completed  # kept, not retrained
    assert model.stat().st_mtime_ns == before
    for seeds, message in (([], "seeds must be distinct"), ([1, 1], "seeds must be distinct"),
                           ([-1], "seeds must be distinct")):
        with pytest.raises(TrainingError, match=message):
            compare(tiny(style, photos, out), ["bn"], seeds=seeds)
    with pytest.raises(TrainingError, match="unknown variant"):
        compare(tiny(style, photos, out), ["bn", "bn+cbam"], seeds=[0])


def test_one_seed_still_works_with_the_interval_not_available(photos, style, tmp_path):
    out = tmp_path / "one"
    result = compare(tiny(style, photos, out, steps=1), ["bn", "bn+ge"], seeds=[3])
    assert result.completed and (out / "bn+ge" / "seed3" / "model.safetensors").is_file()
    ge = read_table(out / "comparison.csv")[1]
    assert ge["seeds"] == "1" and ge["final_total_std"] == "" and ge["total_vs_baseline_ci_low"] == ""
    assert ge["total_vs_baseline_pct"] != ""  # the one paired difference is still there
    assert "[n/a]" in (out / "comparison.md").read_text().splitlines()[3]


def test_train_transfer_compare_takes_variants_and_seeds(comparison, photos, style, tmp_path, capsys):
    out = tmp_path / "cmp"
    shutil.copytree(comparison[0], out)  # finished runs: the command only rebuilds the tables
    (out / "comparison.csv").unlink()
    spec = importlib.util.spec_from_file_location("train_transfer", REPO / "train_transfer.py")
    shell = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shell)
    options = ["--style", str(style), "--images", str(photos), "--out", str(out), "--steps", "2",
               "--batch-size", "2", "--image-size", "32", "--device", "cpu", "--precision", "fp32",
               "--workers", "0", "--val-images", "2", "--style-layers", "relu1_1,relu2_1"]
    assert shell.main(["compare", *options, "--variants", "bn,bn+srm", "--seeds", "0,1"]) == 0
    assert [row["seeds"] for row in read_table(out / "comparison.csv")] == ["2", "2"]
    assert "comparison.png" in capsys.readouterr().out
    assert shell.main(["compare", *options, "--seeds", "0,1", "--seed", "4"]) == 2  # a usage error
    assert "--seeds or --seed" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# compare-runs over existing run folders
# ---------------------------------------------------------------------------------------------

def write_run(run_dir: Path, attention: str, seed: int | None, total: float, steps: int = 4) -> Path:
    """A run folder whose losses are constant: its final training total is ``total``, its
    validation total 2·total."""
    run_dir.mkdir(parents=True)
    config = {"norm": "batch", "attention": attention, "batch_size": 4}
    if seed is not None:
        config["seed"] = seed
    (run_dir / "config.json").write_text(json.dumps(config))
    lines = ["step,epoch,content,style,tv,total,lr,images_per_s,wall_time"]
    lines += [f"{step},0,{total / 2},{total / 2},0.0,{total},0.001,8,{step * 0.5}" for step in range(1, steps + 1)]
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run_dir / "val.csv").write_text(f"step,epoch,content,style,tv,total\n{steps},0,1,1,0,{2 * total}\n")
    return run_dir


def test_compare_runs_pools_seeds_by_variant_and_pairs_them(tmp_path, capsys):
    runs = [write_run(tmp_path / "old" / f"bn_{s}", "none", s, total) for s, total in ((0, 10.0), (1, 20.0), (2, 40.0))]
    runs += [write_run(tmp_path / "new" / f"srm_{s}", "srm", s, total) for s, total in ((0, 9.0), (1, 21.0), (2, 36.0))]
    out = tmp_path / "report" / "comparison.png"
    assert cli_main(["compare-runs", *map(str, runs), "-o", str(out)]) == 0
    assert Image.open(out).format == "PNG"
    bn, srm = read_table(tmp_path / "report" / "comparison.csv")
    assert (bn["run"], bn["seeds"], srm["run"], srm["seeds"]) == ("bn", "3", "bn+srm", "3")
    assert float(bn["final_total_mean"]) == pytest.approx(70 / 3, rel=1e-5)  # 6 digits in the CSV
    assert float(bn["final_total_std"]) == pytest.approx(sample_std([10.0, 20.0, 40.0]), rel=1e-3)
    # Per seed −10 %, +5 %, −10 %: mean −5 %, 95 % CI −5 ± 21.51 (see the test above).
    assert float(srm["total_vs_baseline_pct"]) == pytest.approx(-5.0)
    assert float(srm["total_vs_baseline_ci_low"]) == pytest.approx(-26.51, abs=0.01)
    assert float(srm["total_vs_baseline_ci_high"]) == pytest.approx(16.51, abs=0.01)
    assert float(srm["val_total_vs_baseline_pct"]) == pytest.approx(-5.0)  # validation 2·total: the same ratios
    assert "| bn+srm | batch | srm | 3 |" in (tmp_path / "report" / "comparison.md").read_text()

    # Another baseline; explicit labels pool whatever they name.
    assert cli_main(["compare-runs", *map(str, runs), "-o", str(out), "--baseline", "bn+srm"]) == 0
    bn, srm = read_table(tmp_path / "report" / "comparison.csv")
    assert bn["baseline"] == "bn+srm"
    assert float(bn["total_vs_baseline_pct"]) == pytest.approx(100 * (10 / 9 - 1 + 20 / 21 - 1 + 40 / 36 - 1) / 3)
    assert cli_main(["compare-runs", *map(str, runs), "-o", str(out), "--baseline", "in"]) == 2
    assert "baseline 'in' is none of the runs' labels" in capsys.readouterr().err


def test_compare_runs_refuses_to_count_one_seed_twice(tmp_path, capsys):
    runs = [write_run(tmp_path / "a", "srm", 0, 5.0), write_run(tmp_path / "b", "srm", 0, 6.0)]
    out = tmp_path / "comparison.png"
    assert cli_main(["compare-runs", *map(str, runs), "-o", str(out)]) == 2
    assert "are both bn+srm with seed 0; give them different labels" in capsys.readouterr().err
    assert cli_main(["compare-runs", *map(str, runs), "-o", str(out), "--labels", "a", "b"]) == 0
    rows = comparison_rows(runs, ["a", "b"], measure_inference=False)
    assert [row["seeds"] for row in rows] == [1, 1]
    assert rows[1]["total_vs_baseline_pct"] == pytest.approx(20.0)  # seed 0 against seed 0
    assert math.isnan(rows[1]["total_vs_baseline_ci_low"])


def test_runs_without_a_seed_are_never_paired(tmp_path):
    runs = [write_run(tmp_path / "a", "none", None, 5.0), write_run(tmp_path / "b", "srm", None, 6.0)]
    table = write_comparison_table(runs, tmp_path / "t.md", tmp_path / "t.csv", measure_inference=False)
    assert math.isnan(table[1]["total_vs_baseline_pct"]) and table[1]["cpu_ms_256px"] != table[1]["cpu_ms_256px"]
    assert "| n/a |" in (tmp_path / "t.md").read_text()


def test_runs_stopped_at_different_steps_are_compared_at_the_last_step_all_reached(tmp_path):
    """A deadline stops a slow variant earlier: every run's losses are taken up to the common
    step (its training rows and its last validation at or before it), or up to --at-step."""
    def ramp(run_dir: Path, attention: str, steps: int) -> Path:
        """Training total = the step number; validation every 10 steps, total = 100·step."""
        write_run(run_dir, attention, 0, 0.0, steps=steps)
        lines = ["step,epoch,content,style,tv,total,lr,images_per_s,wall_time"]
        lines += [f"{step},0,{step / 2},{step / 2},0.0,{step},0.001,8,{step * 0.5}" for step in range(1, steps + 1)]
        (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
        vals = [f"{step},0,1,1,0,{100 * step}" for step in range(10, steps + 1, 10)] + [f"{steps},0,1,1,0,{100 * steps}"]
        (run_dir / "val.csv").write_text("step,epoch,content,style,tv,total\n" + "\n".join(vals) + "\n")
        return run_dir

    runs = [ramp(tmp_path / "bn", "none", 200), ramp(tmp_path / "srm", "srm", 125)]
    bn, srm = comparison_rows(runs, measure_inference=False)
    assert bn["steps"] == srm["steps"] == 125
    # Mean of steps 76..125 (the last FINAL_LOSS_STEPS = 50 up to 125) = 100.5 for both.
    assert bn["final_total_mean"] == pytest.approx(100.5) == srm["final_total_mean"]
    assert bn["final_val_total_mean"] == 12000 and srm["final_val_total_mean"] == 12500  # at 120 and at 125
    assert srm["total_vs_baseline_pct"] == pytest.approx(0.0)
    bn, srm = comparison_rows(runs, measure_inference=False, at_step=60)
    assert (bn["steps"], bn["final_total_mean"], srm["final_val_total_mean"]) == (60, pytest.approx(35.5), 6000)
    assert comparison_rows(runs, measure_inference=False, at_step=1000)[0]["steps"] == 125
