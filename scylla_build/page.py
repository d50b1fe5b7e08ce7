"""The HTML report: one self-contained page, its plots inlined as data URIs.

Nothing on the page is fetched: no scripts, fonts, styles or images from
elsewhere, so it opens the same offline, attached to a mail, or archived.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape

from scylla_build.summary import ALL, Summary
from scylla_build.table import (
    HEADINGS,
    RATE_NOTE,
    cells,
    later_pass_lines,
    unfinished_lines,
)

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 72em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
td:nth-child(-n+2) { text-align: left; }
tr.group td { font-weight: bold; background: #fafafa; }
img { display: block; max-width: 100%; margin: 1em 0; border: 1px solid #eee; }
p.note { color: #555; font-size: 0.9em; }
"""


def html_page(title: str, subtitle: str, summary: Summary,
              images: Mapping[str, bytes]) -> str:
    """Return the whole page; `images` maps each plot's caption to its PNG."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>",
        "<body>", f"<h1>{escape(title)}</h1>", f"<p>{escape(subtitle)}</p>",
        _table(summary), f'<p class="note">{escape(RATE_NOTE)}</p>',
        *_section("Passed only on a later attempt", later_pass_lines(summary)),
        *_section("Never completed", unfinished_lines(summary)),
        "<h2>Plots</h2>",
        *(_image(caption, png) for caption, png in images.items()),
        "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _table(summary: Summary) -> str:
    head = "".join(f"<th>{escape(heading)}</th>" for heading in HEADINGS)
    rows = []
    for row in summary.rows:
        kind = ' class="group"' if row.subtest == ALL else ""
        data = "".join(f"<td>{escape(cell)}</td>" for cell in cells(row))
        rows.append(f"<tr{kind}>{data}</tr>")
    return (f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table>")


def _section(heading: str, lines: list[str]) -> list[str]:
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    body = f"<ul>{items}</ul>" if lines else "<p>None.</p>"
    return [f"<h2>{escape(heading)}</h2>", body]


def _image(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{escape(caption)}" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")
