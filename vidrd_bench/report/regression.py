"""CI regression decisions: compare a current result with a baseline, metric by metric, direction-aware.

Rule per metric of METRICS, in the direction its records carry (higher_is_better; FVD lower is better, IS higher is
better; `worsening` = how much worse current is, > 0 when worse):
- `--tolerance fvd=5`  absolute: regression iff worsening > 5 (exactly 5 passes).
- `--tolerance fvd=2%` relative: regression iff worsening > 2% of |baseline value|.
- `--tolerance fvd=ci` interval: regression iff the two bootstrap intervals are disjoint with current on the worse
  side (FVD: current.ci_low > baseline.ci_high; IS: current.ci_high < baseline.ci_low); touching intervals pass.
- no tolerance given: `ci` when both records carry an interval, else absolute 0 (any worsening fails).
Comparisons ignore float rounding below 1e-9 relative, so a value exactly at the tolerance passes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError
from vidrd_bench.metrics.registry import METRICS, metric_specs
from vidrd_bench.precisions import DEFAULT_PRECISION
from vidrd_bench.report import escape
from vidrd_bench.report.tables import SMOKE_MARK, format_score, markdown_table, run_name
from vidrd_bench.results import ResultRecord, load_results

ARROWS = {True: "↑", False: "↓"}
SMOKE_WHY = ("made with random-weight models or detectors (a tiny preset, a smoke protocol or a --save-tiny "
             "pipeline): the numbers check the pipeline and say nothing about any model.")
PER_CLASS_KEYS = ("per_class_fvd", "per_class")  # per-class FVD dicts: shown in the HTML report, not diffed


@dataclass(frozen=True)
class Tolerance:
    """How much worse a metric may get: kind 'absolute' (units), 'relative' (fraction of baseline) or 'ci'."""

    kind: str
    amount: float = 0.0

    def allowed(self, baseline: float) -> float:
        """Largest worsening that still passes, in the metric's units (not used by the 'ci' rule)."""
        return self.amount * abs(baseline) if self.kind == "relative" else self.amount

    def describe(self, baseline: float) -> str:
        """The rule in words, for reports."""
        if self.kind == "ci":
            return "bootstrap intervals must overlap"
        if self.kind == "relative":
            return f"worse by ≤ {self.amount:.4g} × |baseline| = {self.allowed(baseline):.4g}"
        return f"worse by ≤ {self.amount:.4g}"


def _names() -> list[str]:
    """The registered metrics' names, in registration order (the order of comparisons)."""
    return [spec.name for spec in metric_specs()]


def parse_tolerance(spec: str) -> tuple[str, Tolerance]:
    """Parse 'METRIC=AMOUNT', 'METRIC=PERCENT%' or 'METRIC=ci' (METRIC a registered metric: fvd, is, ...)."""
    metric, sep, amount = (part.strip() for part in spec.partition("="))
    metric = metric.lower()
    hint = "Write --tolerance fvd=5 (absolute), fvd=2% (relative to the baseline) or fvd=ci (bootstrap intervals)."
    if not sep or metric not in METRICS:
        raise VidrdBenchError(
            f"--tolerance {spec!r}: expected METRIC=AMOUNT with METRIC one of {', '.join(_names())}. {hint}"
        )
    if amount.lower() == "ci":
        return metric, Tolerance("ci")
    relative = amount.endswith("%")
    try:
        value = float(amount[:-1] if relative else amount)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise VidrdBenchError(f"--tolerance {spec!r}: {amount!r} is not a non-negative number. {hint}")
    return metric, Tolerance("relative", value / 100) if relative else Tolerance("absolute", value)


def parse_tolerances(specs: Iterable[str]) -> dict[str, Tolerance]:
    """Parse repeated --tolerance options; a metric given twice is an error."""
    out: dict[str, Tolerance] = {}
    for spec in specs:
        metric, tol = parse_tolerance(spec)
        if metric in out:
            raise VidrdBenchError(f"--tolerance for {metric!r} is given twice; keep one.")
        out[metric] = tol
    return out


def _has_ci(rec: ResultRecord) -> bool:
    """Whether a record carries both ends of a confidence interval."""
    return rec.ci_low is not None and rec.ci_high is not None


def worsening(base: ResultRecord, cur: ResultRecord) -> float:
    """How much worse current is than baseline in the metric's units (direction-aware); negative when better."""
    return base.value - cur.value if base.higher_is_better else cur.value - base.value


def _beyond(worsening: float, allowed: float) -> bool:
    """worsening > allowed, with float rounding at the boundary counted as equal (passes)."""
    return worsening > allowed and not math.isclose(worsening, allowed, rel_tol=1e-9, abs_tol=1e-12)


@dataclass
class MetricComparison:
    """One metric's baseline-vs-current decision."""

    metric: str
    baseline: ResultRecord
    current: ResultRecord
    rule: Tolerance
    regressed: bool
    reason: str

    @property
    def delta(self) -> float:
        """current - baseline, in the metric's units (sign alone does not say better or worse)."""
        return self.current.value - self.baseline.value

    @property
    def worsening(self) -> float:
        """How much worse current is than baseline; negative when it improved."""
        return worsening(self.baseline, self.current)


def decide(metric: str, base: ResultRecord, cur: ResultRecord, rule: Tolerance | None) -> MetricComparison:
    """Apply the rule (or the default: 'ci' if both have intervals, else absolute 0) to one metric."""
    if base.higher_is_better != cur.higher_is_better:
        raise VidrdBenchError(
            f"The {metric} records disagree on direction (higher_is_better {base.higher_is_better} vs "
            f"{cur.higher_is_better}); one file was edited or is not a {metric} result. Re-score it."
        )
    both_ci = _has_ci(base) and _has_ci(cur)
    rule = rule or (Tolerance("ci") if both_ci else Tolerance("absolute", 0.0))
    worse = worsening(base, cur)
    if rule.kind == "ci":
        if not both_ci:
            which = "baseline" if not _has_ci(base) else "current"
            raise VidrdBenchError(
                f"--tolerance {metric}=ci needs bootstrap intervals in both results, but the {which} {metric} "
                "record has none. Re-score with a bootstrap interval, or give a numeric tolerance (e.g. fvd=5)."
            )
        gap = base.ci_low - cur.ci_high if base.higher_is_better else cur.ci_low - base.ci_high
        regressed = _beyond(gap, 0.0)
        reason = (f"intervals disjoint, current worse by a gap of {gap:.4g}" if regressed
                  else "intervals overlap or current is better")
    else:
        allowed = rule.allowed(base.value)
        regressed = _beyond(worse, allowed)
        verdict = ">" if regressed else "≤"
        reason = f"worse by {worse:.4g} {verdict} {allowed:.4g}" if worse > 0 else f"better by {-worse:.4g}"
        if worse == 0:
            reason = "unchanged"
    return MetricComparison(metric, base, cur, rule, regressed, reason)


def _field_changes(a: dict[str, Any], b: dict[str, Any], prefix: str) -> list[tuple[str, Any, Any]]:
    """(prefix.key, a value, b value) for every key whose value differs; absent keys read as None."""
    return [(f"{prefix}.{k}", a.get(k), b.get(k)) for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)]


def check_protocols(metric: str, base: ResultRecord, cur: ResultRecord) -> None:
    """Refuse to compare one metric's results made under different metric or generation protocols, or whose videos
    were rendered at different precisions (a record without one is the protocol's bf16)."""
    diffs = _field_changes(base.protocol, cur.protocol, f"{metric} protocol")
    diffs += _field_changes(base.generation_protocol or {}, cur.generation_protocol or {}, "generation protocol")
    diffs += _field_changes({"name": precision_name(base)}, {"name": precision_name(cur)}, "precision")
    if diffs:
        detail = "; ".join(f"{k}: {a!r} vs {b!r}" for k, a, b in diffs)
        raise ProtocolMismatchError(
            f"Cannot compare the {metric} results: baseline and current were made under different protocols "
            f"(baseline vs current: {detail}). Scores from different protocols are not comparable; re-score the "
            "baseline under the current protocol (or the other way round) before gating on it."
        )


@dataclass
class Change:
    """A recorded setting that differs between baseline and current, and which metrics' records show it."""

    field: str
    baseline: Any
    current: Any
    metrics: list[str] = field(default_factory=list)


def precision_name(record: ResultRecord) -> str:
    """The precision the record's videos were rendered at; records from before precisions existed are bf16."""
    return (record.precision or {}).get("name") or DEFAULT_PRECISION


def record_changes(base: ResultRecord, cur: ResultRecord) -> list[tuple[str, Any, Any]]:
    """What differs between two records besides the score: weights sha256, seeds, precision, settings, version,
    commit."""
    out = _field_changes(base.weights, cur.weights, "weights")
    out += _field_changes(base.precision or {}, cur.precision or {}, "precision")
    out += _field_changes(base.seeds, cur.seeds, "seeds")
    settings = ("n", "ci_level", "label", "smoke", "version", "git_commit", "git_modified")
    out += _field_changes({k: getattr(base, k) for k in settings}, {k: getattr(cur, k) for k in settings}, "record")
    extra_a = {k: v for k, v in base.extra.items() if k not in PER_CLASS_KEYS}
    extra_b = {k: v for k, v in cur.extra.items() if k not in PER_CLASS_KEYS}
    return out + _field_changes(extra_a, extra_b, "extra")


def _by_metric(records: list[ResultRecord], name: str) -> dict[str, ResultRecord]:
    """Index one side's records by metric; a side holds one record per metric."""
    out: dict[str, ResultRecord] = {}
    for rec in records:
        if rec.metric in out:
            raise VidrdBenchError(
                f"{name} holds two {rec.metric!r} results; a regression report compares one run with one run. "
                "Pass a file with one record per metric (the files `vidrd-bench score` writes)."
            )
        out[rec.metric] = rec
    return out


@dataclass
class RegressionReport:
    """All metric decisions of one baseline-vs-current comparison, plus what changed between the two."""

    comparisons: list[MetricComparison]
    changes: list[Change]
    only_baseline: list[str]
    only_current: list[str]
    baseline_name: str = "baseline"
    current_name: str = "current"

    @property
    def smoke(self) -> bool:
        """True when a compared record on either side was made with random weights (smoke): no score is real."""
        return any(c.baseline.smoke or c.current.smoke for c in self.comparisons)

    @property
    def regressed(self) -> bool:
        """True when any compared metric regressed: CI should fail."""
        return any(c.regressed for c in self.comparisons)

    def to_markdown(self) -> str:
        """Summary for $GITHUB_STEP_SUMMARY or a PR comment."""
        return render_markdown(self)


def compare(baseline: list[ResultRecord], current: list[ResultRecord], tolerances: dict[str, Tolerance] | None = None,
            baseline_name: str = "baseline", current_name: str = "current") -> RegressionReport:
    """Decide each metric present on both sides; refuse different protocols; collect what changed."""
    base, cur = _by_metric(baseline, baseline_name), _by_metric(current, current_name)
    common = [m for m in _names() if m in base and m in cur]
    if not common:
        raise VidrdBenchError(
            f"{baseline_name} has {sorted(base) or 'no'} results and {current_name} has {sorted(cur) or 'no'}: no "
            f"metric to compare. Score the same metrics ({', '.join(_names())}) for both runs."
        )
    for m in common:
        check_protocols(m, base[m], cur[m])
    tolerances = tolerances or {}
    comparisons = [decide(m, base[m], cur[m], tolerances.get(m)) for m in common]
    merged: dict[tuple[str, str, str], Change] = {}
    for m in common:
        for name, a, b in record_changes(base[m], cur[m]):
            key = (name, json.dumps(a, sort_keys=True, default=str), json.dumps(b, sort_keys=True, default=str))
            merged.setdefault(key, Change(name, a, b)).metrics.append(m)
    return RegressionReport(comparisons, list(merged.values()), sorted(set(base) - set(cur)),
                            sorted(set(cur) - set(base)), baseline_name, current_name)


PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]


def _load_side(paths: PathOrPaths) -> tuple[list[ResultRecord], str]:
    """All records of one side (one file, or one file per metric as `score` writes them) and its display name:
    the run's --name, else its videos folder's name (tables.run_name), else the file names."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    records = [rec for p in paths for rec in load_results(p)]
    name = run_name({r.metric: r for r in records}) if records else ""
    return records, name or " + ".join(Path(p).name for p in paths)


def compare_files(baseline: PathOrPaths, current: PathOrPaths, tolerance_specs: Iterable[str] = ()) -> RegressionReport:
    """compare() on result files (each side one file or several), with --tolerance strings."""
    (base, base_name), (cur, cur_name) = _load_side(baseline), _load_side(current)
    return compare(base, cur, parse_tolerances(tolerance_specs), base_name, cur_name)


def short_value(value: Any) -> str:
    """A cell for the changes table: sha256 digests shortened, absent shown as such."""
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:12] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def _provenance(side: dict[str, ResultRecord]) -> str:
    """Version, commit and date of one side's records (its run name heads the line), for the report header."""
    rec = next(iter(side.values()))
    commit = f" @ {rec.commit_label()}" if rec.git_commit else ""
    smoke = " — SMOKE, not a score" if any(r.smoke for r in side.values()) else ""
    return (f"vidrd-bench {escape.markdown(rec.version)}{escape.markdown(commit)}, "
            f"{escape.markdown(rec.date[:10] or 'undated')}{smoke}")


def comparison_rows(report: RegressionReport) -> list[dict[str, str]]:
    """One display row per compared metric (shared by the markdown and HTML reports)."""
    rows = []
    for c in report.comparisons:
        b, k = c.baseline, c.current
        rows.append({
            "Metric": f"{METRICS.get(c.metric).title} {ARROWS[b.higher_is_better]}",
            "Baseline": format_score(b.value, b.ci_low, b.ci_high, b.std),
            "Current": format_score(k.value, k.ci_low, k.ci_high, k.std),
            "Δ": f"{c.delta:+.2f}",
            "Rule": c.rule.describe(b.value),
            "Result": ("REGRESSION: " if c.regressed else "pass: ") + c.reason,
        })
    return rows


def changes_frame(report: RegressionReport) -> pd.DataFrame:
    """One display row per change (shared by the markdown and HTML reports)."""
    return pd.DataFrame([{"Field": ch.field, "Baseline": short_value(ch.baseline), "Current": short_value(ch.current),
                          "Records": ", ".join(ch.metrics)} for ch in report.changes])


def _with_emoji(rows: pd.DataFrame) -> pd.DataFrame:
    """Prefix each decision with ✅ / ❌ for GitHub's markdown renderer."""
    rows["Result"] = [("❌ " if r.startswith("REGRESSION") else "✅ ") + r for r in rows["Result"]]
    return rows


def _markdown_titles(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with each metric's title (a registered spec's, any text) escaped for markdown."""
    return rows.assign(Metric=rows["Metric"].map(escape.markdown))


def _per_class_notes(report: RegressionReport) -> list[tuple[str, str]]:
    """(side, note) for each side whose FVD record says per-class FVD left generated classes out."""
    fvd = next((c for c in report.comparisons if c.metric == "fvd"), None)
    sides = (("baseline", fvd.baseline), ("current", fvd.current)) if fvd else ()
    return [(side, rec.extra["per_class_fvd_note"]) for side, rec in sides if rec.extra.get("per_class_fvd_note")]


def render_markdown(report: RegressionReport) -> str:
    """The markdown summary: verdict, both runs' provenance, the decisions, what changed, what was not compared."""
    n_bad = sum(c.regressed for c in report.comparisons)
    n = len(report.comparisons)
    verdict = f"FAIL — {n_bad} of {n} metrics regressed" if n_bad else f"PASS — no regression in {n} metrics"
    first = report.comparisons[0]
    gen = (first.current.generation_protocol or {}).get("name")
    code = escape.markdown_code
    protos = ", ".join(f"{c.metric} {code(c.current.protocol.get('name', '?'))}" for c in report.comparisons)
    generation = f"generation {code(gen)}" if gen else "no generation protocol recorded"
    smoke = f" [{SMOKE_MARK}]" if report.smoke else ""
    lines = [f"## vidrd-bench regression report{smoke}: {verdict}", "",
             *([f"> **{SMOKE_MARK}**: {SMOKE_WHY}", ""] if report.smoke else []),
             f"- Baseline {code(report.baseline_name)}: "
             f"{_provenance({c.metric: c.baseline for c in report.comparisons})}",
             f"- Current {code(report.current_name)}: {_provenance({c.metric: c.current for c in report.comparisons})}",
             f"- Protocols: {generation}, {protos}",
             *(f"- Per-class FVD of {side}: {escape.markdown(note)}" for side, note in _per_class_notes(report)), "",
             markdown_table(_with_emoji(_markdown_titles(pd.DataFrame(comparison_rows(report)))),
                            right=("Baseline", "Current", "Δ"))]
    lines.append("### What changed between baseline and current\n")
    if report.changes:
        lines.append(markdown_table(changes_frame(report).map(escape.markdown)))
    else:
        lines.append("Nothing recorded changed (weights, seeds, settings, version and commit are identical).\n")
    for side, names in ((report.baseline_name, report.only_baseline), (report.current_name, report.only_current)):
        if names:
            lines.append(f"Not compared: {escape.markdown(', '.join(names))} only in {code(side)}.\n")
    return "\n".join(lines)
