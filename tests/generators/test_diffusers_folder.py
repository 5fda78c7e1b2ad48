"""--model of the diffusers generators: a local folder; a hub id is named as one, and `generators` says so."""

import pytest
from click.testing import CliRunner

from vidrd_bench.cli import main
from vidrd_bench.core.errors import WeightsError
from vidrd_bench.generators.diffusers_folder import model_folder


def test_a_hub_id_given_as_model_is_named_as_one_with_the_download_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match=r"--model damo-vilab/text-to-video-ms-1\.7b is no folder here; it looks "
                                           r"like a Hugging Face hub id.*huggingface-cli download "
                                           r"damo-vilab/text-to-video-ms-1\.7b --local-dir DIR"):
        model_folder("damo-vilab/text-to-video-ms-1.7b", "modelscope", "TextToVideoSDPipeline")
    with pytest.raises(WeightsError, match="needs --model DIR: a folder in diffusers layout"):
        model_folder(tmp_path, "modelscope", "TextToVideoSDPipeline")  # a folder without model_index.json


def test_generators_describes_model_as_a_local_folder_never_a_hub_id():
    out = CliRunner().invoke(main, ["generators"]).output
    line = next(x for x in out.splitlines() if "damo-vilab/text-to-video-ms-1.7b" in x)
    assert line.strip().startswith("--model: a local folder (a hub id is never fetched): e.g. damo-vilab/")
    assert "--local-dir DIR" in line
