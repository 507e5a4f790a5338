"""index.html: the report in one file that opens from file:// anywhere (a
laptop, a cluster's copy): the plots are embedded as data URIs, the tables
are HTML, and nothing is fetched."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .groups import Group
from .runs import Skipped
from .tables import Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1280px; padding: 0 1em; box-sizing: border-box; color: #222; }
code { background: #f3f3f3; padding: 0 0.25em; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; white-space: normal; max-width: 8em; vertical-align: bottom; }
.wide { overflow-x: auto; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; vertical-align: -0.1em; }
.note { color: #8a4b00; }
"""


@dataclass(frozen=True)
class Plot:
    path: Path
    caption: str


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def table_html(table: Table, colour: str | None = None) -> str:
    swatch = f'<span class="swatch" style="background:{colour}"></span>' if colour else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    # a wide table scrolls inside its box rather than running off the page
    return f'<h3>{swatch}{html.escape(table.title)}</h3>\n<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def page(command: str, groups: list[Group], colours: dict[str, str], overview: Table, tables: list[Table],
         plots: list[Plot], notes: list[str], skipped: list[Skipped], files: list[Path], verdicts: list[str] = ()) -> str:
    """The page; `verdicts` (verdict_tables.html_parts, HTML) follows the overview."""
    e = html.escape
    runs = sum(g.n for g in groups)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>rlth-report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Run report</h1>",
        f"<p>Made by <code>{e(command)}</code> on {datetime.now().strftime('%Y-%m-%d %H:%M')}: "
        f"{runs} completed run{'s' * (runs != 1)} in {len(groups)} group{'s' * (len(groups) != 1)}, {len(skipped)} skipped. "
        "Each group is one config; its runs differ only in the seed. Numbers are the mean ± sample standard deviation "
        "over the runs (n); round 0 is the dense network.</p>",
        "<h2>Groups</h2><ul>",
        *(f'<li><span class="swatch" style="background:{colours[g.label]}"></span>{e(g.legend)}: '
          f"{', '.join(e(run.path.name) for run in g.runs)}</li>" for g in groups),
        "</ul>",
        *(f'<p class="note">{e(note)}</p>' for note in notes),
        table_html(overview),
        *verdicts,
        "<h2>Plots</h2>",
        *(f'<figure><img src="{data_uri(p.path)}" alt="{e(p.caption)}"><figcaption>{e(p.caption)} '
          f"(<code>{e(p.path.name)}</code>)</figcaption></figure>" for p in plots),
        "<h2>Per round</h2>",
        *(table_html(t, colours[g.label]) for g, t in zip(groups, tables)),
    ]
    if skipped:
        parts += ["<h2>Skipped runs</h2><ul>", *(f"<li><code>{e(str(s.path))}</code>: {e(s.reason)}</li>" for s in skipped), "</ul>"]
    parts += ["<h2>Files</h2><ul>", *(f'<li><a href="{e(p.name)}">{e(p.name)}</a></li>' for p in files), "</ul>", "</body></html>"]
    return "\n".join(parts) + "\n"
