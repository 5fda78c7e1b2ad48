"""Tests of vidrd_bench.generators; a package, so its test_conformance.py may share a name with other folders'."""
