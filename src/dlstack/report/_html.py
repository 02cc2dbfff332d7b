"""A small builder for self-contained HTML reports: headings, text, tables, embedded PNGs.

Every string passed in is escaped; images are embedded as base64 ``data:`` URIs, and the
stylesheet is inline, so a report is one file that opens from disk without a server and
loads nothing from the network.

>>> report = HtmlReport("Demo")
>>> _ = report.section("Numbers").table(["metric", "value"], [["accuracy", "0.97"]])
>>> "<td>accuracy</td>" in report.render()
True
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from dlstack.records import write_atomic

__all__ = ["HtmlReport", "Kind", "Section"]

Kind = Literal["good", "warn", "bad", "info"]
_SAFE_LINK_SCHEMES = ("http://", "https://", "file://", "./", "../", "#")

_CSS = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg-soft: #f6f8fa;
        --good: #1a7f37; --warn: #9a6700; --bad: #cf222e; --info: #0969da; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: var(--fg); max-width: 1080px; margin: 2rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.8rem; margin-bottom: .2rem; }
h2 { font-size: 1.3rem; border-bottom: 1px solid var(--line); padding-bottom: .3rem;
     margin-top: 2.2rem; }
.subtitle, .caption { color: var(--muted); }
.caption { font-size: .85rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .35rem .7rem; text-align: left;
         vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.warn td, tr.bad td { background: #fff8c5; }
tr.good td { background: #dafbe1; }
.note { border-left: 4px solid var(--info); background: var(--bg-soft); padding: .6rem .9rem;
        margin: .8rem 0; }
.note.good { border-color: var(--good); } .note.warn { border-color: var(--warn); }
.note.bad { border-color: var(--bad); background: #ffebe9; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
.gallery { display: flex; flex-wrap: wrap; gap: .8rem; }
.gallery figure { margin: 0; width: 112px; text-align: center; }
.gallery img { image-rendering: pixelated; width: 84px; height: auto;
               border: 1px solid var(--line); }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; word-break: break-all; }
code { background: var(--bg-soft); padding: .1rem .3rem; border-radius: 4px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


class Section:
    """A titled part of a report; each method appends a block and returns the section."""

    def __init__(self, title: str, anchor: str) -> None:
        self.title = title
        self.anchor = anchor
        self.blocks: list[str] = []

    def paragraph(self, text: str, *, kind: Kind | None = None) -> Section:
        """Plain text; with ``kind`` a highlighted note (good, warn, bad, info)."""
        if kind is None:
            self.blocks.append(f"<p>{_e(text)}</p>")
        else:
            self.blocks.append(f'<div class="note {kind}">{_e(text)}</div>')
        return self

    def table(
        self,
        headers: Sequence[str],
        rows: Iterable[Sequence[object]],
        *,
        row_kinds: Sequence[Kind | None] | None = None,
    ) -> Section:
        """A table; numbers (int/float) are right-aligned, floats shown with 4 digits."""
        head = "".join(f"<th>{_e(h)}</th>" for h in headers)
        body = []
        for i, row in enumerate(rows):
            kind = row_kinds[i] if row_kinds is not None else None
            cls = f' class="{kind}"' if kind else ""
            cells = "".join(_cell(v) for v in row)
            body.append(f"<tr{cls}>{cells}</tr>")
        self.blocks.append(
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )
        return self

    def bullets(self, items: Iterable[str], *, title: str | None = None) -> Section:
        """A list of text items, optionally under a bold title."""
        head = f"<p><b>{_e(title)}</b></p>" if title else ""
        self.blocks.append(head + "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>")
        return self

    def key_values(self, items: Mapping[str, object]) -> Section:
        pairs = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items())
        self.blocks.append(f'<dl class="kv">{pairs}</dl>')
        return self

    def image(self, png: bytes, *, alt: str, caption: str | None = None) -> Section:
        """An embedded PNG (bytes), with alt text and an optional caption."""
        self.blocks.append(_figure(png, alt, caption))
        return self

    def gallery(self, items: Iterable[tuple[bytes, str]]) -> Section:
        """Small images side by side, each with its caption (PNG bytes, text)."""
        figures = "".join(_figure(png, caption, caption) for png, caption in items)
        self.blocks.append(f'<div class="gallery">{figures}</div>')
        return self

    def links(self, links: Mapping[str, str]) -> Section:
        """A list of links; a target with an unsafe scheme (javascript:, data:) is shown as text."""
        items = []
        for label, url in links.items():
            if url.lower().startswith(_SAFE_LINK_SCHEMES) or ":" not in url:
                items.append(f'<li><a href="{_e(url)}">{_e(label)}</a></li>')
            else:
                items.append(f"<li>{_e(label)}: <code>{_e(url)}</code></li>")
        self.blocks.append(f"<ul>{''.join(items)}</ul>")
        return self

    def render(self) -> str:
        return (
            f'<section id="{_e(self.anchor)}"><h2>{_e(self.title)}</h2>'
            + "".join(self.blocks)
            + "</section>"
        )


class HtmlReport:
    """A report: a title, an optional subtitle, and sections in the order they were added."""

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []

    def section(self, title: str) -> Section:
        s = Section(title, f"s{len(self.sections) + 1}")
        self.sections.append(s)
        return s

    def render(self) -> str:
        toc = " · ".join(f'<a href="#{_e(s.anchor)}">{_e(s.title)}</a>' for s in self.sections)
        subtitle = f'<p class="subtitle">{_e(self.subtitle)}</p>' if self.subtitle else ""
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(self.title)}</title><style>{_CSS}</style></head><body>"
            f'<h1>{_e(self.title)}</h1>{subtitle}<nav class="caption">{toc}'
            "</nav>" + "".join(s.render() for s in self.sections) + "</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        return write_atomic(Path(path), self.render())


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return f"<td>{_e(value)}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    return f"<td>{_e(value)}</td>"


def _figure(png: bytes, alt: str, caption: str | None) -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f'<figcaption class="caption">{_e(caption)}</figcaption>' if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">{cap}</figure>'
