"""The console's alert for new queue items: a short sound (WebAudio, generated, no file) and a desktop
notification (the browser's Notification API) when a customer enters the queue while the console is open.

A "Notify me" button turns alerts on: the click is the user gesture browsers require to ask for the
notification permission and to start audio. Without permission (blocked, or no Notification API) the
sound still plays and the button's note says so. The component's value is the queued items as JSON
(`items_json`), set by the console from its queue table; the page compares each new list with the one
before, so items already waiting when the console opened (or when alerts were turned on) ring no bell.
Nothing is kept in the browser's storage: each console page starts with alerts off.

Tested in Chromium by `tests/test_team_queue_browser.py` (a spy on `window.Notification`).
"""

from __future__ import annotations

import json

import gradio as gr

TEMPLATE = (
    "<div class='qa'><button type='button' class='qa-toggle' aria-pressed='false' "
    "title='Sound and a desktop notification when a customer enters the queue'>Notify me</button>"
    "<span class='qa-note' aria-live='polite'></span></div>"
)
CSS = (
    ".qa { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }"
    ".qa-toggle { padding: 4px 10px; border: 1px solid #d1d5db; border-radius: 6px; background: #fff;"
    " cursor: pointer; font-size: .9em; white-space: nowrap; }"
    ".qa-toggle[aria-pressed='true'] { background: #ecfdf5; border-color: #059669; color: #065f46; }"
    ".qa-toggle[aria-pressed='true']::before { content: ''; display: inline-block; width: 8px; height: 8px;"
    " border-radius: 50%; background: #059669; margin-right: 6px; vertical-align: middle; }"
    ".qa-note { font-size: .8em; color: #6b7280; }"
)
# Runs once when the component mounts (`element`, `props`, `watch` come from gr.HTML). The template is
# re-rendered when the value changes, so the button is found anew each time and its state re-applied.
JS = r"""
let on = false, audio = null;
const ids = () => { try { return JSON.parse(props.value || '[]'); } catch (e) { return []; } };
let seen = new Set(ids().map(i => i.id));
const supported = 'Notification' in window;
function show() {
  const b = element.querySelector('.qa-toggle'), n = element.querySelector('.qa-note');
  if (b) { b.setAttribute('aria-pressed', String(on)); b.textContent = on ? 'Alerts on' : 'Notify me'; }
  if (n) n.textContent = !on ? '' : !supported ? 'sound only: this browser has no desktop notifications'
    : Notification.permission === 'denied' ? 'sound only: notifications are blocked for this site'
    : Notification.permission === 'granted' ? '' : 'sound only: notifications not allowed';
}
function beep() {
  if (!audio) return;
  const t = audio.currentTime, osc = audio.createOscillator(), gain = audio.createGain();
  osc.type = 'sine';
  osc.frequency.setValueAtTime(880, t);
  osc.frequency.setValueAtTime(660, t + 0.12);
  gain.gain.setValueAtTime(0.0001, t);
  gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3);
  osc.connect(gain).connect(audio.destination);
  osc.start(t);
  osc.stop(t + 0.32);
}
element.addEventListener('click', async (event) => {
  if (!event.target.closest('.qa-toggle')) return;
  on = !on;
  if (on) {
    // Both need this click: audio may only start, and permission only be asked, after a user gesture.
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); await audio.resume(); }
    catch (e) { audio = null; }
    if (supported && Notification.permission === 'default') {
      try { await Notification.requestPermission(); } catch (e) { /* an old browser: sound only */ }
    }
    beep();  // what an alert sounds like
  }
  show();
});
watch('value', () => {
  const now = ids(), fresh = now.filter(i => !seen.has(i.id));
  seen = new Set(now.map(i => i.id));
  show();
  if (!on || !fresh.length) return;
  beep();
  if (supported && Notification.permission === 'granted') {
    const title = fresh.length === 1 ? 'A customer is waiting' : `${fresh.length} customers are waiting`;
    try { new Notification(title, { body: `${fresh[0].who}: ${fresh[0].text}`, tag: 'loopdesk-queue' }); }
    catch (e) { /* notifications refused at the OS level: the sound played */ }
  }
});
show();
"""


def build_alert() -> gr.HTML:
    """The "Notify me" button with its sound and notification (place it where the console's header is)."""
    return gr.HTML("[]", html_template=TEMPLATE, css_template=CSS, js_on_load=JS, elem_id="op-queue-alert")


def items_json(items: list[dict]) -> str:
    """The value the alert watches: queued items as [{"id", "who", "text"}] (text cut short for a
    notification)."""
    return json.dumps(
        [{"id": i["id"], "who": i["who"], "text": (i.get("text") or "")[:120]} for i in items], ensure_ascii=False
    )
