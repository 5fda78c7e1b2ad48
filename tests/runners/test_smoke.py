"""The README's main job: `vidrd-bench smoke` runs every stage on tiny models and labels its numbers as not a score."""

import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from vidrd_bench.cli import main


def test_smoke_runs_end_to_end_and_labels_everything(tmp_path):
    res = CliRunner().invoke(main, ["smoke", "--out", str(tmp_path), "--num-videos", "10"])
    assert res.exit_code == 0, res.output
    assert "NOT scores" in res.output and "SMOKE" in res.output
    rows = [json.loads(line) for line in (tmp_path / "run" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and all(r["status"] == "done" for r in rows)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["generator"]["name"] == "vidrd" and run["generator"]["preset"] == "tiny" and run["weights"]["unet"] and run["sources"]["allow_partial"] == "false"
    for name in ("fvd.json", "is.json"):
        rec = json.loads((tmp_path / name).read_text())
        assert rec["smoke"] is True and rec["n"] == 10 and rec["version"] and rec["protocol"]["detector"].endswith("tiny-random")
    assert "[SMOKE — not a score]" in (tmp_path / "table.md").read_text()
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.iter("testcase") and not list(suite.iter("failure"))
    assert (tmp_path / "contact_sheet.png").stat().st_size > 0
    assert "not a score" in (tmp_path / "report.html").read_text().lower()
