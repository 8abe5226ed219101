"""One self-contained page in the report style, shared by the comparison and the tuning
reports: the stylesheet inline, figures as PNG data URIs, no script, font or network; it reads on
a laptop and on a phone (tables and figures scroll sideways, images shrink to the screen)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from html import escape


def document(title: str, *, kicker: str, tab: str, lede: str, sections: Sequence[str], footer: str) -> str:
    """One self-contained page in the report style (the comparison and the tuning reports):
    ``kicker`` above the title, ``tab`` after it in the window title, the ``sections`` (HTML)."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)} · {escape(tab)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            f'<header><p class="kicker">{escape(kicker)}</p><h1>{escape(title)}</h1>',
            f'<p class="lede">{escape(lede)}</p></header>',
            *sections,
            f"<footer>{escape(footer)}</footer>",
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's header."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


CSS = """
:root { --fg: #1d2430; --muted: #5b6474; --line: #d9dee7; --bg: #fff; --panel: #f4f6fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 1rem 1.25rem 2rem; }
h1 { font-size: 1.7rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 .75rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1.25rem 0 .5rem; }
.kicker { margin: 0; color: var(--muted); font-size: .85rem; text-transform: uppercase;
  letter-spacing: .06em; }
.lede { margin: 0; color: var(--muted); }
.note { color: var(--muted); font-size: .875rem; }
.table-wrap { max-width: 100%; overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
.table-wrap.narrow { display: inline-block; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: .875rem; }
th, td { padding: .4rem .5rem; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
tr:last-child > * { border-bottom: 0; }
thead th { background: var(--panel); font-weight: 600; white-space: normal; vertical-align: bottom; }
thead th:first-child, thead th:nth-last-child(2) { text-align: left; }
th[scope=row] { text-align: left; font-weight: 600; white-space: normal; overflow-wrap: anywhere;
  min-width: 9rem; }
td.reasons { text-align: left; white-space: normal; min-width: 11rem; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .45em; }
.figures { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; min-width: 0; }
img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .875rem; text-align: center; }
.warn { color: #8a4b00; }
/* a phone: a figure keeps a width its text reads at and scrolls sideways in its box, as tables do */
@media (max-width: 700px) {
  main { padding: .75rem .75rem 1.5rem; }
  figure { overflow-x: auto; }
  figure img { max-width: none; width: 640px; }
  figcaption { position: sticky; left: 0; max-width: calc(100vw - 2.5rem); text-align: left; }
}
pre { max-width: 100%; overflow-x: auto; background: var(--panel); padding: .75rem; border-radius: 6px;
  font-size: .85rem; line-height: 1.4; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
"""
