"""The operator console's page layout (CSS): at desktop widths the open conversation sits in a column
beside the Queue, Conversations and Replies lists; the other tabs and narrower screens keep one column.

How: `build_console` gives the signed-in area the id `op-area`, the list tabs ids `op-list-*` (Gradio gives
a tab's button `<id>-button`, with `aria-selected`), and the conversation the id `op-conversation`. From 1,200 px wide,
while a conversation is shown and a list tab is selected, `op-area` becomes a two-column grid and the
Tabs block is flattened (`display: contents`), so the tab bar spans both columns (all nine tabs stay
in the bar instead of Gradio's overflow menu) and the selected tab's panel sits in the left column, the
conversation in the right one (sticky, scrolling on its own). Any other tab: the full width, the open
conversation hidden until a list tab is selected again. No open conversation, or a narrower screen: the
rules do not match and the page stacks as Gradio lays it out.

Pure CSS, so switching tabs moves nothing through the server. `app.py` appends `CSS` to the page's CSS.
Checked by `tests/test_console_layout_browser.py` (positions, no sideways overflow at 1366 and 390 px).
"""

from __future__ import annotations

WIDE_MIN_PX = 1200
# The tabs whose rows open a conversation (Queue, Conversations, Replies) have ids `op-list-*`: the
# conversation goes beside these only. One attribute pattern, no list: Gradio prefixes each comma-separated
# part of a custom selector with its container's class, commas inside `:has(...)` too, which broke all but
# the first alternative.
_LIST_TAB_SELECTED = "[id^='op-list-'][id$='-button'][aria-selected='true']"
# Gradio marks a hidden column with the class `hide` (or leaves it out of the page).
_SIDE = f"#op-area:has(> #op-conversation:not(.hide)):has({_LIST_TAB_SELECTED})"
_OTHER_TAB = f"#op-area:not(:has({_LIST_TAB_SELECTED}))"

CSS = f"""
@media (min-width: {WIDE_MIN_PX}px) {{
  {_SIDE} {{ display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 4fr);
    gap: var(--layout-gap, 16px); align-items: start; }}
  {_SIDE} > * {{ grid-column: 1 / -1; }}
  {_SIDE} > .tabs {{ display: contents; }}
  {_SIDE} > .tabs > .tab-wrapper {{ grid-column: 1 / -1; grid-row: 2; }}
  {_SIDE} > .tabs > .tabitem {{ grid-column: 1; grid-row: 3; min-width: 0; }}
  /* Its own scroll: the reply box and the turn table stay reachable while the list stays in view. */
  {_SIDE} > #op-conversation {{ grid-column: 2; grid-row: 3; position: sticky; top: 0;
    max-height: 100vh; overflow-y: auto; overflow-x: hidden; padding-right: 4px; min-width: 0; }}
  /* A flex column under a max-height shrinks its children: the header and transcript went to 0 px. */
  {_SIDE} > #op-conversation > * {{ flex-shrink: 0; }}
  /* Numbers, Memory, Saved replies, Gaps, Learning, Settings: the full width; the conversation stays
     open and comes back with a list tab. */
  {_OTHER_TAB} > #op-conversation {{ display: none; }}
}}
"""
