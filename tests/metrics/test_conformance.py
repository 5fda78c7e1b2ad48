"""Every registered metric honours the MetricSpec contract, enrolled automatically as generators are: its value on
its known input, an interval around its value, its floor, its direction, a consistent spec. A metric registered
from this module runs through `score`, `table` and the regression report like FVD and IS."""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vidrd_bench.cli import main
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.io import sha256_file
from vidrd_bench.datasets import manifest
from vidrd_bench.datasets.video import read_clip, write_video
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ExtractionOptions
from vidrd_bench.metrics.fvd import bootstrap_interval
from vidrd_bench.metrics.registry import METRICS, metric_specs
from vidrd_bench.metrics.spec import NEEDS, MetricExample, MetricInputs, MetricSpec, MetricValue
from vidrd_bench.protocols import PROTOCOLS, SMOKE_FVD, FVDProtocol
from vidrd_bench.report.plots import scores_chart
from vidrd_bench.report.published import load_published
from vidrd_bench.report.regression import Tolerance, compare, parse_tolerance, render_markdown
from vidrd_bench.report.tables import build_table, render_table
from vidrd_bench.results import load_results
from vidrd_bench.runners.score import ScoreOptions, score_metric

TOLERANCE = 1e-9  # float rounding around exact values (an FVD of 0 may come out as -1e-15)
README = Path(__file__).parents[2] / "README.md"


def check_contract(spec: MetricSpec) -> None:
    """The MetricSpec contract, on the spec's own known case."""
    assert METRICS.get(spec.name) is spec and spec.title and spec.needs in NEEDS
    names = [p.name for p in spec.protocols()]
    assert spec.default_protocol in names and (spec.paper_protocol is None or spec.paper_protocol in names)
    example = spec.example()
    assert isinstance(example, MetricExample) and isinstance(example.protocol, spec.protocol_type)
    known = spec.compute(example.inputs, example.protocol, 0, 0, False)
    assert isinstance(known, MetricValue) and known.interval is None and known.resamples == 0
    assert known.value == pytest.approx(example.value, abs=1e-6)
    for inputs in (example.inputs, example.worse):  # an interval around the value, nothing below the floor
        result = spec.compute(inputs, example.protocol, 20, 3, False)
        low, high = spec.floored(result)
        assert result.resamples == 20 and result.value >= spec.floor - TOLERANCE
        assert spec.floor <= low <= result.value + TOLERANCE and result.value <= high + TOLERANCE
        assert result == spec.compute(inputs, example.protocol, 20, 3, False)  # seeded
    worse = spec.compute(example.worse, example.protocol, 0, 0, False).value
    assert worse < known.value if spec.higher_is_better else worse > known.value  # the direction the spec says


@pytest.mark.parametrize("name", [spec.name for spec in metric_specs()])
def test_every_registered_metric_honours_the_contract(name):
    check_contract(METRICS.get(name))


def test_the_known_values_of_fvd_and_is():
    """FVD of a feature set against its own statistics is 0; IS of one-hot predictions cycling through k classes
    is k; the tables' columns and the directions are the published ones."""
    fvd, is_ = METRICS.get("fvd"), METRICS.get("is")
    assert [spec.name for spec in metric_specs()] == ["fvd", "is", "fid", "jedi", "clipsim"]
    assert (fvd.example().value, is_.example().value, fvd.floor, is_.floor) == (0.0, 5.0, 0.0, 1.0)
    assert not fvd.higher_is_better and is_.higher_is_better and is_.column < fvd.column
    for k in (2, 7):
        one_hot = MetricInputs(np.eye(k)[np.arange(10 * k) % k])
        assert is_.compute(one_hot, PROTOCOLS.get("is-smoke-tiny"), 0, 0, False).value == pytest.approx(k)


def test_the_readme_example_metric_honours_the_contract():
    """The README's 'Adding a metric' file, run as written, registers and passes the conformance checks."""
    text = README.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text[text.index("### Adding a metric"):], re.S).group(1)
    module = types.ModuleType("mmd")
    exec(compile(code, "README.md", "exec"), module.__dict__)
    with METRICS.registered(module.SPEC.name, module.SPEC):
        check_contract(module.SPEC)
        assert "mmd (MMD): Kernel distance" in CliRunner().invoke(main, ["metrics"]).output


def test_the_metrics_command_lists_each_metric():
    out = CliRunner().invoke(main, ["metrics"]).output
    assert "fvd (FVD):" in out and "is (IS):" in out
    assert "lower is better; floor 0" in out and "higher is better; floor 1" in out
    assert "protocol type: FVDProtocol; default fvd-ucf101-10k; published rows: fvd-ucf101-10k" in out
    assert "--protocol: is-c3d-styleganv-10k, is-c3d-styleganv-2048, is-c3d-tganv2, is-c3d-tgan, is-smoke-tiny" in out


def test_temporary_registration_leaves_the_registry_as_it_was():
    before = METRICS.items()
    with pytest.raises(RuntimeError):
        with METRICS.registered(NORM.name, NORM):
            assert metric_specs()[-1] is NORM
            raise RuntimeError("the block failed")
    assert METRICS.items() == before and NORM.name not in METRICS
    with pytest.raises(ValueError, match="already registered"):
        with METRICS.registered("fvd", NORM):
            pass
    assert METRICS.items() == before  # a refused registration removes nothing
    with pytest.raises(VidrdBenchError, match="METRIC one of " + ", ".join(spec.name for spec in metric_specs())):
        parse_tolerance("featnorm=5")


def mean_of(values: np.ndarray, bootstrap: int, seed: int) -> MetricValue:
    """The mean of per-video values, with a normal bootstrap interval of `bootstrap` resamples."""
    value = float(np.mean(values))
    if not bootstrap:
        return MetricValue(value)
    rng = np.random.default_rng(seed)
    samples = np.array([values[rng.integers(0, len(values), len(values))].mean() for _ in range(bootstrap)])
    return MetricValue(value, bootstrap_interval(value, samples, 0.95), bootstrap)


def mean_norm(inputs: MetricInputs, proto, bootstrap: int, seed: int, progress: bool = False) -> MetricValue:
    """Mean L2 norm of the feature vectors."""
    return mean_of(np.linalg.norm(inputs.features.astype(np.float64), axis=1), bootstrap, seed)


def norm_example() -> MetricExample:
    """Rows (3, 4) have norm 5; halved, they are worse."""
    features = np.tile([3.0, 4.0], (10, 1)) * np.linspace(0.9, 1.1, 10)[:, None]
    return MetricExample(SMOKE_FVD, MetricInputs(features), 5.0, MetricInputs(features / 2))


NORM = MetricSpec(name="featnorm", title="NORM", summary="Mean I3D feature norm (a test metric).", needs="nothing",
                  higher_is_better=True, floor=0.0, protocol_type=FVDProtocol, default_protocol=SMOKE_FVD.name,
                  compute=mean_norm, example=norm_example)


def prompt_words(inputs: MetricInputs, proto, bootstrap: int, seed: int, progress: bool = False) -> MetricValue:
    """Mean number of words of the videos' prompts."""
    return mean_of(np.array([len(p.split()) for p in inputs.prompts], np.float64), bootstrap, seed)


def words_example() -> MetricExample:
    """Prompts of 2 to 5 words average 3.5; one word shorter each, they are worse."""
    prompts = tuple("a diver " + "jumps " * i for i in range(4))
    shorter = tuple(p.split(" ", 1)[1] for p in prompts)
    features = np.zeros((4, 1))
    return MetricExample(SMOKE_FVD, MetricInputs(features, prompts=prompts), 3.5,
                         MetricInputs(features, prompts=shorter))


WORDS = MetricSpec(name="words", title="WORDS", summary="Words per prompt (a test metric).", needs="prompts",
                   higher_is_better=True, floor=0.0, protocol_type=FVDProtocol, default_protocol=SMOKE_FVD.name,
                   compute=prompt_words, example=words_example)


@pytest.fixture
def norm():
    """The toy metric, registered for one test."""
    with METRICS.registered(NORM.name, NORM) as spec:
        yield spec


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two folders of 4 tiny videos (the second brighter), and a generate-style run of 4 videos with prompts."""
    root = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(5)
    for name, shift in (("base", 0), ("current", 80)):
        for i in range(4):
            write_video(root / name / f"{i:02d}.mp4", rng.integers(0, 170, (16, 16, 16, 3), np.uint8) + shift, 8)
    rows = [manifest.ManifestRow(i, "Diving", "a diver " + "jumps " * i, i, f"videos/{i:05d}.mp4", "tiny-smoke",
                                 status="done") for i in range(4)]
    for row in rows:
        write_video(root / "run" / row.path, rng.integers(0, 256, (16, 16, 16, 3), np.uint8), 8)
        row.sha256 = sha256_file(root / "run" / row.path)
    manifest.write_rows(root / "run" / manifest.MANIFEST_FILE, rows)
    return root


def expected_norm(folder) -> float:
    """The toy metric computed by hand: the tiny I3D's features of each video's first 16 frames, their mean norm."""
    clips = np.stack([read_clip(p, 16) for p in sorted(folder.glob("*.mp4"))])
    detector = load_detector("i3d-tiny-random", resolution=SMOKE_FVD.resolution)
    features = detector(torch.from_numpy(clips).permute(0, 4, 1, 2, 3)).double().numpy()
    return float(np.linalg.norm(features, axis=1).mean())


def test_a_metric_registered_from_a_test_module_runs_through_score_table_and_report(norm, videos, tmp_path):
    check_contract(norm)
    assert "featnorm (NORM): Mean I3D feature norm" in CliRunner().invoke(main, ["metrics"]).output
    out = CliRunner().invoke(main, ["score", "featnorm", "--fake", str(videos / "base"), "--device", "cpu",
                                    "--num-workers", "0", "--no-progress", "--bootstrap", "10", "--name", "toy",
                                    "--out", str(tmp_path / "base.json")])
    assert out.exit_code == 0, out.output
    base = load_results(tmp_path / "base.json")[0]
    assert base.metric == "featnorm" and base.higher_is_better and base.n == 4 and base.smoke
    assert base.value == pytest.approx(expected_norm(videos / "base"), rel=1e-5)
    assert base.ci_low <= base.value <= base.ci_high and base.seeds["num_resamples"] == 10
    assert base.protocol == SMOKE_FVD.to_dict() and f"NORM = {base.value:.2f}" in out.output
    current = score_metric("featnorm", videos / "current", None, ExtractionOptions(device="cpu", num_workers=0,
                                                                                    progress=False),
                           ScoreOptions(bootstrap=10, name="toy", out_path=tmp_path / "current.json"))
    assert current.value == pytest.approx(expected_norm(videos / "current"), rel=1e-5)

    table = build_table([base], load_published())
    assert table.loc[table["method"] == "toy", "featnorm"].item() == base.value
    text = render_table(table, "md")
    assert "NORM ↑" in text and f"{base.value:.2f} [{base.ci_low:.2f}, {base.ci_high:.2f}]" in text
    assert "FVD ↓ lower is better, IS ↑ higher is better, NORM ↑ higher is better" in text
    assert "featnorm_protocol" in render_table(table, "csv").splitlines()[0]
    assert "NORM (higher is better)" in scores_chart(table)  # its panel, in the spec's direction
    shown = CliRunner().invoke(main, ["table", str(tmp_path / "base.json"), "--no-published"])
    assert shown.exit_code == 0 and "NORM ↑" in shown.output and "fvd-smoke-tiny" in shown.output

    absolute = {"featnorm": Tolerance("absolute", 0.0)}
    forward, backward = compare([base], [current], absolute), compare([current], [base], absolute)
    assert [c.metric for c in forward.comparisons] == ["featnorm"]
    assert forward.regressed == (current.value < base.value) and backward.regressed == (base.value < current.value)
    assert "| NORM ↑ |" in render_markdown(forward) and parse_tolerance("featnorm=2%") == ("featnorm",
                                                                                           Tolerance("relative", 0.02))
    report = CliRunner().invoke(main, ["report", "--baseline", str(tmp_path / "base.json"), "--current",
                                       str(tmp_path / "current.json"), "--tolerance", "featnorm=1000"])
    assert report.exit_code == 0 and "PASS — no regression in 1 metrics" in report.output


def test_a_metric_that_needs_prompts_reads_them_from_the_runs_manifest(videos):
    extraction = ExtractionOptions(device="cpu", num_workers=0, progress=False)
    with METRICS.registered(WORDS.name, WORDS):
        check_contract(WORDS)
        record = score_metric("words", videos / "run", None, extraction, ScoreOptions(bootstrap=0))
        assert record.value == 3.5 and record.n == 4 and record.extra["videos_from"] == "manifest manifest.jsonl"
        with pytest.raises(VidrdBenchError, match="has no manifest.jsonl"):
            score_metric("words", videos / "base", None, extraction, ScoreOptions(bootstrap=0))
    with pytest.raises(VidrdBenchError, match="FVD compares the generated videos with real ones"):
        score_metric("fvd", videos / "base", None, extraction, ScoreOptions(bootstrap=0))
    with pytest.raises(VidrdBenchError, match="IS needs no real videos"):
        score_metric("is", videos / "base", None, extraction, ScoreOptions(bootstrap=0), real=videos / "run")
