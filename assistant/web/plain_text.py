"""Text from customers and channels shown as itself inside the console's Markdown: HTML characters escaped
and Markdown's punctuation backslash-escaped, so a customer named `[Approve refund](https://…)` or a
message starting with `#` reads as typed instead of becoming a link or a heading.

    md_plain("[x](http://e.example) *hi*")  -> "\\[x\\]\\(http://e.example\\) \\*hi\\*"
"""

from __future__ import annotations

import html
import re

# Not "&", ";" or "#" in entities: html.escape(quote=False) makes only &amp; &lt; &gt;, none holding these.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#!|~+])")


def md_plain(text: object) -> str:
    return _MARKDOWN.sub(r"\\\1", html.escape(str(text), quote=False))
