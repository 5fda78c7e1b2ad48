"""Prompt files: the shipped 101 prompts and the validation of users' own files."""

from __future__ import annotations

import json

import pytest

from vidrd_bench.datasets.prompts import PromptsError, load_prompts
from vidrd_bench.datasets.registry import DATASETS
from vidrd_bench.core.resources import shipped

CLASSES = ["Archery", "Biking", "Knitting"]


def test_shipped_prompts_are_descriptive_and_complete():
    spec = DATASETS.get("ucf101")
    prompts = load_prompts(shipped("prompts/ucf101.json"), spec.classes)
    assert list(prompts) == spec.classes
    texts = [p for options in prompts.values() for p in options]
    assert len(set(texts)) == len(texts)
    for name, options in prompts.items():
        for p in options:
            assert p.lower() != name.lower() and len(p.split()) >= 12, (name, p)


def _write(tmp_path, data):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    return path


def test_string_or_list_entries(tmp_path):
    path = _write(tmp_path, {"Knitting": "hands knit", "Archery": ["a", " b "], "Biking": "c"})
    assert load_prompts(path, CLASSES) == {"Archery": ("a", "b"), "Biking": ("c",), "Knitting": ("hands knit",)}


def test_missing_and_unknown_classes_are_named(tmp_path):
    path = _write(tmp_path, {"Archery": "a", "Bikng": "b", "Surfing": "s"})
    with pytest.raises(PromptsError) as e:
        load_prompts(path, CLASSES)
    msg = str(e.value)
    assert "unknown classes 'Bikng' (did you mean 'Biking'?), 'Surfing'" in msg
    assert "missing classes 'Biking', 'Knitting'" in msg


@pytest.mark.parametrize("bad", [{"Archery": "", "Biking": "b", "Knitting": "k"},
                                 {"Archery": [], "Biking": "b", "Knitting": "k"},
                                 {"Archery": 3, "Biking": "b", "Knitting": "k"}])
def test_bad_entries(tmp_path, bad):
    with pytest.raises(PromptsError, match="'Archery' must be a non-empty string"):
        load_prompts(_write(tmp_path, bad), CLASSES)


def test_not_an_object_or_not_json(tmp_path):
    with pytest.raises(PromptsError, match="holds a JSON list"):
        load_prompts(_write(tmp_path, ["Archery"]), CLASSES)
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(PromptsError, match="not valid UTF-8 JSON"):
        load_prompts(bad, CLASSES)
    with pytest.raises(PromptsError, match="does not exist"):
        load_prompts(tmp_path / "none.json", CLASSES)
