"""Tiny random pipelines saved with `generators --save-tiny`: a folder loaded as a model still says its weights are
random, whatever is done to the marker, so its scores are smoke numbers."""

import json

from vidrd_bench.generators import GENERATORS
from vidrd_bench.generators.tiny import RANDOM_MARKER, save_tiny


def _random(folder):
    """What the loaded generator's provenance says about its weights."""
    prov = GENERATORS.get("wan").load(preset="model", model=folder, device="cpu").provenance()
    return prov["random_weights"], prov["sources"].get("random_weights", "")


def test_a_saved_tiny_pipeline_is_random_by_its_marker_and_by_its_weights(tmp_path):
    """The marker save_tiny writes marks the folder random; a marker edited to say false still does (its presence
    counts, not its content); with the marker deleted the weights are recognised as the tiny pipeline's."""
    folder = save_tiny("wan", tmp_path / "wan")
    marker = folder / RANDOM_MARKER
    assert json.loads(marker.read_text())["random_weights"] is True
    assert _random(folder) == (True, f"{RANDOM_MARKER} in {folder} (a tiny random pipeline saved by generators "
                                     "--save-tiny)")
    marker.write_text(json.dumps({"random_weights": False}))
    assert _random(folder)[0] is True
    marker.unlink()
    assert _random(folder) == (True, "its weights equal the tiny random wan pipeline's (generators --save-tiny)")


def test_a_folder_with_other_weights_and_no_marker_is_not_random(tmp_path):
    """Weights that are not a tiny pipeline's (here: one tensor changed) and no marker: random_weights false."""
    import torch
    from vidrd_bench.generators.tiny import build_tiny

    pipe = build_tiny("wan")
    with torch.no_grad():
        next(pipe.transformer.parameters()).add_(1.0)
    pipe.save_pretrained(tmp_path / "trained")
    assert _random(tmp_path / "trained") == (False, "")
