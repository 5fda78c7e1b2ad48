"""Charts of the HTML report, drawn with matplotlib and embedded as inline SVG: scores with their intervals
beside the published rows, per-class FVD of baseline and current in one class order, and the FVD@N curve."""

from __future__ import annotations

import io
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vidrd_bench.core.errors import VidrdBenchError, brief  # noqa: E402
from vidrd_bench.core.limits import RECORD_BYTES, read_text  # noqa: E402
from vidrd_bench.metrics.registry import metric_specs  # noqa: E402
from vidrd_bench.report.escape import matplotlib_text, xml_attr  # noqa: E402

OURS, PUBLISHED, SECOND, SMOKE = "#1f5fa8", "#9a9a9a", "#d9822b", "#b00020"
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})


def _svg(fig, alt: str) -> str:
    """The figure as an inline <svg> element with an accessible title, then closed."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    svg = text[text.index("<svg"):]
    return svg.replace("<svg", f'<svg role="img" aria-label="{xml_attr(alt)}" class="vidrd-plot"', 1)


def _interval(row: pd.Series, metric: str) -> tuple[float, float] | None:
    """(below, above) error-bar lengths from a row's interval, or None without one."""
    lo, hi = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return None
    return row[metric] - lo, hi - row[metric]


def scores_chart(table: pd.DataFrame) -> str:
    """Every metric's score in every row (ours with 95% intervals, published in grey), one panel per metric present,
    best at the top in the spec's direction."""
    panels = [(spec, table[table[spec.name].notna()]) for spec in metric_specs() if spec.name in table.columns]
    panels = [(spec, rows) for spec, rows in panels if len(rows)]
    height = max(2.0, 0.28 * max(len(rows) for _, rows in panels) + 0.9)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), height), squeeze=False, layout="constrained")
    for ax, (spec, rows) in zip(axes[0], panels):
        metric = spec.name
        rows = rows.sort_values(metric, ascending=spec.higher_is_better, kind="stable")
        y = np.arange(len(rows))
        for i, (_, row) in enumerate(rows.iterrows()):
            ours = row["kind"] == "ours"
            err = _interval(row, metric)
            ax.errorbar(row[metric], i, xerr=None if err is None else [[err[0]], [err[1]]],
                        fmt="x" if row["smoke"] else "o", color=SMOKE if row["smoke"] else OURS if ours else PUBLISHED,
                        capsize=3, markersize=5 if ours else 4)
        ax.set_yticks(y, [matplotlib_text(m) + (" [SMOKE]" if smoke else "")
                          for m, smoke in zip(rows["method"], rows["smoke"])])
        for tick, kind, smoke in zip(ax.get_yticklabels(), rows["kind"], rows["smoke"]):
            tick.set_fontweight("bold" if kind == "ours" else "normal")
            tick.set_color(SMOKE if smoke else "black")
        ax.set_xlabel(f"{matplotlib_text(spec.title)} ({spec.direction}); ours with 95% bootstrap interval")
        if rows["smoke"].any():
            ax.set_title("SMOKE rows (red x): random weights, not a score", fontsize=8, color=SMOKE)
        ax.grid(axis="x", alpha=0.3)
    titles = " and ".join(spec.title for spec, _ in panels)
    smoke = "; SMOKE rows are random-weight numbers, not scores" if table["smoke"].any() else ""
    return _svg(fig, f"{titles} of our runs with 95% intervals beside the published UCF-101 results{smoke}")


def per_class_figure(per_class: dict[str, dict[str, float]]):
    """The per-class chart's matplotlib figure: grouped horizontal bars, classes in one order (the first run's, best
    first), the legend above the axes so it never covers the axis title beneath."""
    names = list(per_class)
    first = per_class[names[0]]
    classes = sorted(set().union(*per_class.values()), key=lambda c: (first.get(c, math.inf), c))
    bar = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(7.5, max(2.0, 0.22 * len(classes) * len(names) + 0.9)))
    y = np.arange(len(classes))
    for k, (name, color) in enumerate(zip(names, (OURS, SECOND, PUBLISHED, "#5a9e4b"))):
        values = [per_class[name].get(c, np.nan) for c in classes]
        ax.barh(y + (k - (len(names) - 1) / 2) * bar, values, height=bar, color=color, label=matplotlib_text(name))
    ax.set_yticks(y, [matplotlib_text(c) for c in classes])
    ax.invert_yaxis()
    ax.set_xlabel("FVD per class (lower is better)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(names), 2), fontsize=8, frameon=False)
    return fig


def per_class_chart(per_class: dict[str, dict[str, float]]) -> str:
    """Grouped horizontal bars: every run's FVD per class, classes in one order (the first run's, best first)."""
    return _svg(per_class_figure(per_class), "per-class FVD, " + " and ".join(per_class) + " side by side")


def fvd_at_n_chart(calibration: dict) -> str:
    """FVD@N against the number of generated videos, with the FVD_inf + k/N fit and the real-vs-real floor."""
    ladder = calibration["fvd_at_n"]
    n, values = np.asarray(ladder["n"], float), np.asarray(ladder["fvd"], float)
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    ax.plot(n, values, "o-", color=OURS, label="FVD@N")
    fit = calibration.get("fvd_inf") or {}
    if np.isfinite(fit.get("fvd_inf", np.nan)):
        grid = np.geomspace(n.min(), n.max() * 4, 60)
        ax.plot(grid, fit["fvd_inf"] + fit["k"] / grid, "--", color=SECOND,
                label=f"fit FVD_inf + k/N (FVD_inf = {fit['fvd_inf']:.4g})")
    floor = (calibration.get("real_vs_real_floor") or {}).get("fvd")
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color=PUBLISHED, linestyle=":", label=f"real vs real floor ({floor:.4g})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("generated videos N")
    ax.set_ylabel("FVD")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    about = fvd_at_n_about(calibration)
    ax.set_title(matplotlib_text(about), fontsize=8, color=SMOKE if calibration.get("smoke") else "black", wrap=True)
    return _svg(fig, f"FVD at N videos with its extrapolation to infinitely many videos: {about}")


def fvd_at_n_about(calibration: dict) -> str:
    """Which videos and protocol an FVD@N curve measures, and whether its detectors were random (smoke)."""
    fake, real = calibration.get("fake"), calibration.get("real")
    fake, real = fake or "(not recorded)", real or "(not recorded)"
    text = f"{calibration.get('default_fvd') or 'FVD'}: generated {fake} vs real {real}"
    if calibration.get("smoke"):
        text += " — SMOKE: random-weight detectors, not a score"
    return text


def read_calibration(path: str | os.PathLike) -> dict:
    """A `vidrd-bench calibrate` record (JSON with an 'fvd_at_n' ladder {n: [...], fvd: [...]}) for the report."""
    try:
        data = json.loads(read_text(path, RECORD_BYTES, f"Calibration record {path}"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VidrdBenchError(f"Calibration record {path} cannot be read as JSON ({brief(e)}); pass the --out file "
                              "of `vidrd-bench calibrate`.") from None
    ladder = data.get("fvd_at_n") if isinstance(data, dict) else None
    if not isinstance(ladder, dict) or len(ladder.get("n") or []) != len(ladder.get("fvd") or []):
        raise VidrdBenchError(f"{path} holds no FVD@N ladder ('fvd_at_n' with equal-length 'n' and 'fvd' lists); "
                              "pass the --out file of `vidrd-bench calibrate`.")
    return data
