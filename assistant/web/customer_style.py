"""How the customer page looks and what runs in its browser: its CSS (colour, text sizes, the compact
layout inside the `/widget.js` frame), the `<head>` script that picks that layout, and the character
counter's script. Strings come from `assistant/web/page_strings.py`; `app.py` passes `css()` and
`HEAD` to Gradio. Checked by `tests/test_widget_browser.py` and `tests/test_page_language_browser.py`.

The frame loads `/?embed=1`: the same Gradio page and events as `/` (one chat, one set of endpoints),
laid out by CSS under `html.ld-compact` — header (name, who is answering, close) on top, the messages
scrolling in between, the box and Send pinned at the bottom; phones get that layout at `/` too. A
separate Gradio route would repeat every component and event of the page for a different layout only.
"""

from __future__ import annotations

import json

from assistant.turn.messages import LANGUAGES
from assistant.web.page_strings import THOUSANDS, number, page_text

PHONE_MAX_PX = 600

# Runs in <head> before the page renders, so the frame never shows the full page first. The compact
# layout also on a phone: there the full one put Send below the screen's edge. `ld-framed` only inside
# a frame: the close button talks to the page around it, and a tab has none.
HEAD = f"""<script>
(function () {{
  var embed = new URLSearchParams(location.search).get("embed") === "1", root = document.documentElement;
  if (embed || window.matchMedia("(max-width: {PHONE_MAX_PX}px)").matches) root.classList.add("ld-compact");
  if (embed && window.parent !== window) root.classList.add("ld-framed");
}})();
</script>"""

CLOSE_JS = """() => { window.parent.postMessage({ loopdesk: "close" }, "*"); }"""
"""The frame's close button: widget.js (in the shop's page) hides the frame when this message comes
from the app's origin. "*" because the frame cannot know the shop's origin; the message carries nothing."""


def css(colour: str) -> str:
    """The page's CSS; `colour` is the config's accent, shown until the page has loaded the one in effect
    (the owner may change it in the console: `SET_LOOK_JS` sets `--ld-accent`)."""
    colour = f"var(--ld-accent, {colour})"
    return f"""
/* Gradio's theme declares Source Sans Pro 600 with a file that holds only "AB" and Cyrillic letters, so
   bold Latin text fell back to the system's bold font, visibly larger than the words around it. The
   full regular and bold files are served too: under a name of our own, no face of the theme's mixes in. */
@font-face {{ font-family: 'Loopdesk Sans'; font-style: normal; font-weight: 400;
  src: url('static/fonts/SourceSansPro/SourceSansPro-Regular.woff2') format('woff2'); }}
@font-face {{ font-family: 'Loopdesk Sans'; font-style: normal; font-weight: 600 700;
  src: url('static/fonts/SourceSansPro/SourceSansPro-Bold.woff2') format('woff2'); }}
.gradio-container {{ --font: 'Loopdesk Sans', 'Source Sans Pro', ui-sans-serif, system-ui, sans-serif;
  --color-accent: {colour}; --button-primary-background-fill: {colour};
  --button-primary-background-fill-hover: {colour}; --button-primary-border-color: {colour};
  --checkbox-background-color-selected: {colour}; }}
#brand h2 {{ color: {colour}; margin-bottom: 0; }}
#who {{ font-size: .95em; color: #374151; }}
#counter {{ font-size: .8em; color: #6b7280; text-align: right; }}
#counter.over, #counter .over {{ color: #b91c1c; font-weight: 600; }}
/* By position, not label: Gradio translates its labels into the browser's language. */
#chat .icon-button-wrapper.top-panel {{ display: none; }}
.nav-holder {{ display: none !important; }}
#chat .message-row:has(.no-rate) + .message-buttons-left .icon-button-wrapper > button:not(:first-of-type) {{
  display: none; }}
.pending-note {{ color: #6b7280; font-size: .85em; }}
/* Gradio repeats each rule under `.gradio-container .contain`: a plain `#widget-close` rule would outrank
   the framed one below, so the button is hidden by what cannot match in that copy (html is outside). */
html:not(.ld-framed) #widget-close {{ display: none !important; }}

/* The compact layout (the /?embed=1 frame, and phones): every level from <html> to the page's column
   fills the screen's height, the chat takes what the header and the box leave, nothing else scrolls. */
html.ld-compact, html.ld-compact body {{ height: 100%; overflow: hidden; }}
html.ld-compact gradio-app, .ld-compact .gradio-container {{ height: 100%; min-height: 0 !important; }}
.ld-compact .gradio-container {{ padding: 0 !important; max-width: none !important; }}
.ld-compact .gradio-container > .main {{ padding: 8px 10px !important; height: 100%; min-height: 0; }}
.ld-compact .gradio-container > .main > .wrap,
.ld-compact .gradio-container > .main > .wrap > .contain {{ height: 100%; min-height: 0; }}
.ld-compact .contain > .column {{ height: 100%; min-height: 0; gap: 6px; flex-wrap: nowrap; }}
.ld-compact #chat {{ flex: 1 1 0 !important; height: auto !important; min-height: 96px; }}
.ld-compact #brand h2 {{ font-size: 1.15rem; margin: 0; }}
.ld-framed #brand h2 {{ padding-right: 6.5rem; }}
.ld-compact #who {{ font-size: .85em; }}
.ld-compact #counter, .ld-compact #counter * {{ min-height: 0 !important; padding: 0 !important; margin: 0 !important;
  line-height: 1.2; font-size: .75rem; }}
.ld-compact #send, .ld-compact #new-conversation {{ font-size: .875rem; padding: 6px 8px; min-height: 0;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.ld-framed #widget-close {{ position: fixed; top: 8px; right: 10px; z-index: 10;
  width: auto; min-width: 0; padding: 4px 10px; font-size: .85rem; }}
"""


def counter_js(limit: int) -> str:
    """Client-side counter (no server round trip per key), in the page's language (the hidden
    `#page-lang` box): warns before the message would be cut."""
    table = {
        lang: {
            "count": page_text("count", lang, n="{n}", limit=number(limit, lang)),
            "over": page_text("count_over", lang, n="{n}", limit=number(limit, lang)),
            "sep": THOUSANDS[lang],
        }
        for lang in LANGUAGES
    }
    return (
        f"(t, lang) => {{ const s = ({json.dumps(table, ensure_ascii=False)})[lang] || "
        f"({json.dumps(table['en'], ensure_ascii=False)}); const n = (t || '').length; "
        "const f = String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g, s.sep); "
        f"return n > {limit} ? `<span class='over'>${{s.over.replaceAll('{{n}}', f)}}</span>` "
        ": s.count.replaceAll('{n}', f); }"
    )


def empty_count(limit: int, language: str) -> str:
    """The counter under an empty box."""
    return page_text("count", language, n=0, limit=number(limit, language))


SET_LANG_JS = "(lang) => { document.documentElement.lang = lang || 'en'; }"
"""The page's language on <html>: screen readers pronounce the page in it."""

SET_LOOK_JS = (
    "(look) => { if (!look) return; const l = JSON.parse(look);"
    " if (l.colour) document.documentElement.style.setProperty('--ld-accent', l.colour);"
    " if (l.title) document.title = l.title; }"
)
"""The owner's colour and page title in effect (`assistant.settings`), sent by the server when the page
opens: the colour as `--ld-accent`, which every accent rule of `css()` reads."""
