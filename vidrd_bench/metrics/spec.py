"""What a metric is to the benchmark: a frozen MetricSpec, the inputs its compute function gets, the value it returns.

A metric plugs in with one file that defines its MetricSpec and one `METRICS.register` line in metrics/registry.py.
`score`, `calibrate`, tables, plots and the regression report read everything else from the spec: what the metric
needs besides the generated videos' features, which way is better, where its interval is cut, its protocols.

Its protocol type carries what the score runner reads from every metric protocol: `detector`, `resolution` (and
`preprocess` where the detector has variants), `num_frames` (and `frame_stride`), `num_fake` and `pool_size`. A
metric that needs "real" statistics scores under a protocol with FVDProtocol's real-side fields (an FVDProtocol).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from vidrd_bench.metrics.stats import StatsFile
from vidrd_bench.protocols import Protocol, metric_protocol, metric_protocols

NEEDS = {
    "real": "real-video statistics (--real: a `vidrd-bench stats` file or a folder of real videos)",
    "prompts": "each video's prompt (a `vidrd-bench generate` folder: its manifest records them)",
    "nothing": "nothing beyond the generated videos' features",
}


@dataclass(frozen=True)
class MetricInputs:
    """What a compute function gets: the selected videos' features in protocol order (N, D), their classes, and
    what the spec needs (real statistics or prompts; None otherwise); with prompts, `text` holds their embeddings
    (N, D) where the detector embeds text too (CLIP)."""

    features: np.ndarray
    classes: tuple[str | None, ...] = ()
    real: StatsFile | None = None
    prompts: tuple[str, ...] | None = None
    text: np.ndarray | None = None


@dataclass(frozen=True)
class MetricValue:
    """A metric's number: its value, the bootstrap interval (before the floor cut) and how many resamples made it,
    the std where the protocol aggregates several scores (IS: over splits or runs), and fields for the record."""

    value: float
    interval: tuple[float, float] | None = None
    resamples: int = 0
    std: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricExample:
    """The known case a metric declares for its conformance test: inputs whose value is known exactly under a
    protocol, and a degraded copy of them that must score worse."""

    protocol: Protocol
    inputs: MetricInputs
    value: float
    worse: MetricInputs


# compute(inputs, protocol, bootstrap resamples (0: no interval), seed, progress) -> MetricValue
ComputeFn = Callable[[MetricInputs, Protocol, int, int, bool], MetricValue]
# per_class(inputs, protocol, progress) -> record fields of a per-class breakdown ({} when no class has enough)
PerClassFn = Callable[[MetricInputs, Protocol, bool], dict[str, Any]]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its name and display title, what it needs, its direction and floor, its protocols, and the one
    function that turns features into a value, an interval and a std.

    `floor`: the least value the metric can take; bootstrap intervals are cut there (FVD 0, IS 1).
    `paper_protocol`: the protocol the published rows were measured under (None: the paper has no such column).
    `column`: where its score column sits in tables (lower first). `per_class`: an optional per-class breakdown.
    `example`: builds the known case that tests/metrics/test_conformance.py checks.
    `model_option`: (flag, help) of a `score NAME` option naming the detector's model folder (CLIPSIM's
    --clip-model); it fills the same place --detector-weights does.
    """

    name: str
    title: str
    summary: str
    needs: str
    higher_is_better: bool
    floor: float
    protocol_type: type
    default_protocol: str
    compute: ComputeFn
    example: Callable[[], MetricExample]
    paper_protocol: str | None = None
    column: int = 100
    per_class: PerClassFn | None = None
    model_option: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.needs not in NEEDS:
            raise ValueError(f"metric {self.name!r}: needs={self.needs!r}; one of {', '.join(NEEDS)}")
        if not issubclass(self.protocol_type, Protocol):
            raise TypeError(f"metric {self.name!r}: protocol_type must be a Protocol subclass")

    @property
    def direction(self) -> str:
        """'higher is better' or 'lower is better'."""
        return "higher is better" if self.higher_is_better else "lower is better"

    def protocols(self) -> list[Protocol]:
        """The registered protocols this metric scores under (those of its protocol type), in registration order."""
        return metric_protocols(self.protocol_type)

    def protocol(self, name: str | Protocol) -> Protocol:
        """The protocol `name`, refused with the list of this metric's protocols unless it is of its type."""
        return metric_protocol(name, self.protocol_type)

    def floored(self, result: MetricValue) -> tuple[float, float] | None:
        """The result's interval with its lower end cut at the floor (None without an interval)."""
        if result.interval is None:
            return None
        low, high = result.interval
        return max(low, self.floor), high
