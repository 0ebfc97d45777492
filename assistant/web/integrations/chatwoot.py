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

import hashlib
import hmac
import logging
import uuid

from assistant.errors import InputError

from assistant.turn.admission import BUSY, Busy
from assistant.turn.customer_info import customer_meta
from assistant.web.integrations.registry import Integration
from assistant.types import QUEUE_REASONS

log = logging.getLogger("loopdesk.chatwoot")
MAX_ID = 2**63 - 1


def conversation_id(secret: str, account_id: int, conversation: int) -> str:
    """The loopdesk conversation of a Chatwoot one: keyed with the webhook secret, so nobody who
    reads this source can compute it (a uuid5 of a namespace in the source could be)."""
    digest = hmac.new(secret.encode(), f"chatwoot:{account_id}:{conversation}".encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def chatwoot_id(value) -> int:
    """An id from the payload, before it goes into a URL or a key: a positive integer, or InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise InputError("Chatwoot ids must be positive integers")
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise InputError("Chatwoot id out of range")
    return number


class ChatwootBot:
    def __init__(self, assistant, base_url: str, token: str, secret: str, http=None, timeout: float = 10.0) -> None:
        import httpx

        self.assistant, self.base, self.token, self.secret = assistant, base_url.rstrip("/"), token, secret
        self.http = http or httpx.Client(timeout=timeout)

    def handle(self, event: dict) -> dict:
        """Act on one webhook payload; returns what was done (for the response and the log)."""
        if event.get("event") != "message_created":
            return {"ignored": f"event {event.get('event')}"}
        if event.get("message_type") != "incoming":
            return {"ignored": f"{event.get('message_type')} message"}
        conv = event.get("conversation") or {}
        if not isinstance(conv, dict) or not isinstance(event.get("account") or {}, dict):
            raise InputError("conversation and account must be objects")
        account = (event.get("account") or {}).get("id")
        if conv.get("id") is None or account is None:
            return {"ignored": "no conversation or account id"}
        if conv.get("status") not in (None, "pending"):
            return {"ignored": f"conversation is {conv.get('status')}: a person has it"}
        account, number = chatwoot_id(account), chatwoot_id(conv["id"])
        content = event.get("content") or ""
        if not isinstance(content, str):
            raise InputError("content must be text")
        cid = conversation_id(self.secret, account, number)
        path = f"{self.base}/api/v1/accounts/{account}/conversations/{number}"
        try:
            with self.assistant.admission.admitted() as ticket:
                store = self.assistant.store
                if not store.conversation_exists(cid):
                    sender = event.get("sender")
                    sender = sender if isinstance(sender, dict) else {}
                    # The contact as Chatwoot knows them, for the console (this app's copy of the chat).
                    keep = not self.assistant.cfg.store.redact_contact
                    who = customer_meta(sender.get("name"), sender.get("email"), keep_email=keep)
                    meta = {**who, "account": account}
                    meta["conversation"] = number
                    store.new_conversation("chatwoot", meta, conversation_id=cid)
                if event.get("id") is not None and not store.first_time(cid, f"message:{chatwoot_id(event['id'])}"):
                    # Chatwoot delivers again when our answer was slow: one message, one turn.
                    return {"conversation_id": cid, "ignored": "message already answered"}
                result = self.assistant.respond(cid, content, ticket.waited())
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
            bots.append(ChatwootBot(assistant, c.url, c.bot_token, c.webhook_secret, http=http))
        try:
            return bots[0].handle(event)
        except InputError as exc:  # a malformed payload: Chatwoot should not retry it
            raise HTTPException(422, str(exc)) from exc
        except Exception as exc:  # Chatwoot retries on an error status; the log has the cause
            log.exception("chatwoot event failed")
            raise HTTPException(502, f"could not answer through Chatwoot ({type(exc).__name__})") from exc


INTEGRATION = Integration("chatwoot", mount=mount)
