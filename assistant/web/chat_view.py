"""What the customer sees of a turn, as text: citations as numbered links, the cited sections
listed under an answer, a person's replies under their name, and a cited section rendered as a page.

Pure functions (no Gradio), used by the customer page (`assistant/web/customer_page.py`) and the
`/kb/<passage id>` route. Knowledge-base markdown is rendered with markdown-it (tables on, raw
HTML off), so a KB file can never put script into the page (the page's one script is ours: "Back to
the chat"). Labels come from `assistant/web/page_strings.py`; the widget's script is `assistant/web/widget.py`.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from assistant.grounding.citations import CITE_NUMBER, source_label
from assistant.types import Passage
from assistant.web.page_strings import language_or_english, page_text

KB_ROUTE = "/kb/"
_CITATION = re.compile(CITE_NUMBER + r"(?!\()")  # not one already made a markdown link


def section_url(passage_id: str, language: str = "en") -> str:
    """The cited section's page; its labels in the conversation's language (`?lang=`) where not English."""
    url = KB_ROUTE + quote(passage_id, safe="")
    lang = language_or_english(language)
    return url if lang == "en" else f"{url}?lang={lang}"


def shown(text: str) -> str:
    """Reply text as the chat may show it: markdown stays, markup does not. A knowledge-base page or an
    operator can hold raw HTML (`<div style="position:fixed">` covered a customer's whole page);
    escaped, it reads as the characters it is."""
    return html.escape(text or "", quote=False)


def link_citations(reply: str, passages: list[Passage], language: str = "en") -> str:
    """ "[1]" -> a markdown link to passage 1's section; numbers without a passage stay text.
    The cited sections follow under the answer (title › heading), as links too, under "Sources:" in
    the page's `language`."""

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        return f"[[{n}]]({section_url(passages[n - 1].id, language)})" if 1 <= n <= len(passages) else m.group(0)

    reply = shown(reply)
    cited = sorted({int(n) for n in _CITATION.findall(reply) if 1 <= int(n) <= len(passages)})
    text = _CITATION.sub(link, reply)
    if cited:
        items = [
            f"[{n}] [{_md(source_label(passages[n - 1]))}]({section_url(passages[n - 1].id, language)})" for n in cited
        ]
        text += f"\n\n<small>{page_text('sources', language)} " + " · ".join(items) + "</small>"
    return text


def _md(text: str) -> str:
    """Text safe inside a markdown link label."""
    return html.escape(text or "").replace("[", "(").replace("]", ")")


def agent_message(name: str, business: str, text: str, language: str = "en") -> str:
    team = page_text("team", language, business=html.escape(business))
    return f"**{html.escape(name.title())}** · {team}\n\n{shown(text)}"


def page_title(passage: Passage) -> str:
    """The cited page's title as its readers know it: its first heading (the loader's title), else its
    file name made readable ("refunds.md" -> "Refunds")."""
    if passage.title.strip():
        return passage.title.strip()
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", passage.source.rsplit("/", 1)[-1])
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or passage.source


BACK_JS = """document.getElementById("back-to-chat").addEventListener("click", function () {
  // Citations open in a new tab: closing it shows the chat as it was (the browser allows a tab with one
  // page to close itself). Where it does not close, the link goes to the chat.
  if (history.length === 1) window.close();
});"""


def section_html(passages: list[Passage], business: str, language: str = "en", chat_url: str = "/") -> str:
    """A standalone page with one knowledge-base section rendered as markdown (tables as tables): the
    page's title (its first heading), the section's heading, and a "Back to the chat" link."""
    from markdown_it import MarkdownIt

    lang = language_or_english(language)
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    first = passages[0]
    body = md.render("\n\n".join(p.text for p in passages))
    title = page_title(first)
    heading = first.heading.strip() if first.heading.strip() != title else ""
    tab = html.escape(f"{title} › {heading}" if heading else title)
    back = html.escape(page_text("back_to_chat", lang))
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{tab} · {html.escape(business)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:0 auto 2rem;padding:0 1rem;line-height:1.5;
color:#1f2937}}
nav{{position:sticky;top:0;background:#fff;padding:.75rem 0;border-bottom:1px solid #e5e7eb;display:flex;
gap:1rem;align-items:baseline;justify-content:space-between;flex-wrap:wrap}}
#back-to-chat{{font-weight:600;color:#1d4ed8;text-decoration:none;padding:.25rem 0}}
#back-to-chat:hover,#back-to-chat:focus{{text-decoration:underline}}
h1{{margin:1.25rem 0 .25rem;font-size:1.75rem}}h2.section{{margin:.25rem 0 1rem;font-size:1.2rem;color:#374151}}
table{{border-collapse:collapse;margin:1rem 0}}th,td{{border:1px solid #d1d5db;padding:.35rem .7rem;text-align:left}}
th{{background:#f3f4f6}}small{{color:#6b7280}}</style></head><body>
<nav><a id="back-to-chat" href="{html.escape(chat_url)}">← {back}</a>
<small>{html.escape(page_text("help_pages", lang, business=business))}</small></nav>
<h1>{html.escape(title)}</h1>
{f'<h2 class="section">{html.escape(heading)}</h2>' if heading else ""}
{body}<script>{BACK_JS}</script></body></html>"""


def missing_section_html(business: str, language: str = "en", chat_url: str = "/") -> str:
    lang = language_or_english(language)
    return (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(page_text('not_found', lang))}</title></head>"
        f"<body style='font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem'>"
        f"<p>{html.escape(page_text('section_missing', lang, business=business))}</p>"
        f"<p><a id='back-to-chat' href='{html.escape(chat_url)}'>← {html.escape(page_text('back_to_chat', lang))}"
        f"</a></p></body></html>"
    )
