"""Authored customer-service messages for the sentiment tagger: failure reports, plain questions, thanks.

    python -m finetune.service_messages 12   # print 12 samples with their labels

Why: SST-2 teaches polarity on movie reviews and Bitext teaches what calm requests look like, but
neither shows the commonest negative customer message: a *report that something went wrong*, often
with no emotion word at all ("my bag never arrived and I've been on hold 40 min"). Trained without
them the tagger files such reports under neutral, next to the calm requests they resemble.

`service_messages(n, seed)` composes such messages from parts written here (no third-party text, so
no licence limits the weights) across several industries (delivery, retail, travel, telecom,
banking, software): a failure event, optional consequence, follow-up question or demand, and social
style noise (@handles, hashtags, emoji, lowercase, short forms). Negative = a failure happened to the
customer; neutral = information questions and statements (first-person context too: "I bought the
sofa from you in March"), including *hypothetical* problems
("what happens if my flight is cancelled?") so that topic words alone do not decide; positive =
thanks and praise. Nothing here was taken from the evaluation tweets; the parts are generic to
customer service on purpose, so the tagger learns the category rather than one company's wording.
"""

from __future__ import annotations

import random

# (thing, failure events that happened to it, verb phrase for a hypothetical question about it)
_DOMAINS = {
    "delivery": {
        "things": ["my package", "my parcel", "my order", "the delivery", "my shipment", "my box"],
        "fails": [
            "never arrived",
            "still hasn't arrived",
            "is {n} days late",
            "was left in the rain",
            "arrived damaged",
            "arrived opened and half empty",
            "was delivered to the wrong address",
            "shows delivered but it's not here",
            "has been stuck in transit for {n} days",
            "got sent back to the warehouse for no reason",
            "is missing two items",
        ],
        "questions": [
            "how long does shipping to {place} usually take",
            "can I change the delivery address",
            "do you deliver on weekends",
            "what are the shipping options to {place}",
            "can I pick up my order in store",
            "what happens if I'm not home for the delivery",
            "is express shipping available for this item",
            "how do I track an order",
            "do you ship to {place}",
        ],
    },
    "retail": {
        "things": [
            "the jacket I bought",
            "my new phone",
            "the shoes I ordered",
            "the blender",
            "my laptop",
            "the item",
            "the dress",
            "my headphones",
        ],
        "fails": [
            "broke after {n} days",
            "stopped working after a week",
            "is the wrong size and the return got refused",
            "came with a scratch all over the screen",
            "is not what the photos showed",
            "was charged twice",
            "is a different colour than what I ordered",
            "fell apart the first time I wore it",
        ],
        "questions": [
            "what is your return policy",
            "do you price match",
            "is this available in a larger size",
            "when will the {item} be back in stock",
            "can I return an item without the receipt",
            "do you have a store in {place}",
            "how long is the warranty on the {item}",
            "can I exchange a gift for a different size",
            "what payment methods do you take",
            # A procedure question about a product that is fine but unsuitable is not a complaint.
            "how do I return a {item} that doesn't fit",
            "can I swap the {item} for a smaller size",
            "the {item} is too big, how do exchanges work",
            "how do I send back something I don't need",
        ],
    },
    "travel": {
        "things": [
            "my flight",
            "my connection",
            "my train",
            "my bag",
            "my luggage",
            "my booking",
            "my seat",
            "my hotel reservation",
        ],
        "fails": [
            "was cancelled and nobody told me",
            "has been delayed {n} hours",
            "got cancelled again",
            "was lost on the way to {place}",
            "never showed up at the carousel",
            "was given away to someone else",
            "was overbooked and I got bumped",
            "is delayed again with no update at the gate",
            "came back broken",
            "was changed without notice",
            "left without us while we waited at the gate",
        ],
        "questions": [
            "what is the baggage allowance on international flights",
            "can I bring a stroller on board",
            "do you fly to {place}",
            "how early should I check in",
            "can I change my flight online",
            "is there wifi on the {time} flight to {place}",
            "what happens if my flight is cancelled",
            "can I select a seat after booking",
            "how do I add my frequent flyer number",
            "what's the policy for travelling with a pet",
            "is flight {code} on time",
        ],
    },
    "telecom": {
        "things": ["my internet", "my phone line", "the wifi", "my signal", "my bill", "the router", "my tv service"],
        "fails": [
            "has been down for {n} days",
            "keeps dropping every hour",
            "is double what it should be",
            "has been out since {time}",
            "stopped working after your update",
            "is still not fixed after {n} calls",
            "was cut off even though I paid",
        ],
        "questions": [
            "what plans do you have for students",
            "can I keep my number if I switch",
            "is there coverage in {place}",
            "how do I set up voicemail",
            "can I upgrade my plan online",
            "what's the fee for roaming in {place}",
            "do you offer fibre in my area",
            "how do I change the wifi password",
        ],
    },
    "banking": {
        "things": ["my card", "my transfer", "my account", "the refund", "my payment", "my deposit"],
        "fails": [
            "was declined for no reason",
            "has been pending for {n} days",
            "got blocked while I was abroad",
            "still hasn't come through after {n} weeks",
            "was taken twice",
            "disappeared from my balance",
            "was frozen and nobody can tell me why",
        ],
        "questions": [
            "how do I order a new card",
            "what are the fees for international transfers",
            "can I open an account online",
            "how long does a transfer take",
            "what's the daily withdrawal limit",
            "how do I report a lost card",
            "can I set up a standing order in the app",
            "do you offer joint accounts",
        ],
    },
    "software": {
        "things": ["the app", "your website", "the checkout", "the login page", "my account", "the update"],
        "fails": [
            "keeps crashing",
            "won't let me log in",
            "has been down all morning",
            "deleted all my saved items",
            "charged me but the order never went through",
            "logged me out and my password no longer works",
            "is broken again",
            "froze during payment",
        ],
        "questions": [
            "is there a dark mode",
            "how do I export my data",
            "does the app work offline",
            "how do I turn on two-factor authentication",
            "can I use the app on a tablet",
            "where do I find my invoices",
            "when is the next update coming out",
            "how do I change my username",
        ],
    },
}

_SERVICE_FAILS = [
    "I've been on hold for {n} minutes",
    "nobody answers the phone",
    "your agent hung up on me",
    "I was promised a call back {n} days ago and nothing",
    "I've explained this {n} times now",
    "still no refund after {n} weeks",
    "your chat bot keeps sending me in circles",
    "the staff at the desk were rude",
    "I got three different answers from three agents",
    "I was told someone would email me and nobody did",
    "the wait time is {n} hours",
    "customer service keeps transferring me",
]
_CONSEQUENCES = [
    "",
    "",
    "I missed my meeting.",
    "now I'm stuck here overnight.",
    "I needed it for today.",
    "this is the second time this month.",
    "I had to pay {money} extra.",
    "what a waste of time.",
    "I'm out {money}.",
    "my whole weekend is ruined.",
    "that's unacceptable.",
    "really?",
    "so much for fast service.",
    "not impressed.",
    "again.",
    "seriously?",
    "ridiculous.",
    "worst experience ever.",
    "never again.",
    "great. just great.",
    "thanks for nothing.",
]
_DEMANDS = [
    "",
    "",
    "",
    "what are you going to do about it?",
    "I want a refund.",
    "can someone fix this?",
    "who do I talk to?",
    "why does this keep happening?",
    "how is this acceptable?",
    "please help.",
    "any update?",
    "when will it be sorted?",
    "I need a real person.",
    "can you explain why?",
    "is anyone even reading these?",
    "what now?",
]
_NEUTRAL_STATEMENTS = [
    "flying to {place} on {day}",
    "just booked my trip to {place}",
    "sent you a DM with my details",
    "my order number is {code}",
    "heading to the airport now",
    "I'll be in {place} next week",
    "I have a question about my account",
    "following up on my earlier message",
    "I'm travelling with two kids on {day}",
    "checking in for the {time} flight",
    "I moved to {place} last month",
    "my booking reference is {code}",
    "picking up my order on {day}",
    "ok I'll call the number",
    "got it, I'll wait for the email",
    "I'm looking at the {item} on your site",
    "thinking about switching plans",
    "the confirmation code is {code}",
    "will do",
    "my daughter is flying alone on {day}",
]
# First-person context: what the customer bought, booked or plans. It names the same things as the
# failure reports (orders, bookings, accounts) with nothing gone wrong, so that "my order" plus a past
# tense does not read as a complaint.
_CONTEXT = [
    "I placed an order for the {item} {when}",
    "I bought the {item} from you {when}",
    "I'm writing about my order from {when}",
    "I ordered the {item} and a {item} {when}",
    "we booked a trip to {place} for {day}",
    "I have a booking for {day}",
    "the account is in my {relative}'s name",
    "the parcel is for my {relative}, who lives in {place}",
    "I signed up for the {plan} plan {when}",
    "I'd like to add a {item} to my order",
    "I want to cancel my subscription at the end of the month",
    "we'd like to book for {n} people on {day}",
    "I'm moving to {place} {when} and need to update my address",
    "I received the {item} as a gift",
    "my {relative} will collect the order for me",
    "I'm contacting you about the {item} I ordered {when}",
    "I paid by card when I ordered",
    "I've been a customer for {n} years",
    "I opened my account {when}",
    "my {relative} uses the same plan",
    "I switched to your {plan} plan {when}",
    "I'm buying a {item} for my {relative}",
    "I visited your store in {place} {when}",
    "we're flying out of {place} on {day}",
    "I'm going to order the {item} again",
    "I need the invoice for my {item} for my expenses",
]
# Greetings and acknowledgements open or close most chats; they carry no sentiment.
_GREETINGS = [
    "hi",
    "hello",
    "hey",
    "good morning",
    "good evening",
    "hi there",
    "ok",
    "okay",
    "yes",
    "no",
    "sure",
    "yes please",
    "one moment",
    "let me check",
    "hello?",
    "anyone there?",
]
_PRAISE = [
    "thanks so much for the quick help",
    "thank you for sorting this out so fast",
    "great service today",
    "love flying with you",
    "the crew on the {time} flight were amazing",
    "best customer service I've had",
    "your agent {name} was incredibly helpful",
    "my order arrived a day early, thank you",
    "thanks for the upgrade",
    "really impressed with how fast the refund came through",
    "the new app is so much easier to use",
    "you guys rock",
    "thank you {name} for going above and beyond",
    "smooth flight and on time, well done",
    "problem solved in two minutes, thanks",
    "the {item} is perfect, exactly what I wanted",
    "so happy with my new plan",
    "appreciate the quick reply",
    "thanks for the heads up",
    "always a pleasure shopping with you",
    "you made my day",
    "awesome, that worked, thank you",
    # Praise for a fixed problem mentions time and the problem; it is still praise.
    "the agent sorted it in {n} minutes",
    "great service, {name} fixed it straight away",
    "the issue was resolved the same day, thank you",
    "refund received, thanks for sorting it",
    "the replacement {item} arrived in {n} days as promised",
    "the engineer came on time and fixed everything",
    "all sorted now, cheers",
    "quick and friendly help, very happy",
]
_PRAISE_TAILS = [
    "",
    "",
    "!",
    "!!",
    " :)",
    " 😊",
    " 👍",
    " ❤️",
    " #happycustomer",
    " will definitely be back.",
    " keep it up.",
    " much appreciated.",
]
_NEUTRAL_TAILS = ["", "", "", "?", " thanks", " thx", " please", " #question", " any info?"]
_NEG_TAILS = ["", "", "", " #fail", " 😡", " 😤", " #customerservice", " smh", " !!", " 🙄", " #neveragain"]
_FILL = {
    "place": ["Denver", "Boston", "Chicago", "London", "Miami", "Austin", "Toronto", "Madrid", "Seattle", "Dallas"],
    "day": ["Monday", "Friday", "Sunday", "the 14th", "tomorrow", "next week", "Saturday morning"],
    "time": ["6am", "noon", "8:40", "evening", "9pm", "early morning"],
    "code": ["AB12CD", "4471", "#558201", "XK9912", "1183", "ZZ77Q2"],
    "item": ["blue sweater", "X200 headphones", "kettle", "sofa", "tablet", "running shoes"],
    "name": ["Maria", "James", "Priya", "Tom", "Aisha", "Luis"],
    "money": ["$75", "$200", "£40", "50 euros", "$1,100", "$30"],
    "when": ["last week", "yesterday", "in March", "two weeks ago", "this morning", "on Monday", "last year"],
    "relative": ["wife", "husband", "mother", "father", "son", "daughter", "partner", "sister"],
    "plan": ["family", "basic", "premium", "unlimited", "student", "business"],
}
_HANDLES = ["@ShopCo", "@FastShip", "@AirlineHelp", "@TelcoCares", "@MyBank", "@AppSupport", "@RailNow", "@HotelDesk"]


def _fill(text: str, rng: random.Random) -> str:
    while "{" in text:
        start = text.index("{")
        key = text[start + 1 : text.index("}", start)]
        value = str(rng.choice([2, 3, 4, 5, 6, 10, 45, 90])) if key == "n" else rng.choice(_FILL[key])
        text = text[:start] + value + text[text.index("}", start) + 1 :]
    return text


def _style(text: str, rng: random.Random, tails: list[str]) -> str:
    """Social-media and chat noise, so the tagger sees messages as customers write them."""
    text = text + rng.choice(tails)
    r = rng.random()
    if r < 0.3:
        text = text.lower()
    elif r < 0.38:
        text = text.replace("you", "u").replace("please", "pls").replace("thanks", "thx")
    if rng.random() < 0.45:
        text = rng.choice(_HANDLES) + " " + text
    return text[0].upper() + text[1:] if text and rng.random() < 0.6 else text


def _negative(rng: random.Random) -> str:
    domain = _DOMAINS[rng.choice(list(_DOMAINS))]
    event = f"{rng.choice(domain['things'])} {rng.choice(domain['fails'])}"
    parts = [event]
    if rng.random() < 0.35:
        parts.append(rng.choice(_SERVICE_FAILS))
    parts += [rng.choice(_CONSEQUENCES), rng.choice(_DEMANDS)]
    if rng.random() < 0.2:  # a service failure on its own ("on hold for 90 minutes")
        parts = [rng.choice(_SERVICE_FAILS), rng.choice(_CONSEQUENCES), rng.choice(_DEMANDS)]
    joiner = rng.choice([". ", ", ", " and ", "... ", " - "])
    text = joiner.join(p.rstrip(".") for p in parts[:2] if p)
    text += "".join(" " + p for p in parts[2:] if p)
    return _style(_fill(text, rng), rng, _NEG_TAILS)


def _neutral(rng: random.Random) -> str:
    domain = _DOMAINS[rng.choice(list(_DOMAINS))]
    r = rng.random()
    if r < 0.55:
        text = rng.choice(domain["questions"]) + "?"
        if rng.random() < 0.35:
            text = rng.choice(_NEUTRAL_STATEMENTS + _CONTEXT) + ". " + text
        if rng.random() < 0.15:
            text = rng.choice(["hi, ", "hello, ", "quick question: ", "hey ", "hi there! "]) + text
    elif r < 0.75:
        text = rng.choice(_CONTEXT) + rng.choice([".", "", " - " + rng.choice(domain["questions"]) + "?"])
    elif r < 0.93:
        text = rng.choice(_NEUTRAL_STATEMENTS) + rng.choice(_NEUTRAL_TAILS)
    else:
        text = rng.choice(_GREETINGS)
    return _style(_fill(text, rng), rng, [""])


def _positive(rng: random.Random) -> str:
    text = rng.choice(_PRAISE) + rng.choice(_PRAISE_TAILS)
    if rng.random() < 0.2:
        text = rng.choice(["", "just landed. ", "got my order. ", "update: "]) + text
    return _style(_fill(text, rng), rng, [""])


def service_messages(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """`n` distinct (text, label) pairs, label 0/1/2 = negative/neutral/positive, in the proportion
    4:4:2 (support traffic is mostly questions and problems); deterministic for a seed."""
    rng = random.Random(seed)
    makers = [(_negative, 0)] * 4 + [(_neutral, 1)] * 4 + [(_positive, 2)] * 2
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        make, label = makers[len(out) % len(makers)] if tries <= n else rng.choice(makers)
        text = make(rng)
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append((text, label))
    return out


if __name__ == "__main__":
    import sys

    for text, label in service_messages(int(sys.argv[1]) if len(sys.argv) > 1 else 12, seed=1):
        print(("negative", "neutral", "positive")[label], "|", text)
