"""Detector tests: a package, so that test_conformance.py here and in tests/generators/ import side by side."""
