"""Comparison tables: our runs beside the published rows of their dataset (UCF-101: the VidRD paper's; MSR-VTT:
each model's paper), as md, csv, latex or html.

One score column per metric the published rows report (UCF-101: every METRICS entry with a paper protocol, IS and
FVD; MSR-VTT: the registered ones of CLIPSIM, FID, FVD) or our records hold, placed by the spec's `column`; rows
sorted by the first registered metric (FVD), best first.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import pandas as pd

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.registry import METRICS, metric_specs
from vidrd_bench.metrics.spec import MetricSpec
from vidrd_bench.precisions import describe
from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.report import escape
from vidrd_bench.report.published import paper_protocols, record_dataset
from vidrd_bench.results import ResultRecord

FORMATS = ("md", "csv", "latex", "html")
SCORE_PARTS = ("", "_ci_low", "_ci_high", "_std")  # a metric's raw columns: value, interval, std
SMOKE_MARK = "SMOKE — not a score"
# Per-format spellings of the marks, arrows and the missing-value dash.
TOKENS = {
    "md": {"pm": "±", "dagger": "†", "ddagger": "‡", "section": "§", "up": "↑", "down": "↓", "none": "—",
           "smoke": SMOKE_MARK},
    "html": {"pm": "±", "dagger": "†", "ddagger": "‡", "section": "§", "up": "↑", "down": "↓", "none": "—",
             "smoke": SMOKE_MARK},
    "latex": {"pm": r"$\pm$", "dagger": r"$^\dagger$", "ddagger": r"$^\ddagger$", "section": r"$^\S$",
              "up": r"$\uparrow$", "down": r"$\downarrow$", "none": "--", "smoke": "SMOKE --- not a score"},
}
TEXT_DISPLAY = ("Method", "Protocol", "Source")  # the displayed columns that are not numbers (left-aligned)


def table_metrics(names: Iterable[str] = (), paper: bool = True) -> list[MetricSpec]:
    """The metrics a table shows, in registration order: those in `names` and, with `paper`, those the UCF-101
    published rows report (a paper protocol)."""
    names = set(names)
    return [spec for spec in metric_specs() if (paper and spec.paper_protocol) or spec.name in names]


def by_column(specs: Iterable[MetricSpec]) -> list[MetricSpec]:
    """Metrics in table column order (their spec's `column`; registration order among equals)."""
    return sorted(specs, key=lambda spec: spec.column)


def raw_columns(specs: list[MetricSpec]) -> list[str]:
    """The raw table's columns (csv keeps them all) for these metrics: scores in column order, protocols in
    registration order."""
    scores = [f"{spec.name}{part}" for spec in by_column(specs) for part in SCORE_PARTS]
    return ["method", "kind", "train_videos_m", *scores, "ci_level", "n_videos", "generator", "generation_protocol",
            *(f"{spec.name}_protocol" for spec in specs), "protocol_differs", "smoke", "note", "source", "precision"]


def shown_metrics(table: pd.DataFrame) -> list[MetricSpec]:
    """The metrics a raw table holds columns for, in registration order."""
    return [spec for spec in metric_specs() if spec.name in table.columns]


def run_key(record: ResultRecord) -> tuple[str, str]:
    """A run = generation protocol + its --name, else its videos folder (extra['fake_dir']), else its label."""
    gen = (record.generation_protocol or {}).get("name", "")
    return (record.name or str(record.extra.get("fake_dir") or record.label or "(unlabelled)"), gen)


def run_name(run: dict[str, ResultRecord]) -> str:
    """A row's method name: the --name its records share, else their shared label, else their videos folder."""
    names = {r.name for r in run.values()}
    if len(names) == 1 and next(iter(names)):
        return next(iter(names))
    labels = {r.label for r in run.values()}
    first = next(iter(run.values()))
    if len(labels) == 1 and first.label:
        return first.label
    return Path(str(first.extra.get("fake_dir", ""))).name or " + ".join(sorted(labels))


def group_runs(records: Iterable[ResultRecord]) -> dict[tuple[str, str], dict[str, ResultRecord]]:
    """Group records into runs keyed by run_key, each holding at most one record per metric."""
    runs: dict[tuple[str, str], dict[str, ResultRecord]] = {}
    for rec in records:
        if rec.metric not in METRICS:
            names = [spec.name for spec in metric_specs()]
            raise VidrdBenchError(
                f"Result {rec.label!r} has metric {rec.metric!r}; tables hold {' and '.join(names)} only. "
                "Pass the JSON files written by `vidrd-bench score fvd` / `score is`."
            )
        run = runs.setdefault(run_key(rec), {})
        if rec.metric in run:
            name, gen = run_key(rec)
            raise VidrdBenchError(
                f"Two {rec.metric!r} results belong to the same run ({name!r}, generation protocol {gen or 'none'!r}), "
                "but a table row holds one run. Pass only one of the files, or tabulate the two runs separately."
            )
        run[rec.metric] = rec
    return runs


def protocol_differences(run: dict[str, ResultRecord]) -> list[str]:
    """Names of this run's protocols that are not exactly the paper protocols of its dataset (paper_protocols;
    generation protocol absent = not judged)."""
    differs: list[str] = []
    papers = paper_protocols(record_dataset(next(iter(run.values()))))
    gen = next((r.generation_protocol for r in run.values() if r.generation_protocol), None)
    if gen is not None and gen != PROTOCOLS.get(papers["generation"]).to_dict():
        differs.append(gen.get("name", "?"))
    for metric, rec in run.items():
        paper = papers.get(metric)
        if paper is not None and rec.protocol != PROTOCOLS.get(paper).to_dict():
            differs.append(rec.protocol.get("name", "?"))
    return differs


def generator_label(run: dict[str, ResultRecord]) -> str:
    """'generator:settings' of the run's videos, as their run.json recorded it ('' where none was recorded)."""
    gen = next((r.generator for r in run.values() if r.generator), None) or {}
    settings = (gen.get("settings") or {}).get("name", "")
    return f"{gen.get('name', '')}:{settings}" if gen else ""


def _source(rec: ResultRecord) -> str:
    """Provenance of one of our rows: package version, short commit, date."""
    text = f"vidrd-bench {rec.version}".strip()
    if rec.git_commit:
        text += f" @ {rec.commit_label()}"
    return text + (f", {rec.date[:10]}" if rec.date else "")


def _run_row(label: str, run: dict[str, ResultRecord], specs: list[MetricSpec]) -> dict:
    """One raw table row for one of our runs."""
    first = next(run[spec.name] for spec in specs if spec.name in run)
    gen = next((r.generation_protocol for r in run.values() if r.generation_protocol), None)
    row: dict = {"method": label, "kind": "ours", "n_videos": first.n, "smoke": any(r.smoke for r in run.values()),
                 "generator": generator_label(run), "generation_protocol": (gen or {}).get("name", ""), "note": "",
                 "source": _source(first),
                 "protocol_differs": ", ".join(protocol_differences(run)),
                 "precision": describe(next((r.precision for r in run.values() if r.precision), None))}
    for metric in (spec.name for spec in specs):
        rec = run.get(metric)
        row[metric] = rec.value if rec else math.nan
        row[f"{metric}_protocol"] = rec.protocol.get("name", "") if rec else ""
        for part in ("ci_low", "ci_high", "std"):
            value = getattr(rec, part) if rec else None
            row[f"{metric}_{part}"] = math.nan if value is None else value
        if rec and rec.ci_level is not None:
            row["ci_level"] = rec.ci_level
    return row


def named_runs(records: Iterable[ResultRecord]) -> dict[str, dict[str, ResultRecord]]:
    """Runs by display name (run_name); a name shared by runs of different generation protocols gets it appended."""
    out: dict[str, dict[str, ResultRecord]] = {}
    for (_, gen), run in group_runs(records).items():
        name = run_name(run)
        out[f"{name} ({gen or 'no generation protocol'})" if name in out else name] = run
    return out


def build_table(records: Iterable[ResultRecord], published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Raw comparison table of the given records (grouped into runs) and the published rows."""
    return table_from_runs(named_runs(records), published)


def table_from_runs(runs: dict[str, dict[str, ResultRecord]], published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Raw table: one row per named run plus published rows, sorted by the first metric (FVD) best first (rows
    without it last), then method."""
    names = {metric for run in runs.values() for metric in run}
    dataset = published.attrs.get("dataset", "ucf101") if published is not None else "ucf101"
    if published is not None:
        names |= {spec.name for spec in metric_specs() if spec.name in published.columns}
    specs = table_metrics(names, paper=dataset == "ucf101")
    columns = raw_columns(specs)
    ours = pd.DataFrame([_run_row(name, run, specs) for name, run in runs.items()], columns=columns)
    frames = [ours]
    protocols = [f"{spec.name}_protocol" for spec in specs]
    if published is not None and len(published):
        pub = published.assign(kind="published", protocol_differs="", smoke=False, generator="", generation_protocol="",
                               **{col: "" for col in protocols})
        frames.append(pub.reindex(columns=columns))
    frames = [f for f in frames if len(f)]
    if not frames:
        raise VidrdBenchError("Nothing to tabulate: no result records were given and published rows are off.")
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    table["smoke"] = table["smoke"].astype(bool)
    table["n_videos"] = table["n_videos"].astype("Int64")
    for col in ("generator", "generation_protocol", *protocols, "protocol_differs", "note", "source", "precision"):
        table[col] = table[col].fillna("").astype(str)
    first = specs[0]
    table = table.sort_values([first.name, "method"], ascending=[not first.higher_is_better, True],
                              na_position="last", kind="stable").reset_index(drop=True)
    table.attrs["dataset"] = dataset
    return table


def _number(value: float, tok: dict[str, str], digits: int = 2) -> str:
    """A number with fixed decimals, or the missing-value dash."""
    return tok["none"] if pd.isna(value) else f"{value:.{digits}f}"


def format_score(value: float | None, lo: float | None, hi: float | None, std: float | None,
                 pm: str = "±", none: str = "—") -> str:
    """'v [lo, hi]' with a confidence interval, 'v ± s' with a std only, 'v' otherwise; `none` when missing."""
    missing = [v is None or pd.isna(v) for v in (value, lo, hi, std)]
    if missing[0]:
        return none
    if not missing[1] and not missing[2]:
        return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"
    return f"{value:.2f}" if missing[3] else f"{value:.2f} {pm} {std:.2f}"


def _score(row: pd.Series, metric: str, tok: dict[str, str]) -> str:
    """One score cell of a raw table row."""
    parts = [row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"], row[f"{metric}_std"]]
    return format_score(*parts, pm=tok["pm"], none=tok["none"])


def _method(row: pd.Series, tok: dict[str, str], esc) -> str:
    """Method name with its marks: † protocol differs, § not the protocol's precision, ‡ published note, and the
    smoke label."""
    text = esc(row["method"])
    if row["protocol_differs"]:
        text += tok["dagger"]
    if row["precision"]:
        text += tok["section"]
    if row["note"]:
        text += tok["ddagger"]
    return text + (f" [{tok['smoke']}]" if row["smoke"] else "")


def _protocol(row: pd.Series, tok: dict[str, str], specs: list[MetricSpec]) -> str:
    """'generation / FVD / IS' protocol names of our rows; 'paper' for published rows."""
    if row["kind"] == "published":
        return "paper"
    names = [row["generation_protocol"], *(row[f"{spec.name}_protocol"] for spec in specs)]
    return " / ".join(([row["generator"]] if row["generator"] else []) + [n or tok["none"] for n in names])


def display_frame(table: pd.DataFrame, fmt: str) -> tuple[pd.DataFrame, list[str]]:
    """Human-readable cells and the footnotes that apply, in the spelling of `fmt` (md, html or latex)."""
    tok = TOKENS[fmt]
    esc = {"latex": escape.latex, "md": escape.markdown}.get(fmt, str)  # html: pandas' to_html escapes every cell
    specs = shown_metrics(table)
    columns = {"Method": [_method(r, tok, esc) for _, r in table.iterrows()],
               "Train videos (M)": [_number(v, tok, 1) for v in table["train_videos_m"]]}
    for spec in by_column(specs):
        arrow = tok["up"] if spec.higher_is_better else tok["down"]
        columns[f"{esc(spec.title)} {arrow}"] = [_score(r, spec.name, tok) for _, r in table.iterrows()]
    columns["Protocol"] = [esc(_protocol(r, tok, specs)) for _, r in table.iterrows()]
    columns["Source"] = [esc(s) for s in table["source"]]
    return pd.DataFrame(columns), _footnotes(table, tok, esc)


def _footnotes(table: pd.DataFrame, tok: dict[str, str], esc) -> list[str]:
    """Explanations of sorting, intervals and every mark used in the table."""
    specs = shown_metrics(table)
    first = specs[0]
    order = "descending" if first.higher_is_better else "ascending"
    directions = ", ".join(f"{esc(spec.title)} {tok['up'] if spec.higher_is_better else tok['down']} "
                           f"{spec.direction}" for spec in specs)
    notes = [f"{directions}; rows sorted by {esc(first.title)} {order} (rows without {esc(first.title)} last)."]
    ours, titles = table[table["kind"] == "ours"], [esc(spec.title) for spec in specs]
    if len(ours):
        levels = sorted({f"{v:.0%}" for v in ours["ci_level"].dropna()})
        level = esc("/".join(levels)) + " " if levels else ""
        notes.append(f"Our rows: v [lo, hi] = score with its {level}bootstrap confidence interval; v {tok['pm']} s "
                     f"= mean and std over IS splits. Protocol = {' / '.join(['generation', *titles])} protocol names"
                     + (", after the generator:settings that made the videos." if ours["generator"].astype(bool).any()
                        else "."))
    papers = paper_protocols(table.attrs.get("dataset", "ucf101"))
    paper = " / ".join([papers["generation"], *(papers[spec.name] for spec in specs if spec.name in papers)])
    if table["protocol_differs"].astype(bool).any():
        notes.append(f"{tok['dagger']} Protocol differs from the paper's ({esc(paper)}): not comparable with the "
                     "published rows.")
    for _, row in table[table["precision"].astype(bool)].iterrows():
        notes.append(f"{tok['section']} {esc(row['method'])}: rendered at precision {esc(row['precision'])} (uint8 "
                     "levels): not the protocol's bf16, so not comparable with the published rows.")
    for _, row in table[table["note"].astype(bool)].iterrows():
        notes.append(f"{tok['ddagger']} {esc(row['method'])}: {esc(row['note'])}.")
    if table["smoke"].any():
        notes.append(f"{tok['smoke']}: a pipeline check with tiny random-weight models; its numbers say nothing "
                     "about any model.")
    return notes


def markdown_table(df: pd.DataFrame, right: Iterable[str] = ()) -> str:
    """A GitHub-flavoured markdown table with padded columns (`|` escaped in every cell, headers too); columns in
    `right` are right-aligned."""
    right = set(right)
    cells = [[str(v).replace("|", "\\|") for v in row] for row in [df.columns, *df.itertuples(index=False)]]
    widths = [max(3, *(len(r[i]) for r in cells)) for i in range(len(df.columns))]

    def line(row: list[str]) -> str:
        """One padded table line."""
        padded = [c.rjust(w) if col in right else c.ljust(w) for c, w, col in zip(row, widths, df.columns)]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if col in right else "-" * w for w, col in zip(widths, df.columns)]
    return "\n".join([line(cells[0]), line(rule)] + [line(r) for r in cells[1:]]) + "\n"


def render_table(table: pd.DataFrame, fmt: str) -> str:
    """Text of the table in one of FORMATS; csv keeps the raw columns, the others show readable cells and footnotes."""
    if fmt not in FORMATS:
        raise VidrdBenchError(f"Unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if fmt == "csv":
        return csv_safe(table).to_csv(index=False, lineterminator="\n")
    shown, notes = display_frame(table, fmt)
    right = [c for c in shown.columns if c not in TEXT_DISPLAY]
    if fmt == "md":
        return markdown_table(shown, right) + "\n" + "".join(f"- {n}\n" for n in notes)
    if fmt == "html":
        body = shown.to_html(index=False, escape=True, border=0, classes="vidrd-table")
        items = "".join(f"<li>{escape.html(n)}</li>\n" for n in notes)
        return f'{body}\n<ul class="vidrd-footnotes">\n{items}</ul>\n'
    return latex_table(shown, right, notes)


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every text cell made formula-proof for spreadsheets (escape.csv_cell); numbers unchanged."""
    text = [c for c in table.columns if table[c].dtype == object or pd.api.types.is_string_dtype(table[c])]
    return table.assign(**{c: table[c].map(escape.csv_cell) for c in text})


LATEX_PREAMBLE = "% vidrd-bench table: needs \\usepackage{booktabs} (rules) and \\usepackage{graphicx} (\\resizebox)\n"
LATEX_WRAP = {"Protocol": "p{3.6cm}", "Source": "p{4.2cm}"}  # long text columns wrap instead of widening the table


def latex_table(shown: pd.DataFrame, right: list[str], notes: list[str]) -> str:
    """A complete table float: booktabs tabular scaled to the line width (so it fits a page), notes beneath."""
    align = "".join("r" if c in right else LATEX_WRAP.get(c, "l") for c in shown.columns)
    tabular = shown.to_latex(index=False, escape=False, column_format=align).rstrip("\n")
    notes_tex = "\\\\\n".join(notes)
    return (f"{LATEX_PREAMBLE}\\begin{{table}}[htbp]\n\\centering\n\\resizebox{{\\linewidth}}{{!}}{{%\n{tabular}}}\n"
            f"\\par\\smallskip\n\\parbox{{\\linewidth}}{{\\footnotesize\n{notes_tex}}}\n\\end{{table}}\n")
