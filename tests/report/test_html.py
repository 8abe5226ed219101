"""build_report and ``lrlab report``: the files it writes, a self-contained page with the table
and the images, escaping of every string read from files, and the comparison figures."""

from __future__ import annotations

import base64
import html
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from lrlab.cli import main
from lrlab.report.comparison import comparison_figures, plot_lr, plot_metric
from lrlab.report.html import build_report
from lrlab.report.page import png_size
from lrlab.report.plots import PALETTE, variant_colors
from lrlab.report.runs import load_runs
from tests.report.conftest import FAKE, FakeRun, write_comparison

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("train_loss", "val_loss", "val_acc", "lr")


class Page(HTMLParser):
    """The parts of a page the tests look at: tags, attributes, table cells, images."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []
        self.images: list[str] = []
        self._in_body = False
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in ("td", "th") and self._in_body:
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The fake comparison's report, built once for the tests that only read it."""
    path = build_report(write_comparison(tmp_path_factory.mktemp("built") / "cmp", FAKE))
    return path, path.read_text(encoding="utf-8")


def test_build_report_writes_the_page_the_csv_and_png_and_svg_figures(built: tuple[Path, str]) -> None:
    path, _ = built
    fake_dir = path.parent
    assert path.name == "report.html"
    assert (
        (fake_dir / "summary.csv").read_text(encoding="utf-8").startswith("variant,runs,final_val_acc_mean,")
    )
    for name in FIGURES:
        png = (fake_dir / "figures" / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC)
        assert png_size(png) == (960, 660)  # 6.4 × 4.4 inches at 150 dpi
        root = ET.parse(fake_dir / "figures" / f"{name}.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert not [p for p in fake_dir.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_the_page_is_self_contained(built: tuple[Path, str]) -> None:
    _, text = built
    page = Page(text)
    assert "http://" not in text and "https://" not in text
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    assert "url(" not in text and "@import" not in text
    for name, value in page.attributes:
        if name in ("src", "href", "srcset", "action", "poster"):
            assert value.startswith("data:image/png;base64,"), (name, value[:40])
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text


def test_the_page_has_the_summary_rows_the_figures_and_the_reproduction(built: tuple[Path, str]) -> None:
    path, text = built
    fake_dir = path.parent
    page = Page(text)
    table = [row for row in page.rows if len(row) > 2]
    assert [row[0] for row in table] == ["constant", "cosine", "multistep"]
    constant = table[0]  # variant, seeds, final acc, acc at best, final loss, best loss, test acc, ...
    assert constant[:9] == ["constant", "0, 1", "0.7000 ± 0.1414", "0.7500 ± 0.0707", "0.6000 ± 0.2828",
                            "0.5000 ± 0.1414", "0.6500 ± 0.0707", "2.5 ± 0.7", "3.0 ± 0.0"]  # fmt: skip
    assert constant[9:] == ["finished 3 epochs ×2", "6.00 ± 1.41"]
    assert "early-stopped: val_loss did not improve for 1 epoch ×1" in table[1][9]
    assert len(page.images) == len(FIGURES)
    for src, name in zip(page.images, FIGURES, strict=True):
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"))
        assert png == (fake_dir / "figures" / f"{name}.png").read_bytes()
    toml = (fake_dir / "experiment.toml").read_text(encoding="utf-8")
    assert f"<pre><code>{html.escape(toml)}</code></pre>" in text
    rerun = f"{fake_dir}-rerun"
    assert (
        f"lrlab compare {fake_dir}/experiment.toml --out {rerun}\nlrlab report {rerun}/fake-schedules" in text
    )
    for version in ("0.1.0", "2.13.0+cpu", "3.11.7"):
        assert version in text
    assert "<title>fake-schedules · lrlab report</title>" in text
    description = "3 variants × 2 seeds: mlp on digits, sgd() with base LR 0.1 / 0.2, 3 epochs"
    assert f"{description}, the LR set per step / epoch.</p>" in text


def test_a_regression_comparison_has_no_accuracy_columns_or_figure(tmp_path: Path) -> None:
    root = write_comparison(tmp_path / "cmp", {"mse": {0: FakeRun([2.0, 1.0]), 1: FakeRun([3.0, 1.5])}})
    page = Page(build_report(root).read_text(encoding="utf-8"))
    assert "val acc" not in " ".join(page.rows[0]) and len(page.images) == 3
    assert sorted(p.name for p in (root / "figures").iterdir()) == sorted(
        f"{name}.{ext}" for name in ("train_loss", "val_loss", "lr") for ext in ("png", "svg")
    )


HOSTILE = "<img src=x onerror=alert(1)>&$x$_'\""


def test_every_string_from_files_is_escaped(tmp_path: Path) -> None:
    run = FakeRun([1.0, 0.5], [0.5, 0.6], stop_reason="<script>alert('stop')</script>")
    runs = {HOSTILE: {0: run, 1: run}, "_plain": FAKE["constant"]}
    extra = 'description = "</p><script>alert(2)</script>"\nnote = "</code></pre><b>bold</b>"\n'
    root = write_comparison(tmp_path / "cmp", runs, name="<i>name</i>", toml_extra=extra)
    config_path = root / "runs" / HOSTILE / "seed0" / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["versions"]["torch"] = "<b>2.13</b>"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    text = build_report(root).read_text(encoding="utf-8")
    for raw in (HOSTILE, "<script>", "<i>name</i>", "</p><script>", "<b>bold</b>", "<b>2.13</b>"):
        assert raw not in text
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;$x$_&#x27;&quot;" in text
    assert "&lt;i&gt;name&lt;/i&gt;" in text and "&lt;b&gt;2.13&lt;/b&gt;" in text
    assert "script" not in Page(text).tags
    assert [row[0] for row in Page(text).rows if len(row) > 2] == [HOSTILE, "_plain"]


# --- lrlab report ------------------------------------------------------------------------------


def test_the_command_rebuilds_everything_and_prints_the_path(
    fake_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (fake_dir / "summary.csv").write_text("stale\n", encoding="utf-8")
    assert main(["report", str(fake_dir)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{fake_dir / 'report.html'}\n" and err == ""
    assert (fake_dir / "summary.csv").read_text(encoding="utf-8").startswith("variant,")
    assert len(list((fake_dir / "figures").iterdir())) == 8


@pytest.mark.parametrize("make", ["empty", "run-dir"])
def test_a_directory_that_is_not_a_comparison_exits_2_with_one_line(
    tmp_path: Path, fake_dir: Path, capsys: pytest.CaptureFixture[str], make: str
) -> None:
    target = tmp_path / "empty" if make == "empty" else fake_dir / "runs" / "constant" / "seed0"
    target.mkdir(exist_ok=True)
    assert main(["report", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"lrlab: error: {target} is not a comparison directory")


def test_a_missing_experiment_file_exits_2_naming_it(
    fake_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (fake_dir / "experiment.toml").unlink()
    assert main(["report", str(fake_dir)]) == 2
    assert capsys.readouterr().err == f"lrlab: error: {fake_dir / 'experiment.toml'} is missing.\n"


def test_a_real_run_makes_a_report(real_run_dir: Path) -> None:
    summary = json.loads((real_run_dir / "runs/constant/seed0/summary.json").read_text(encoding="utf-8"))
    page = Page(build_report(real_run_dir).read_text(encoding="utf-8"))
    (row,) = [row for row in page.rows if len(row) > 2]
    assert row[:3] == ["constant", "0", f"{summary['final']['val_acc']:.4f}"]  # one seed: no ± std
    assert len(page.images) == 4


# --- the figures ----------------------------------------------------------------------------


def test_plots_return_figures_and_draw_on_a_given_ax(fake_dir: Path) -> None:
    records = load_runs(fake_dir)
    figure = plot_metric(records, "val_loss")
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["constant", "cosine", "multistep"]
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([0.95, 0.55, 0.6])
    assert len(ax.collections) == 3  # one band per variant
    assert plot_lr(records, ax=ax) is figure
    with pytest.raises(ValueError, match="metric must be a column"):
        plot_metric(records, "val_f1")


def test_a_variant_has_one_colour_in_every_figure(fake_dir: Path) -> None:
    records = load_runs(fake_dir)
    colors = variant_colors(r.variant for r in records)
    assert list(colors.values()) == list(PALETTE[:3])
    for name, figure in comparison_figures(records).items():
        lines = figure.axes[0].get_lines()
        assert [line.get_color() for line in lines] == list(PALETTE[:3]), name


def test_legend_entries_show_names_with_dollars_and_underscores_as_written(tmp_path: Path) -> None:
    root = write_comparison(tmp_path / "cmp", {"$x$": FAKE["constant"], "_y": FAKE["cosine"]})
    figure = plot_metric(load_runs(root), "val_acc")
    (legend,) = figure.legends  # below the axes, on the figure
    texts = [text.get_text() for text in legend.get_texts()]
    assert texts == [r"\$x\$", " _y"]
    figure.canvas.draw()  # mathtext would fail on a lone "$"
