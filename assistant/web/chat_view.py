"""What the customer sees of a turn, as text: citations as numbered links, the cited sections
listed under an answer, a person's replies under their name, and a cited section rendered as a page.

Pure functions (no Gradio), used by the customer page (`assistant/web/customer_page.py`) and the
`/kb/<passage id>` route. Knowledge-base markdown is rendered with markdown-it (tables on, raw
HTML off), so a KB file can never put script into the page.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote

from assistant.grounding.citations import CITE_NUMBER, source_label
from assistant.types import Passage

KB_ROUTE = "/kb/"
_CITATION = re.compile(CITE_NUMBER + r"(?!\()")  # not one already made a markdown link


def section_url(passage_id: str) -> str:
    return KB_ROUTE + quote(passage_id, safe="")


def shown(text: str) -> str:
    """Reply text as the chat may show it: markdown stays, markup does not. A knowledge-base page or an
    operator can hold raw HTML (`<div style="position:fixed">` covered a customer's whole page);
    escaped, it reads as the characters it is."""
    return html.escape(text or "", quote=False)


def link_citations(reply: str, passages: list[Passage]) -> str:
    """ "[1]" -> a markdown link to passage 1's section; numbers without a passage stay text.
    The cited sections follow under the answer (title › heading), as links too."""

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        return f"[[{n}]]({section_url(passages[n - 1].id)})" if 1 <= n <= len(passages) else m.group(0)

    reply = shown(reply)
    cited = sorted({int(n) for n in _CITATION.findall(reply) if 1 <= int(n) <= len(passages)})
    text = _CITATION.sub(link, reply)
    if cited:
        items = [f"[{n}] [{_md(source_label(passages[n - 1]))}]({section_url(passages[n - 1].id)})" for n in cited]
        text += "\n\n<small>Sources: " + " · ".join(items) + "</small>"
    return text


def _md(text: str) -> str:
    """Text safe inside a markdown link label."""
    return html.escape(text or "").replace("[", "(").replace("]", ")")


def agent_message(name: str, business: str, text: str) -> str:
    return f"**{html.escape(name.title())}** · {html.escape(business)} team\n\n{shown(text)}"


def section_html(passages: list[Passage], business: str) -> str:
    """A standalone page with one knowledge-base section rendered as markdown (tables as tables)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    first = passages[0]
    body = md.render("\n\n".join(p.text for p in passages))
    title = html.escape(f"{first.title or first.source} › {first.heading}")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · {html.escape(business)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;
color:#1f2937}}
table{{border-collapse:collapse;margin:1rem 0}}th,td{{border:1px solid #d1d5db;padding:.35rem .7rem;text-align:left}}
th{{background:#f3f4f6}}small{{color:#6b7280}}</style></head><body>
<small>{html.escape(business)} help pages · {html.escape(first.source)}</small>
<h1>{title}</h1>
{body}</body></html>"""


def missing_section_html(business: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Not found</title></head><body>"
        f"<p>This {html.escape(business)} help section is no longer available; the help pages were updated.</p>"
        f"</body></html>"
    )


def widget_js(business: str, colour: str) -> str:
    """`<script src="https://support.example.com/widget.js" defer></script>` on a shop's page: a chat
    button that opens this app's customer page in a frame (the same chat, handoff included)."""
    label = json.dumps(f"Chat with {business}")
    return f"""(function () {{
  var script = document.currentScript, origin = new URL(script.src).origin, frame = null;
  var button = document.createElement("button");
  button.id = "loopdesk-widget-button";
  button.type = "button";
  button.textContent = {label};
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483000;padding:12px 18px;border:0;" +
    "border-radius:24px;background:{colour};color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25)";
  button.addEventListener("click", function () {{
    if (!frame) {{
      frame = document.createElement("iframe");
      frame.id = "loopdesk-widget-frame";
      frame.title = {label};
      frame.src = origin + "/";
      frame.style.cssText = "position:fixed;right:20px;bottom:76px;z-index:2147483000;" +
        "width:min(400px,calc(100vw - 40px));" +
        "height:min(640px,calc(100vh - 100px));border:1px solid #d1d5db;border-radius:12px;background:#fff;" +
        "box-shadow:0 8px 30px rgba(0,0,0,.25)";
      document.body.appendChild(frame);
    }} else {{
      frame.style.display = frame.style.display === "none" ? "block" : "none";
    }}
    button.setAttribute("aria-expanded", frame.style.display === "none" ? "false" : "true");
  }});
  document.body.appendChild(button);
}})();
"""
