"""Tests of vidrd_bench.metrics; a package, so its test_conformance.py may share a name with other folders'."""
