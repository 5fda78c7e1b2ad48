"""Metrics: the METRICS registry (registry.py; one MetricSpec per metric file: fvd.py, inception_score.py), detectors
and their registry, feature extraction and its options, the features cache, statistics and formulas (runners:
vidrd_bench/runners/score.py)."""
