"""The fp8-e4m3 static-scale calibration: deterministic, independent of what a run renders, the max over every
calibration call times the headroom, measured with the bf16 linears, recorded with a digest of the scales."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vidrd_bench.models.vidrd.fp8 import HEADROOM, fp8_linears, scales_digest
from vidrd_bench.models.vidrd.fp8_calibration import CALIBRATION, calibrate
from vidrd_bench.models.vidrd.pipeline import VidRDPipeline
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS

TINY = VIDRD_SETTINGS.get("vidrd-tiny")


def _fp8_pipeline() -> VidRDPipeline:
    """The tiny preset at fp8-e4m3 (emulated), converted and calibrated by from_preset."""
    return VidRDPipeline.from_preset("tiny", device="cpu", precision="fp8-e4m3", fp8_emulation=True)


def _scales(pipe: VidRDPipeline) -> list[float]:
    """Every Fp8Linear's input scale, in module order."""
    return [float(m.input_scale) for m in fp8_linears(pipe.unet)]


@pytest.fixture(scope="module")
def pipe():
    return _fp8_pipeline()


def test_two_builds_calibrate_identically_and_record_how(pipe):
    """Two separately built pipelines: bit-identical scales and the same record (set, trajectory, headroom, digest)."""
    other = _fp8_pipeline()
    assert _scales(pipe) == _scales(other) and pipe.calibration == other.calibration
    record = pipe.calibration
    assert record["ucf101_classes"] == list(CALIBRATION.classes) and record["seeds"] == [0, 1, 2, 3]
    assert record["timesteps"] == [751, 501, 251, 1] and record["headroom"] == HEADROOM == 2.0
    assert record["clip"] == "8 frames 32x32" and record["guidance_scale"] == TINY.guidance_scale
    assert record["layers"] == 12 and record["scales_sha256_16"] == scales_digest(pipe.unet)
    assert pipe.converted_layers == {"converted": 12, "kept": 84}


def test_calibration_is_independent_of_what_the_run_renders(pipe):
    """Rendering a batch of other prompts and recalibrating gives the same scales; another calibration seed does not
    (so the comparison can see a change)."""
    before = _scales(pipe)
    pipe(["a dog runs on a beach", "rain on a window", "a car at night"], [7, 8, 9], TINY)
    assert calibrate(pipe, TINY) == pipe.calibration and _scales(pipe) == before
    moved = calibrate(pipe, TINY, dataclasses.replace(CALIBRATION, seed=1))
    assert _scales(pipe) != before and moved["scales_sha256_16"] != pipe.calibration["scales_sha256_16"]
    calibrate(pipe, TINY)
    assert _scales(pipe) == before


def test_scale_is_headroom_times_the_max_input_over_every_call_with_bf16_linears(pipe):
    """Independently recorded inputs: input_range = 2 x max |x| over all calibration calls (not the last call's),
    and the calibration ran the layers as their bf16 originals."""
    seen: dict[str, list[float]] = {}
    enabled: set[bool] = set()

    def hook(name):
        def record(module, args):
            seen.setdefault(name, []).append(float(args[0].double().abs().max()))
            enabled.add(module.fp8_enabled)
        return record

    layers = {n: m for n, m in pipe.unet.named_modules() if m in fp8_linears(pipe.unet)}
    handles = [m.register_forward_pre_hook(hook(n)) for n, m in layers.items()]
    try:
        calibrate(pipe, TINY)
    finally:
        for h in handles:
            h.remove()
    assert enabled == {False} and all(len(calls) == 4 for calls in seen.values())
    for name, m in layers.items():
        assert m.input_range == pytest.approx(HEADROOM * max(seen[name]), rel=1e-6)
        assert float(m.input_scale) == pytest.approx(m.input_range / 448, rel=1e-6)
    assert any(calls[-1] < max(calls) for calls in seen.values())


def test_calibration_refuses_a_compiled_unet(pipe):
    """Calibrate, then compile: a compiled UNet is refused (its hooks would not see eager inputs)."""
    compiled = VidRDPipeline(dataclasses.replace(pipe.components, unet=torch.compile(pipe.unet)))
    with pytest.raises(ValueError, match="convert, calibrate, then compile"):
        calibrate(compiled, TINY)
