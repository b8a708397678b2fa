"""HTML to plain text, for mail whose only body is HTML (Outlook, web clients, ticketing systems).

The request text and the split of fresh text from quoted history (`desk.text.split_reply`)
work on plain text, so the HTML is rendered as the clients' own plain-text versions
would be: lines, paragraphs, lists, links, "> " quotes and Outlook's separator line.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from lxml import html as lxml_html

_WHITESPACE = re.compile(r"\s+")
_DROP = frozenset("script style head title noscript template svg object iframe xml".split())
# Blocks set off by a blank line, and blocks that only start a new line.
_PARAGRAPH = frozenset("p h1 h2 h3 h4 h5 h6 ul ol dl table pre blockquote figure address".split())
_LINE = frozenset(
    "div section article header footer main aside nav tr li dt dd form fieldset center caption "
    "thead tbody tfoot figcaption".split()
)


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML body: lines, paragraphs, lists and links kept.

    Quoted history in <blockquote> becomes "> " lines and Outlook's <hr> a line of
    underscores, as in the clients' own plain-text versions, so that `split_reply`
    recognises them the same way. Scripts, styles and comments are dropped.
    """
    if not markup or not markup.strip():
        return ""
    try:
        # A parser per call: lxml parser objects must not be shared between threads.
        parser = lxml_html.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, default_doctype=False
        )
        root = lxml_html.document_fromstring(markup.encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError, etree.XMLSyntaxError):
        return ""
    writer = _TextWriter()
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _DROP or not tag:
                walker.skip_subtree()
                continue
            writer.start(tag, element)
        else:
            if tag and tag not in _DROP:
                writer.end(tag, element)
            if element is not root and element.tail:
                writer.text(element.tail)
    return writer.result()


class _TextWriter:
    """Collects lines with their blockquote depth while `html_to_text` walks the tree."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.line = ""
        self.depth = 0
        self.pre = 0
        self.lists: list[list[int] | None] = []
        self.links: list[tuple[str, list[str]]] = []

    def start(self, tag: str, element: Any) -> None:
        if tag in _PARAGRAPH or tag in _LINE or tag == "hr":
            self.flush()
        if tag in _PARAGRAPH and not _is_outlook_line(element):
            self.blank()
        if tag == "blockquote":
            self.depth += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "ol":
            self.lists.append([0])
        elif tag == "ul":
            self.lists.append(None)
        elif tag == "li":
            counter = self.lists[-1] if self.lists else None
            indent = "  " * max(0, len(self.lists) - 1)
            if counter is None:
                self.line = f"{indent}- "
            else:
                counter[0] += 1
                self.line = f"{indent}{counter[0]}. "
        elif tag in ("td", "th") and self.line.strip():
            self.line += "  "
        elif tag == "a":
            self.links.append((element.get("href") or "", []))
        elif tag == "img" and element.get("alt") and not element.get("src", "").startswith("cid:"):
            self.text(f"[{element.get('alt')}]")
        if element.text:
            self.text(element.text)

    def end(self, tag: str, element: Any) -> None:
        if tag == "a" and self.links:
            href, label = self.links.pop()
            text = "".join(label).strip()
            target = href[7:] if href.lower().startswith("mailto:") else href
            if href.lower().startswith(("http://", "https://", "mailto:")) and target not in text:
                self.text(f" ({target})" if text else target)
        elif tag == "br":
            self.flush(force=True)
        elif tag == "hr":
            self.lines.append((self.depth, "_" * 32))
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in ("ol", "ul") and self.lists:
            self.lists.pop()
        if tag in _PARAGRAPH or tag in _LINE:
            self.flush(force=_is_outlook_line(element))
        if tag == "blockquote":
            self.depth = max(0, self.depth - 1)
        if tag in _PARAGRAPH and not _is_outlook_line(element):
            self.blank()

    def text(self, value: str) -> None:
        value = value.replace("\xa0", " ")
        for _, label in self.links:
            label.append(value)
        if self.pre:
            pieces = value.split("\n")
            self.line += pieces[0]
            for piece in pieces[1:]:
                self.flush(force=True)
                self.line = piece
            return
        collapsed = _WHITESPACE.sub(" ", value)
        if not self.line.strip() or self.line.endswith(" "):
            collapsed = collapsed.lstrip()
        self.line += collapsed

    def flush(self, *, force: bool = False) -> None:
        line = self.line.rstrip()
        if line.strip() or force:
            self.lines.append((self.depth, line.strip() if not self.pre else line))
        self.line = ""

    def blank(self) -> None:
        if self.lines and self.lines[-1][1]:
            self.lines.append((self.depth, ""))

    def result(self) -> str:
        self.flush()
        out: list[str] = []
        for depth, line in self.lines:
            if not line and out and not out[-1].lstrip("> "):
                continue
            out.append(("> " * depth + line).rstrip() if depth else line)
        return "\n".join(out).strip()


def _is_outlook_line(element: Any) -> bool:
    """Outlook writes every line as <p class=MsoNormal>; those are lines, not paragraphs."""
    return element.tag == "p" and (element.get("class") or "").startswith("Mso")
