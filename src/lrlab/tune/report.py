"""The study report: ``report.html`` beside the trials, in the style of ``lrlab compare``'s
(its stylesheet, inline PNG figures, no script, font or network), with ``figures/*.png|svg``.

Sections: the best trial (its parameters, value and spread over folds, ``best.toml``, the final
retrain's test metrics), the best trials as a table, the figures (optimization history,
parameter importances, parallel coordinates, all learning curves, the best run's curves) and
how to reproduce the study. Every string read from the study is escaped.
"""

from __future__ import annotations

import base64
import math
import shlex
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lrlab import __version__
from lrlab.record import write_text
from lrlab.record.files import METRICS_CSV
from lrlab.record.metrics import read_metrics
from lrlab.report.page import document, png_size
from lrlab.report.plots import FORMATS, save_figure
from lrlab.tune import figures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT = "report.html"
FIGURES = "figures"
TABLE_ROWS = 15
MIN_IMPORTANCE_TRIALS = 10  # fewer complete trials give importances that are mostly noise
CAPTIONS = {
    "history": "Optimization history: each trial's value, and the best so far",
    "importances": "Parameter importances (fANOVA over the {complete} complete trials)",
    "parallel": "Parallel coordinates: the complete trials' parameters, coloured by value",
    "curves": "Learning curves of all trials: pruned ones in grey",
    "best_run": "The best trial's run: losses, monitored metric and learning rate per epoch",
}


def build_tune_report(
    folder: Path, study: optuna.Study, *, final: dict[str, Any] | None, storage: str
) -> Path:
    """Write ``figures/`` and ``report.html`` for ``study`` in ``folder``; return the page."""
    trials = study.get_trials(deepcopy=False)
    info = study.user_attrs.get("lrlab", {})
    monitor = str(info.get("monitor", "value"))
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    best = _best(study)
    drawn = study_figures(study, folder, best, monitor=monitor, maximize=maximize)
    target = folder / FIGURES
    target.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, figure in drawn.items():
        for suffix in FORMATS:
            save_figure(figure, target / f"{name}{suffix}")
        images[name] = (target / f"{name}.png").read_bytes()
    sections = [
        _best_section(folder, best, monitor, final),
        _trials_section(trials, best, monitor, maximize),
        _figures_section(images, complete_count(trials)),
        _reproduce_section(folder, study.study_name, storage),
    ]
    page = _page(study.study_name, _lede(trials, monitor, best, info), sections)
    path = folder / REPORT
    write_text(path, page)
    return path


def _best(study: optuna.Study) -> FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return study.best_trial if complete else None


def study_figures(
    study: optuna.Study, folder: Path, best: FrozenTrial | None, *, monitor: str, maximize: bool
) -> dict[str, Figure]:
    """The report's figures by name (importances and the best run only when there are some)."""
    trials = study.get_trials(deepcopy=False)
    drawn = {"history": figures.plot_history(trials, maximize=maximize, monitor=monitor)}
    complete = complete_count(trials)
    importances = param_importances(study) if complete >= MIN_IMPORTANCE_TRIALS else {}
    if importances:
        drawn["importances"] = figures.plot_importances(importances, trials=complete)
    drawn["parallel"] = figures.plot_parallel(trials, maximize=maximize, monitor=monitor)
    drawn["curves"] = figures.plot_trial_curves(trials, best=best.number if best else None, monitor=monitor)
    if best is not None:
        runs = best_run_metrics(folder, best)
        if runs:
            drawn["best_run"] = figures.plot_run(runs, monitor)
    return drawn


def complete_count(trials: list[FrozenTrial]) -> int:
    """The complete trials with a finite value: what importances are estimated from."""
    return sum(
        1
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(float(t.value))
    )


def param_importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances over the complete trials (empty when fewer than two or no spread)."""
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        return optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def best_run_metrics(folder: Path, best: FrozenTrial) -> list[tuple[dict[str, float], ...]]:
    """metrics.csv of the best trial (one per fold)."""
    run_dir = folder / str(best.user_attrs.get("run_dir", ""))
    paths = sorted(run_dir.glob(f"fold*/{METRICS_CSV}")) or [run_dir / METRICS_CSV]
    return [read_metrics(path) for path in paths if path.is_file()]


def _lede(trials: list[FrozenTrial], monitor: str, best: FrozenTrial | None, info: dict[str, Any]) -> str:
    states = [t.state for t in trials if not t.user_attrs.get("over_budget")]
    counts = {name: states.count(state) for name, state in (("complete", TrialState.COMPLETE),
              ("pruned", TrialState.PRUNED), ("failed", TrialState.FAIL))}  # fmt: skip
    done = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
    folds = f", {info['cv']}-fold cross-validation" if info.get("cv") else ""
    found = (
        f"best {monitor} {best.value:.4g} (trial {best.number})"
        if best and best.value is not None
        else "no complete trial yet"
    )
    return f"{len(states)} trials ({done}){folds}; {found}."


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """A table in the report's style; the first cell of each row heads it."""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    lines = []
    for first, *cells in rows:
        tds = "".join(f"<td>{escape(cell)}</td>" for cell in cells)
        lines.append(f'<tr><th scope="row">{escape(first)}</th>{tds}</tr>')
    body = "\n".join(lines)
    table = f"<table><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"
    return f'<div class="table-wrap">{table}</div>'


def _value(trial: FrozenTrial) -> str:
    if trial.value is None:
        return "—"
    spread = trial.user_attrs.get("cv_std")
    return f"{trial.value:.4g}" + (f" ± {spread:.2g}" if spread is not None else "")


def _best_section(folder: Path, best: FrozenTrial | None, monitor: str, final: dict[str, Any] | None) -> str:
    if best is None:
        return '<section id="best"><h2>Best trial</h2><p>No trial has completed yet.</p></section>'
    rows = [
        [name, f"{value:.4g}" if isinstance(value, float) else str(value)]
        for name, value in best.params.items()
    ]
    rows.insert(0, [monitor, _value(best)])
    parts = [f'<section id="best"><h2>Best trial: {best.number}</h2>', _table(["parameter", "value"], rows)]
    if final:
        test = ", ".join(f"{key} {value:.4g}" for key, value in final.get("test", {}).items())
        parts.append(
            f"<h3>Final retrain</h3><p>Trained on {final.get('train_samples')} samples (training and "
            f"validation data) for {final.get('epochs')} epochs, then evaluated once: "
            f"<strong>{escape(test)}</strong>. Weights: {escape(str(final.get('run_dir')))}/model.pt.</p>"
        )
        parts += [_collapse_line(skip) for skip in final.get("skipped", [])]
        if final.get("collapsed"):
            parts.append(_collapse_line(final, " It is kept: none of the best trials retrained soundly."))
    toml = folder / "best.toml"
    if toml.is_file():  # the whole experiment: folded, so the page opens with the results
        parts.append(
            f"<details><summary>best.toml ({len(toml.read_text(encoding='utf-8').splitlines())} lines: "
            f"the best trial as an experiment file for <code>lrlab train</code>)</summary>"
            f"<pre><code>{escape(toml.read_text(encoding='utf-8'))}</code></pre></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _collapse_line(retrain: dict[str, Any], then: str = "") -> str:
    reason = escape(str(retrain["collapsed"]))
    return f"<p>The retrain of trial {retrain['trial']} collapsed: {reason}.{escape(then)}</p>"


def _trials_section(trials: list[FrozenTrial], best: FrozenTrial | None, monitor: str, maximize: bool) -> str:
    ranked = [
        t for t in trials if t.value is not None and t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    ]
    ranked.sort(key=lambda t: (t.state != TrialState.COMPLETE, -t.value if maximize else t.value))  # type: ignore[operator]
    names = list(dict.fromkeys(name for t in ranked for name in t.params))
    rows = []
    for trial in ranked[:TABLE_ROWS]:
        seconds = f"{trial.duration.total_seconds():.1f}" if trial.duration else "—"
        params = [_param(trial.params.get(name)) for name in names]
        epochs = str(trial.user_attrs.get("epochs", "—"))
        rows.append([str(trial.number), trial.state.name.lower(), _value(trial), epochs, seconds, *params])
    headers = ["trial", "state", monitor, "epochs", "seconds", *names]
    note = (
        f'<p class="note">The {min(TABLE_ROWS, len(ranked))} best of {len(ranked)} finished trials; '
        "pruned trials show their last reported value. All trials are in trials.csv.</p>"
    )
    return f'<section id="trials"><h2>Trials</h2>{_table(headers, rows)}{note}</section>'


def _param(value: object) -> str:
    return "—" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _figures_section(images: dict[str, bytes], complete: int) -> str:
    items = []
    for name, png in images.items():
        width, height = png_size(png)
        data = base64.b64encode(png).decode("ascii")
        caption = escape(CAPTIONS.get(name, name).format(complete=complete))
        items.append(
            f'<figure><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
            f'alt="{caption}"><figcaption>{caption}</figcaption></figure>'
        )
    missing = (
        f" Parameter importances are drawn from {MIN_IMPORTANCE_TRIALS} complete trials on "
        f"({complete} so far): from fewer they are mostly noise."
        if "importances" not in images
        else ""
    )
    return (
        f'<section id="figures"><h2>Figures</h2><div class="figures">{"".join(items)}</div>'
        f'<p class="note">PNG and SVG files are in {FIGURES}/.{missing}</p></section>'
    )


def _reproduce_section(folder: Path, name: str, storage: str) -> str:
    commands = [
        f"lrlab tune {shlex.quote(str(folder / 'experiment.toml'))} --study {shlex.quote(name)} "
        f"--out {shlex.quote(str(folder.parent))}   # continues this study",
        f"lrlab train {shlex.quote(str(folder / 'best.toml'))}",
    ]
    experiment = (
        (folder / "experiment.toml").read_text(encoding="utf-8")
        if (folder / "experiment.toml").is_file()
        else ""
    )
    return (
        '<section id="reproduce"><h2>Reproduce</h2>'
        f"<p>Storage: <code>{escape(storage)}</code>.</p>"
        f"<pre><code>{escape(chr(10).join(commands))}</code></pre>"
        f"<details><summary>experiment.toml</summary><pre><code>{escape(experiment)}</code></pre>"
        "</details></section>"
    )


def _page(title: str, lede: str, sections: list[str]) -> str:
    footer = f"Written by lrlab {__version__} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC."
    return document(
        title,
        kicker="lrlab tuning study",
        tab="lrlab tuning report",
        lede=lede,
        sections=sections,
        footer=footer,
    )
