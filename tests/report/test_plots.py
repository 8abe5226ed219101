"""plot_schedule draws the schedule's values; save_figure writes atomically by suffix."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lrlab.errors import LrlabError
from lrlab.report import check_figure_path, plot_schedule, save_figure
from lrlab.report.plots import BUCKETS
from lrlab.schedules import parse

SPEC = "warmup(steps=5, start=0.0) >> cosine(steps=15, end=0.0333)"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def line_data(ax: Axes, index: int = 0) -> tuple[list[int], list[float]]:
    """The steps and values of the ``index``-th curve drawn on ``ax``."""
    line = ax.get_lines()[index]
    xs = np.asarray(line.get_xdata(), dtype=float)
    return [int(x) for x in xs], np.asarray(line.get_ydata(), dtype=float).tolist()


# --- plot_schedule ----------------------------------------------------------------------------


def test_plot_draws_every_step_and_is_titled_with_the_spec() -> None:
    schedule = parse(SPEC)
    figure = plot_schedule(schedule, 20)
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    assert len(ax.get_lines()) == 1
    assert line_data(ax) == (list(range(20)), schedule.values(20))
    assert ax.get_title().replace("\n", " ") == str(schedule)
    assert ax.get_legend() is None


def test_plot_accepts_a_spec_string_and_shows_absolute_lrs() -> None:
    figure = plot_schedule(SPEC, 20, lr=0.3)
    ax = figure.axes[0]
    assert line_data(ax)[1] == [0.3 * value for value in parse(SPEC).values(20)]
    assert ax.get_ylabel() == "learning rate"


def test_long_titles_wrap_but_keep_the_spec() -> None:
    spec = " >> ".join(["constant(value=0.5, steps=3)"] * 6) + " >> cosine(steps=10)"
    title = plot_schedule(spec, 30).axes[0].get_title()
    assert "\n" in title
    assert title.replace("\n", " ") == str(parse(spec))


def test_plot_on_a_given_ax_returns_its_figure_and_adds_a_legend() -> None:
    figure = plot_schedule("cosine(steps=10)", 10)
    ax = figure.axes[0]
    again = plot_schedule("linear(steps=10)", 10, ax=ax, label="linear")
    assert again is figure
    assert len(figure.axes) == 1
    assert len(ax.get_lines()) == 2
    assert ax.get_title() == "cosine(steps=10)"
    legend = ax.get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == ["cosine(steps=10)", "linear"]


def test_label_and_log_y() -> None:
    ax = plot_schedule("exponential(gamma=0.9)", 50, label="decay", log_y=True).axes[0]
    assert ax.get_yscale() == "log"
    legend = ax.get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == ["decay"]


def test_long_curves_are_decimated_without_losing_the_envelope() -> None:
    schedule = parse("cyclic(steps_up=3, start=0.1)")  # a period of 6 steps: fast wiggles
    steps = 20 * BUCKETS
    xs, ys = line_data(plot_schedule(schedule, steps).axes[0])
    values = schedule.values(steps)
    assert len(xs) <= 4 * BUCKETS
    assert xs == sorted(set(xs))
    assert (xs[0], xs[-1]) == (0, steps - 1)
    assert ys == [values[x] for x in xs]
    assert (min(ys), max(ys)) == (min(values), max(values))


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": True}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": 10, "lr": 0.0}, "lr"),
        ({"steps": 10, "lr": float("inf")}, "lr"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(LrlabError, match=f"^{param} must be"):
        plot_schedule("cosine(steps=10)", **kwargs)  # type: ignore[arg-type]


def test_plotting_leaves_pyplot_alone() -> None:
    if "matplotlib.pyplot" in sys.modules:
        pytest.skip("another test imported pyplot first")
    plot_schedule("cosine(steps=10)", 10)
    assert "matplotlib.pyplot" not in sys.modules


# --- save_figure ------------------------------------------------------------------------------


@pytest.fixture
def figure() -> Figure:
    return plot_schedule(SPEC, 20)


def test_save_png_and_svg_leave_only_the_target(figure: Figure, tmp_path: Path) -> None:
    png = save_figure(figure, tmp_path / "curve.png")
    svg = save_figure(figure, str(tmp_path / "curve.SVG"))
    assert png == tmp_path / "curve.png"
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert "<svg" in svg.read_text()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["curve.SVG", "curve.png"]


def test_save_writes_a_temp_file_in_the_same_directory_then_replaces(
    figure: Figure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        moves.append((Path(source), Path(target)))
        assert Path(source).read_bytes().startswith(PNG_MAGIC)  # complete before the move
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    save_figure(figure, tmp_path / "curve.png")
    ((source, target),) = moves
    assert source.parent == tmp_path
    assert target == tmp_path / "curve.png"


def test_a_failed_save_keeps_the_old_file_and_no_temp(
    figure: Figure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "curve.png"
    target.write_bytes(b"old")

    def broken_savefig(file: object, **kwargs: object) -> None:
        file.write(b"half an image")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    monkeypatch.setattr(figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(figure, target)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_saved_file_mode_follows_the_umask(figure: Figure, tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = save_figure(figure, tmp_path / "curve.png")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("name", "shown"), [("curve.pdf", "'.pdf'"), ("curve.jpeg", "'.jpeg'"), ("curve", "no suffix")]
)
def test_bad_suffix_names_the_suffix_and_the_fix(
    figure: Figure, tmp_path: Path, name: str, shown: str
) -> None:
    with pytest.raises(LrlabError) as caught:
        save_figure(figure, tmp_path / name)
    message = str(caught.value)
    assert shown in message
    assert "Write curve.png or curve.svg." in message
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_an_lrlab_error(figure: Figure, tmp_path: Path) -> None:
    with pytest.raises(LrlabError, match="existing directory"):
        save_figure(figure, tmp_path / "missing" / "curve.png")


def test_check_figure_path_names_the_callers_parameter(tmp_path: Path) -> None:
    assert check_figure_path(tmp_path / "a.png") == "png"
    assert check_figure_path(tmp_path / "a.Svg") == "svg"
    with pytest.raises(LrlabError, match=r"^--plot must end in \.png or \.svg"):
        check_figure_path("a.gif", param="--plot")
