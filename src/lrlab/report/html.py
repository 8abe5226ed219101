"""The comparison report: one self-contained HTML page beside the runs.

:func:`build_report` reads a comparison directory (see :mod:`lrlab.report.runs`), rewrites
``summary.csv`` and ``figures/`` (PNG and SVG) from the run directories alone, and writes
``report.html``: the summary table, the figures (inline PNG data URIs), the experiment file and
the versions to re-run it. The page needs no script, font or network; it reads on a laptop and
on a phone (the table scrolls sideways, images shrink to the screen). Every string read from a
file is escaped.
"""

from __future__ import annotations

import base64
import os
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from lrlab import __version__
from lrlab.record import write_text
from lrlab.record.files import EXPERIMENT_TOML, dig
from lrlab.report.comparison import comparison_figures, save_comparison_figures
from lrlab.report.page import document, png_size
from lrlab.report.plots import LABELS, variant_colors
from lrlab.report.records import SUMMARY_CSV, VariantRow, aggregate, stat_heading, write_summary_csv
from lrlab.report.runs import RunRecord, load_runs, nonfinite_cells, read_experiment

REPORT = "report.html"
FIGURES = "figures"
VERSION_KEYS = ("lrlab", "torch", "python", "numpy")


@dataclass(frozen=True)
class Page:
    """What the page shows; every string is raw (escaped when rendered)."""

    title: str
    description: str
    rows: Sequence[VariantRow]
    colors: Mapping[str, str]
    images: Mapping[str, bytes]  # figure name → PNG bytes
    experiment_toml: str
    versions: Mapping[str, Sequence[str]]
    commands: Sequence[str]
    footer: str
    nonfinite: int = 0  # metrics.csv cells holding nan or inf


def build_report(compare_dir: str | os.PathLike[str]) -> Path:
    """Rebuild ``summary.csv``, ``figures/*.png|svg`` and ``report.html`` in ``compare_dir``
    from its experiment.toml and run directories; return the path of ``report.html``.

    Raises:
        LrlabError: not a comparison directory, or a missing or damaged file (named).
    """
    root = Path(compare_dir)
    records = load_runs(root)
    toml_text, experiment = read_experiment(root)
    rows = aggregate(records)
    write_summary_csv(rows, root / SUMMARY_CSV)
    figures = comparison_figures(records)
    save_comparison_figures(figures, root / FIGURES)
    name = str(experiment.get("name") or root.resolve().name)
    page = Page(
        title=name,
        description=describe(experiment, records),
        rows=rows,
        colors=variant_colors(row.variant for row in rows),
        images={key: (root / FIGURES / f"{key}.png").read_bytes() for key in figures},
        experiment_toml=toml_text,
        versions=collect_versions(records),
        commands=rerun_commands(root, name),
        footer=f"Written by lrlab {__version__} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"from {len(records)} runs.",
        nonfinite=nonfinite_cells(records),
    )
    return write_text(root / REPORT, render_page(page))


def describe(experiment: Mapping[str, Any], records: Sequence[RunRecord]) -> str:
    """The page's one-line description: the file's ``description`` key, else a summary of the
    comparison from the runs' configs (values that differ between variants joined by " / ")."""
    if isinstance(experiment.get("description"), str) and experiment["description"].strip():
        return str(experiment["description"])
    variants = len({record.variant for record in records})
    seeds = max(Counter(record.variant for record in records).values())

    def each(part: str, key: str) -> str:
        values = (dig(r.config, "experiment", part, key, default="?") for r in records)
        return " / ".join(dict.fromkeys(map(str, values)))

    lrs = " / ".join(dict.fromkeys(f"{record.lr:g}" for record in records))
    return (
        f"{variants} variant{'s' * (variants != 1)} × {seeds} seed{'s' * (seeds != 1)}: "
        f"{each('task', 'model')} on {each('task', 'dataset')}, {each('optimizer', 'name')} with "
        f"base LR {lrs}, {each('train', 'epochs')} epochs, the LR set per {each('train', 'interval')}."
    )


def rerun_commands(root: Path, name: str) -> list[str]:
    """Commands that train the comparison again into a new folder and build its report
    (``lrlab compare`` writes ``<out>/<name>/``)."""
    out = root.parent / f"{root.name}-rerun"
    return [
        f"lrlab compare {shlex.quote(str(root / EXPERIMENT_TOML))} --out {shlex.quote(str(out))}",
        f"lrlab report {shlex.quote(str(out / name))}",
    ]


def collect_versions(records: Iterable[RunRecord]) -> dict[str, list[str]]:
    """Per package, the distinct versions the runs' config.json files record."""
    versions: dict[str, list[str]] = {}
    for record in records:
        for key, value in record.versions.items():
            if value not in versions.setdefault(key, []):
                versions[key].append(value)
    ordered = [key for key in VERSION_KEYS if key in versions] + sorted(set(versions) - set(VERSION_KEYS))
    return {key: versions[key] for key in ordered}


def render_page(page: Page) -> str:
    """The HTML of ``page``."""
    sections = [_summary_section(page), _figures_section(page), _reproduce_section(page)]
    return document(
        page.title, kicker="lrlab comparison", tab="lrlab report", lede=page.description,
        sections=sections, footer=page.footer,
    )  # fmt: skip


COLUMNS = (  # the summary table's statistics and their formats; shown when any row has them
    ("final_val_acc", ".4f"),
    ("best_val_acc", ".4f"),
    ("final_val_loss", "#.4g"),
    ("best_val_loss", "#.4g"),
    ("test_acc", ".4f"),
    ("test_loss", "#.4g"),
    ("best_epoch", ".1f"),
    ("epochs", ".1f"),
)


def _summary_section(page: Page) -> str:
    monitors = sorted({row.monitor for row in page.rows})
    shown = [(name, spec) for name, spec in COLUMNS if any(name in row.stats for row in page.rows)]
    heads = ["variant", "seeds"]
    heads += [stat_heading(name, monitors) for name, _ in shown]
    heads += ["stop reason(s)", "training time per run (s)"]
    head = "".join(f'<th scope="col">{escape(text)}</th>' for text in heads)
    body = "\n".join(_table_row(row, page.colors, shown) for row in page.rows)
    chosen = (
        f"the epoch of the best {monitors[0]}"
        if len(monitors) == 1
        else "the best epoch by each run's monitor"
    )
    test = (
        " Test: the held-out test split, evaluated once after training with the weights the run"
        " kept; compare it with validation before trusting a ranking."
        if any(name.startswith("test_") for name, _ in shown)
        else ""
    )
    return (
        '<section id="summary"><h2>Summary</h2>'
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
        '<p class="note">Mean ± sample standard deviation over seeds (a single seed shows its '
        f"value). Columns “at best …” hold the metric at {escape(chosen)} (the epoch best.pt "
        f"holds), which need not be that metric's own best.{test} The same numbers are in "
        f"{SUMMARY_CSV}.</p>{_damage_note(page)}</section>"
    )


def _damage_note(page: Page) -> str:
    if not page.nonfinite:
        return ""
    cells = f"{page.nonfinite} cell{'s' * (page.nonfinite != 1)}"
    return (
        f'<p class="note warn">{cells} of the runs\' metrics.csv hold nan or inf (a diverged or '
        "edited run); the curves leave them out.</p>"
    )


def _table_row(row: VariantRow, colors: Mapping[str, str], shown: Sequence[tuple[str, str]]) -> str:
    def cell(name: str, spec: str) -> str:
        stat = row.stats.get(name)
        return f"<td>{escape(stat.format(spec)) if stat else '—'}</td>"

    swatch = f'<span class="swatch" style="background:{escape(colors.get(row.variant, "#888"))}"></span>'
    cells = [f'<th scope="row">{swatch}{escape(row.variant)}</th>']
    cells.append(f"<td>{escape(', '.join(map(str, row.seeds)))}</td>")
    cells += [cell(name, spec) for name, spec in shown]
    cells.append(f'<td class="reasons">{escape(row.reasons())}</td>')
    cells.append(cell("seconds", "#.3g"))
    return f"<tr>{''.join(cells)}</tr>"


def _figures_section(page: Page) -> str:
    items = []
    for name, png in page.images.items():
        label = LABELS.get(name, name)
        width, height = png_size(png)
        data = base64.b64encode(png).decode("ascii")
        items.append(
            f'<figure><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
            f'alt="{escape(label)} against epoch, one curve per variant">'
            f"<figcaption>{escape(label)}</figcaption></figure>"
        )
    return (
        f'<section id="figures"><h2>Curves</h2><div class="figures">{"".join(items)}</div>'
        f'<p class="note">Lines: the mean over seeds; bands: the lowest to the highest seed. '
        f"The learning rates are drawn from the schedule specs. PNG and SVG files are in "
        f"{FIGURES}/.</p></section>"
    )


def _reproduce_section(page: Page) -> str:
    versions = "".join(
        f"<tr><th scope='row'>{escape(key)}</th><td>{escape(', '.join(values))}</td></tr>"
        for key, values in page.versions.items()
    )
    commands = escape("\n".join(page.commands))
    return (
        '<section id="reproduce"><h2>Reproduce</h2>'
        "<p>Train the comparison again (into a new folder), then build its report:</p>"
        f"<pre><code>{commands}</code></pre>"
        f'<h3>Versions</h3><div class="table-wrap narrow"><table>{versions}</table></div>'
        f"<h3>experiment.toml</h3><pre><code>{escape(page.experiment_toml)}</code></pre></section>"
    )
