"""`/widget.js`: a chat button for a shop's own pages, opening this app's chat in a frame.

    <script src="https://support.example.com/widget.js" defer></script>
    <script src="https://support.example.com/widget.js" data-customer-name="Ada Lovelace"
            data-customer-email="ada@example.com" defer></script>   <!-- a signed-in customer -->

The frame loads `/?embed=1`, the customer page laid out for it (`assistant/web/customer_style.py`):
400x640 at the page's bottom right, full screen on a phone (the button hides while it is open, so
it never covers Send). The chat's close button posts a message to this page; only one from the app's
origin and from this frame closes it. The button speaks the shop page's language (`<html lang>`, else
the browser's). A shop that knows its signed-in customer may name them on the script tag (passed in the
frame's URL fragment, never sent in a request): the chat keeps the name and address with the conversation
for the operators (`assistant.turn.customer_info`). Served
by `assistant/web/http_api.py`; tested by `tests/test_widget_browser.py`.
"""

from __future__ import annotations

import json

from assistant.turn.messages import LANGUAGES
from assistant.web.customer_style import PHONE_MAX_PX  # as wide as a phone: the frame covers the screen
from assistant.web.page_strings import page_text

FRAME_DESKTOP = (
    "position:fixed;right:20px;bottom:76px;z-index:2147483000;box-sizing:border-box;"
    "width:min(400px,calc(100vw - 40px));height:min(640px,calc(100vh - 100px));"
    "border:1px solid #d1d5db;border-radius:12px;background:#fff;"
    "box-shadow:0 8px 30px rgba(0,0,0,.25)"
)
FRAME_PHONE = (
    "position:fixed;left:0;top:0;right:0;bottom:0;z-index:2147483001;width:100%;height:100%;border:0;"
    "border-radius:0;background:#fff"
)


def widget_js(business: str, colour: str) -> str:
    labels = json.dumps({lang: page_text("chat_with", lang, business=business) for lang in LANGUAGES})
    return f"""(function () {{
  var script = document.currentScript, origin = new URL(script.src).origin, frame = null;
  var labels = {labels};
  var lang = (document.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  var label = labels[lang] || labels.en;
  var phone = window.matchMedia("(max-width: {PHONE_MAX_PX}px)");
  var button = document.createElement("button");
  button.id = "loopdesk-widget-button";
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483000;padding:12px 18px;border:0;" +
    "border-radius:24px;background:{colour};color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25)";
  function isOpen() {{ return !!frame && frame.style.display !== "none"; }}
  function show(open) {{
    frame.style.cssText = (phone.matches ? {json.dumps(FRAME_PHONE)} : {json.dumps(FRAME_DESKTOP)}) +
      (open ? "" : ";display:none");
    button.setAttribute("aria-expanded", open ? "true" : "false");
    button.style.display = open && phone.matches ? "none" : "block";
    if (!open) button.focus();
  }}
  button.addEventListener("click", function () {{
    if (!frame) {{
      frame = document.createElement("iframe");
      frame.id = "loopdesk-widget-frame";
      frame.title = label;
      // Who the shop's signed-in customer is, where the page says so: shown to operators, never verified.
      // In the fragment, which no request carries: not in access logs, Referer headers or Gradio's calls.
      var who = new URLSearchParams();
      if (script.dataset.customerName) who.set("name", script.dataset.customerName);
      if (script.dataset.customerEmail) who.set("email", script.dataset.customerEmail);
      frame.src = origin + "/?embed=1" + (who.toString() ? "#" + who.toString() : "");
      document.body.appendChild(frame);
      show(true);
    }} else {{
      show(!isOpen());
    }}
  }});
  window.addEventListener("message", function (event) {{
    // Only the chat in our own frame closes it: any other page or frame can post messages here too.
    if (!frame || event.origin !== origin || event.source !== frame.contentWindow) return;
    if (event.data && event.data.loopdesk === "close") show(false);
  }});
  phone.addEventListener("change", function () {{ if (frame) show(isOpen()); }});
  document.body.appendChild(button);
}})();
"""
