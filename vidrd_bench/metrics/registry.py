"""METRICS: every metric the benchmark scores, one MetricSpec each, defined in its own file and registered here.

Registration order is the order of records, reports and plot panels (fvd, is, fid, jedi, clipsim); `column` orders table columns.
"""

from __future__ import annotations

from vidrd_bench.core.registry import Registry
from vidrd_bench.metrics import clipsim, fid, fvd, inception_score, jedi
from vidrd_bench.metrics.spec import MetricSpec

METRICS: Registry[MetricSpec] = Registry("metric", MetricSpec)
METRICS.register(fvd.SPEC.name, fvd.SPEC)
METRICS.register(inception_score.SPEC.name, inception_score.SPEC)
METRICS.register(fid.SPEC.name, fid.SPEC)
METRICS.register(jedi.SPEC.name, jedi.SPEC)
METRICS.register(clipsim.SPEC.name, clipsim.SPEC)


def metric_specs() -> list[MetricSpec]:
    """Every registered metric's spec, in registration order."""
    return [spec for _, spec in METRICS.items()]
