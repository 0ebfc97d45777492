"""Render `{{Placeholder}}` slots (as in the Bitext answers the demo adapter learned) for the demo store.

Known slots get the store's values; unknown ones lose their braces ("{{Order Details}}" ->
"Order Details"). `StreamRenderer` does the same on a token stream, holding back only an
unfinished "{{...".
"""

from __future__ import annotations

import re

DEMO_VALUES = {
    "website name": "Northwind Goods",
    "website url": "northwindgoods.example",
    "customer support phone number": "+1 555 010 2030",
    "customer support email": "help@northwindgoods.example",
    "live chat": "live chat",
    "customer support availability": "every day from 8 am to 10 pm ET",
    "customer support hours": "8 am to 10 pm ET",
    "company name": "Northwind Goods",
}
_SLOT = re.compile(r"\{\{\s*([^{}]{1,60}?)\s*\}\}")


def render(text: str, values: dict[str, str] | None = None) -> str:
    values = values or DEMO_VALUES
    return _SLOT.sub(lambda m: values.get(m.group(1).lower(), m.group(1)), text)


class StreamRenderer:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values, self.pending = values, ""

    def feed(self, piece: str) -> str:
        self.pending += piece
        cut = self.pending.rfind("{{")
        if cut != -1 and "}}" not in self.pending[cut:] and len(self.pending) - cut < 80:
            ready, self.pending = self.pending[:cut], self.pending[cut:]
        elif self.pending.endswith("{"):  # maybe the first half of "{{"
            ready, self.pending = self.pending[:-1], "{"
        else:
            ready, self.pending = self.pending, ""
        return render(ready, self.values)

    def flush(self) -> str:
        out, self.pending = render(self.pending, self.values), ""
        return out
