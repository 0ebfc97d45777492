"""loopdesk as a Chatwoot agent bot: Chatwoot (the open-source help desk) posts each new message of
an inbox to a webhook; we answer through Chatwoot's API, and hand the conversation to Chatwoot's
human agents (status "open") when the customer asks for a person or the policy says so.

    POST /integrations/chatwoot/<chatwoot.webhook_secret>     (the Agent Bot's outgoing URL)

Only `message_created` events of `incoming` messages in conversations the bot holds (status
"pending") are answered; agents' messages, the bot's own and conversations a person has opened are
ignored, so the bot never talks over a human. A Chatwoot conversation maps to a loopdesk one by a
UUID derived from the account and conversation ids (no mapping table to keep in sync).

A Chatwoot message takes its place in the same line as the chat page's and the API's turns
(`assistant.turn.admission`), and its first-text deadline counts the time it waited there; when the line
is full (or the wait too long) the customer is told, in Chatwoot, to send it again, and nothing is
stored, as on the chat page.
"""

from __future__ import annotations

import logging
import uuid

from assistant.turn.admission import BUSY, Busy
from assistant.web.integrations.registry import Integration
from assistant.types import QUEUE_REASONS

log = logging.getLogger("loopdesk.chatwoot")
NAMESPACE = uuid.UUID("6f1c3a52-4f5e-4b8e-9a36-0c9b8f0c2d11")


def conversation_id(account_id: int | str, conversation: int | str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"chatwoot:{account_id}:{conversation}"))


class ChatwootBot:
    def __init__(self, assistant, base_url: str, token: str, http=None, timeout: float = 10.0) -> None:
        import httpx

        self.assistant, self.base, self.token = assistant, base_url.rstrip("/"), token
        self.http = http or httpx.Client(timeout=timeout)

    def handle(self, event: dict) -> dict:
        """Act on one webhook payload; returns what was done (for the response and the log)."""
        if event.get("event") != "message_created":
            return {"ignored": f"event {event.get('event')}"}
        if event.get("message_type") != "incoming":
            return {"ignored": f"{event.get('message_type')} message"}
        conv = event.get("conversation") or {}
        account = (event.get("account") or {}).get("id")
        if conv.get("id") is None or account is None:
            return {"ignored": "no conversation or account id"}
        if conv.get("status") not in (None, "pending"):
            return {"ignored": f"conversation is {conv.get('status')}: a person has it"}
        cid = conversation_id(account, conv["id"])
        path = f"{self.base}/api/v1/accounts/{account}/conversations/{conv['id']}"
        try:
            with self.assistant.admission.admitted() as ticket:
                store = self.assistant.store
                if not store.conversation_exists(cid):
                    meta = {"account": account, "conversation": conv["id"]}
                    store.new_conversation("chatwoot", meta, conversation_id=cid)
                result = self.assistant.respond(cid, event.get("content") or "", ticket.waited())
        except Busy as exc:
            log.warning("chatwoot message in %s not answered: %s", cid, exc)
            self._post(f"{path}/messages", {"content": BUSY, "message_type": "outgoing"})
            return {"conversation_id": cid, "busy": str(exc)}
        done = {"conversation_id": cid, "turn_id": result.turn_id, "action": result.decision.action}
        if result.reply:
            self._post(f"{path}/messages", {"content": self._text(result), "message_type": "outgoing"})
            done["replied"] = True
        if result.decision.reason in QUEUE_REASONS:
            self._post(f"{path}/toggle_status", {"status": "open"})  # Chatwoot's agents take it from here
            done["handed_over"] = True
        return done

    @staticmethod
    def _text(result) -> str:
        """The reply with its cited sections named (Chatwoot shows plain markdown)."""
        from assistant.grounding.citations import cited_numbers, source_label

        cited = cited_numbers(result.reply, result.passages)
        names = [f"[{n}] {source_label(result.passages[n - 1])}" for n in cited]
        return result.reply + ("\n\nSources: " + "; ".join(names) if names else "")

    def _post(self, url: str, body: dict) -> None:
        response = self.http.post(url, json=body, headers={"api_access_token": self.token})
        if response.status_code >= 300:
            log.error("Chatwoot refused %s: %s %s", url, response.status_code, response.text[:300])
            raise RuntimeError(f"Chatwoot answered {response.status_code}")


def mount(api, assistant, cfg, http=None) -> None:
    """The webhook route: answers only with the configured secret in the path (404 otherwise)."""
    from fastapi import HTTPException

    bots: list = []  # the Chatwoot bot, made at its first event

    @api.post("/integrations/chatwoot/{secret}", include_in_schema=False)
    def chatwoot_webhook(secret: str, event: dict):
        import hmac

        c = cfg.chatwoot
        if not (c.url and c.bot_token and c.webhook_secret) or not hmac.compare_digest(secret, c.webhook_secret):
            raise HTTPException(404, "not found")
        if not bots:
            bots.append(ChatwootBot(assistant, c.url, c.bot_token, http=http))
        try:
            return bots[0].handle(event)
        except Exception as exc:  # Chatwoot retries on an error status; the log has the cause
            log.exception("chatwoot event failed")
            raise HTTPException(502, f"could not answer through Chatwoot ({type(exc).__name__})") from exc


INTEGRATION = Integration("chatwoot", mount=mount)
