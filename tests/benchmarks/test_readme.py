"""benchmarks/README.md and the folder cannot drift: every result file it cites exists, every file in results/ is
cited, every script here is documented, and every claims row names its device, command, result file and commit."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
README = (BENCH / "README.md").read_text()


def cited_results() -> set[str]:
    """The `results/...` paths the README cites (in backticks), relative to benchmarks/."""
    return set(re.findall(r"`(results/[^`\s]+)`", README))


def claims_rows() -> list[list[str]]:
    """The cells of every row of the claims tables (the tables under '## Claims')."""
    claims = README.split("\n## Claims", 1)[1]
    rows = [line for line in claims.splitlines() if line.startswith("| ") and not line.startswith("| claim |")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in rows]


def test_every_cited_result_file_exists_and_every_result_file_is_cited():
    stored = {str(p.relative_to(BENCH)) for p in (BENCH / "results").rglob("*") if p.is_file()}
    cited = cited_results()
    assert cited - stored == set(), "cited in benchmarks/README.md but missing from benchmarks/results/"
    assert stored - cited == set(), "in benchmarks/results/ but cited by no row of benchmarks/README.md"


def test_result_files_the_main_readme_names_exist():
    named = set(re.findall(r"benchmarks/(results/[\w./-]+)", (ROOT / "README.md").read_text()))
    assert {n for n in named if not (BENCH / n).is_file()} == set()


def test_every_script_here_is_documented_and_every_documented_one_exists():
    scripts = {p.name for p in BENCH.iterdir() if p.suffix in (".py", ".sh")}
    table = README.split("## The scripts", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([\w.]+\.(?:py|sh))`", table, flags=re.M))
    mentioned = set(re.findall(r"`([\w.]+\.(?:py|sh))`", table))
    assert documented <= scripts and scripts <= mentioned | {"device_setup.sh"} and "device_setup.sh" in table


def test_every_claim_row_has_a_figure_device_command_result_and_commit():
    rows = claims_rows()
    assert len(rows) > 40
    for row in rows:
        assert len(row) == 6, row[0]
        claim, figure, device, command, result, commit = row
        assert claim and figure and command, claim
        # A time is a GPU figure; a count of work (FLOP) is the same on any machine and says so.
        assert device.split()[0] in ("H100", "H200") or (device == "CPU (counted, not timed)" and "GFLOP" in figure)
        assert result == "-" or re.fullmatch(r"`results/[^`]+`(, `results/[^`]+`)*", result), claim
        assert re.match(r"[0-9a-f]{7}\b", commit), claim
