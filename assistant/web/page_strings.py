"""Every string of the customer's page (labels, status line, notes, the cited help page) in the six
languages the assistant's messages have (`assistant.turn.messages.LANGUAGES`), in one table.

The page follows the conversation: before the first message it speaks the browser's language
(`Accept-Language`), then the language detected in the customer's messages (`follow_language`).
`page_text(key, language, **values)` falls back to English for any other language. Run its checks:
`.venv/bin/pytest -q tests/test_page_strings.py`.
"""

from __future__ import annotations

import re

from assistant.turn.language import MIN_LETTERS, strip_markup
from assistant.turn.messages import LANGUAGES

STRINGS: dict[str, dict[str, str]] = {
    # Only when the shop configured no title / greeting of its own (app.title, app.greeting).
    "title": {
        "en": "{business} support",
        "fr": "Assistance {business}",
        "es": "Atención al cliente de {business}",
        "de": "{business} Kundenservice",
        "it": "Assistenza {business}",
        "pt": "Apoio ao cliente {business}",
    },
    "greeting": {
        "en": "Hi! I'm the {business} assistant. Ask me a question: I answer from our help pages, and I can "
        "hand you to a person at any time.",
        "fr": "Bonjour ! Je suis l'assistant de {business}. Posez-moi une question : je réponds à partir de nos "
        "pages d'aide, et je peux vous passer une personne de l'équipe à tout moment.",
        "es": "¡Hola! Soy el asistente de {business}. Hágame una pregunta: respondo a partir de nuestras páginas "
        "de ayuda y puedo pasarle con una persona en cualquier momento.",
        "de": "Hallo! Ich bin der Assistent von {business}. Stellen Sie mir eine Frage: Ich antworte anhand "
        "unserer Hilfeseiten und kann Sie jederzeit an eine Person weitergeben.",
        "it": "Ciao! Sono l'assistente di {business}. Mi faccia una domanda: rispondo in base alle nostre pagine "
        "di aiuto e posso passarla a una persona in qualsiasi momento.",
        "pt": "Olá! Sou o assistente da {business}. Faça-me uma pergunta: respondo com base nas nossas páginas de "
        "ajuda e posso passá-lo a uma pessoa a qualquer momento.",
    },
    # The status line: who is answering.
    "who_assistant": {
        "en": "You're chatting with the {business} assistant. Ask for a person at any time.",
        "fr": "Vous discutez avec l'assistant de {business}. Demandez une personne à tout moment.",
        "es": "Está hablando con el asistente de {business}. Puede pedir una persona en cualquier momento.",
        "de": "Sie chatten mit dem Assistenten von {business}. Sie können jederzeit nach einer Person fragen.",
        "it": "Sta parlando con l'assistente di {business}. Può chiedere una persona in qualsiasi momento.",
        "pt": "Está a falar com o assistente da {business}. Pode pedir uma pessoa a qualquer momento.",
    },
    "who_human": {
        "en": "**{name}** from the {business} team is answering.",
        "fr": "**{name}**, de l'équipe {business}, vous répond.",
        "es": "**{name}**, del equipo de {business}, le atiende.",
        "de": "**{name}** vom {business}-Team antwortet Ihnen.",
        "it": "**{name}** del team {business} le sta rispondendo.",
        "pt": "**{name}**, da equipa {business}, está a responder.",
    },
    "a_colleague": {
        "en": "A colleague",
        "fr": "Une personne",
        "es": "Una persona",
        "de": "Eine Person",
        "it": "Una persona",
        "pt": "Uma pessoa",
    },
    "who_waiting": {
        "en": "Waiting for a person from the {business} team · number {position} in line · {wait}.",
        "fr": "En attente d'une personne de l'équipe {business} · numéro {position} dans la file · {wait}.",
        "es": "Esperando a una persona del equipo de {business} · número {position} en la cola · {wait}.",
        "de": "Warten auf eine Person vom {business}-Team · Nummer {position} in der Warteschlange · {wait}.",
        "it": "In attesa di una persona del team {business} · numero {position} in coda · {wait}.",
        "pt": "À espera de uma pessoa da equipa {business} · número {position} na fila · {wait}.",
    },
    "who_offline": {
        "en": "Waiting for the {business} team — no one is online right now.",
        "fr": "En attente de l'équipe {business} — personne n'est en ligne pour le moment.",
        "es": "Esperando al equipo de {business}: ahora mismo no hay nadie conectado.",
        "de": "Warten auf das {business}-Team — gerade ist niemand online.",
        "it": "In attesa del team {business}: al momento non c'è nessuno online.",
        "pt": "À espera da equipa {business} — neste momento ninguém está online.",
    },
    "who_offline_email": {
        "en": "Waiting for the {business} team — no one is online right now. We'll reply to {email}.",
        "fr": "En attente de l'équipe {business} — personne n'est en ligne pour le moment. Nous vous répondrons "
        "à {email}.",
        "es": "Esperando al equipo de {business}: ahora mismo no hay nadie conectado. Le responderemos a {email}.",
        "de": "Warten auf das {business}-Team — gerade ist niemand online. Wir antworten an {email}.",
        "it": "In attesa del team {business}: al momento non c'è nessuno online. Le risponderemo a {email}.",
        "pt": "À espera da equipa {business} — neste momento ninguém está online. Responderemos para {email}.",
    },
    # The chat button /widget.js puts on a shop's pages (in the shop page's language).
    "chat_with": {
        "en": "Chat with {business}",
        "fr": "Discuter avec {business}",
        "es": "Chatear con {business}",
        "de": "Mit {business} chatten",
        "it": "Chatta con {business}",
        "pt": "Conversar com {business}",
    },
    # Controls.
    "placeholder": {
        "en": "Type your question and press Enter",
        "fr": "Écrivez votre question et appuyez sur Entrée",
        "es": "Escriba su pregunta y pulse Intro",
        "de": "Frage eingeben und Enter drücken",
        "it": "Scriva la sua domanda e prema Invio",
        "pt": "Escreva a sua pergunta e prima Enter",
    },
    "send": {"en": "Send", "fr": "Envoyer", "es": "Enviar", "de": "Senden", "it": "Invia", "pt": "Enviar"},
    "new_conversation": {
        "en": "New conversation",
        "fr": "Nouvelle conversation",
        "es": "Nueva conversación",
        "de": "Neues Gespräch",
        "it": "Nuova conversazione",
        "pt": "Nova conversa",
    },
    "close": {"en": "Close", "fr": "Fermer", "es": "Cerrar", "de": "Schließen", "it": "Chiudi", "pt": "Fechar"},
    "email_label": {
        "en": "Your e-mail address",
        "fr": "Votre adresse e-mail",
        "es": "Su correo electrónico",
        "de": "Ihre E-Mail-Adresse",
        "it": "Il suo indirizzo e-mail",
        "pt": "O seu endereço de e-mail",
    },
    # The character counter under the box ({n} is filled in by the browser as the customer types).
    "count": {lang: "{n} / {limit}" for lang in LANGUAGES},
    "count_over": {
        "en": "{n} / {limit} characters: only the first {limit} will be read. Please shorten your message.",
        "fr": "{n} / {limit} caractères : seuls les {limit} premiers seront lus. Veuillez raccourcir votre message.",
        "es": "{n} / {limit} caracteres: solo se leerán los primeros {limit}. Acorte su mensaje, por favor.",
        "de": "{n} / {limit} Zeichen: Nur die ersten {limit} werden gelesen. Bitte kürzen Sie Ihre Nachricht.",
        "it": "{n} / {limit} caratteri: verranno letti solo i primi {limit}. Accorci il messaggio, per favore.",
        "pt": "{n} / {limit} caracteres: só os primeiros {limit} serão lidos. Encurte a sua mensagem, por favor.",
    },
    # Notes in and under the chat.
    "pending": {
        "en": "queued — sent when the current answer is done",
        "fr": "en attente — envoyé quand la réponse en cours sera terminée",
        "es": "en espera: se enviará cuando termine la respuesta actual",
        "de": "wartet — wird gesendet, sobald die aktuelle Antwort fertig ist",
        "it": "in attesa: verrà inviato al termine della risposta in corso",
        "pt": "em espera — enviada quando a resposta atual terminar",
    },
    "type_first": {
        "en": "Type a message first.",
        "fr": "Écrivez d'abord un message.",
        "es": "Escriba primero un mensaje.",
        "de": "Bitte schreiben Sie zuerst eine Nachricht.",
        "it": "Scriva prima un messaggio.",
        "pt": "Escreva primeiro uma mensagem.",
    },
    "thanks_like": {
        "en": "Thanks for your feedback!",
        "fr": "Merci pour votre avis !",
        "es": "¡Gracias por su opinión!",
        "de": "Danke für Ihr Feedback!",
        "it": "Grazie per il suo parere!",
        "pt": "Obrigado pela sua opinião!",
    },
    "thanks_dislike": {
        "en": "Thanks — we'll use this to improve.",
        "fr": "Merci — nous nous en servirons pour nous améliorer.",
        "es": "Gracias: lo usaremos para mejorar.",
        "de": "Danke — wir nutzen das, um besser zu werden.",
        "it": "Grazie: lo useremo per migliorare.",
        "pt": "Obrigado — vamos usar isto para melhorar.",
    },
    "rating_failed": {
        "en": "Sorry, your rating could not be saved. Please try again.",
        "fr": "Désolé, votre avis n'a pas pu être enregistré. Veuillez réessayer.",
        "es": "Lo sentimos, no se pudo guardar su valoración. Inténtelo de nuevo.",
        "de": "Entschuldigung, Ihre Bewertung konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.",
        "it": "Ci scusi, non è stato possibile salvare la sua valutazione. Riprovi.",
        "pt": "Lamentamos, não foi possível guardar a sua avaliação. Tente novamente.",
    },
    "email_invalid": {
        "en": "That does not look like an e-mail address (name@example.com).",
        "fr": "Cela ne ressemble pas à une adresse e-mail (nom@exemple.com).",
        "es": "Eso no parece una dirección de correo (nombre@ejemplo.com).",
        "de": "Das sieht nicht wie eine E-Mail-Adresse aus (name@beispiel.de).",
        "it": "Non sembra un indirizzo e-mail (nome@esempio.it).",
        "pt": "Isso não parece um endereço de e-mail (nome@exemplo.com).",
    },
    "email_failed": {
        "en": "Sorry, your address could not be saved just now. Please try again in a moment.",
        "fr": "Désolé, votre adresse n'a pas pu être enregistrée. Veuillez réessayer dans un instant.",
        "es": "Lo sentimos, no se pudo guardar su dirección. Inténtelo de nuevo en un momento.",
        "de": "Entschuldigung, Ihre Adresse konnte gerade nicht gespeichert werden. Bitte versuchen Sie es "
        "gleich noch einmal.",
        "it": "Ci scusi, non è stato possibile salvare il suo indirizzo. Riprovi tra un momento.",
        "pt": "Lamentamos, não foi possível guardar o seu endereço. Tente novamente daqui a pouco.",
    },
    "in_line": {
        "en": "Many customers are writing right now — you are number {position} in line.",
        "fr": "Beaucoup de clients écrivent en ce moment — vous êtes numéro {position} dans la file.",
        "es": "Ahora mismo nos escriben muchos clientes: es el número {position} en la cola.",
        "de": "Gerade schreiben uns viele Kunden — Sie sind Nummer {position} in der Warteschlange.",
        "it": "In questo momento ci scrivono molti clienti: è il numero {position} in coda.",
        "pt": "Neste momento estão a escrever muitos clientes — é o número {position} na fila.",
    },
    "truncated": {
        "en": "Your message is {length} characters long; only the first {limit} were read.",
        "fr": "Votre message fait {length} caractères ; seuls les {limit} premiers ont été lus.",
        "es": "Su mensaje tiene {length} caracteres; solo se leyeron los primeros {limit}.",
        "de": "Ihre Nachricht ist {length} Zeichen lang; nur die ersten {limit} wurden gelesen.",
        "it": "Il suo messaggio è lungo {length} caratteri; sono stati letti solo i primi {limit}.",
        "pt": "A sua mensagem tem {length} caracteres; só os primeiros {limit} foram lidos.",
    },
    "busy": {
        "en": "We're very busy right now, so this message was not answered. Please send it again in a minute.",
        "fr": "Nous sommes très sollicités en ce moment : ce message n'a pas reçu de réponse. Veuillez le renvoyer "
        "dans une minute.",
        "es": "Ahora mismo estamos muy ocupados y este mensaje no se ha respondido. Vuelva a enviarlo dentro de "
        "un minuto.",
        "de": "Gerade ist sehr viel los, deshalb wurde diese Nachricht nicht beantwortet. Bitte senden Sie sie "
        "in einer Minute noch einmal.",
        "it": "In questo momento siamo molto occupati e questo messaggio non ha avuto risposta. Lo invii di "
        "nuovo tra un minuto.",
        "pt": "Neste momento estamos muito ocupados e esta mensagem não foi respondida. Envie-a de novo daqui a "
        "um minuto.",
    },
    "apology": {
        "en": "Sorry — something went wrong on our side. Your message is saved; please try again in a moment.",
        "fr": "Désolé — un problème est survenu de notre côté. Votre message est enregistré ; veuillez réessayer "
        "dans un instant.",
        "es": "Lo sentimos: algo ha fallado por nuestra parte. Su mensaje está guardado; inténtelo de nuevo en "
        "un momento.",
        "de": "Entschuldigung — bei uns ist etwas schiefgelaufen. Ihre Nachricht ist gespeichert; bitte versuchen "
        "Sie es gleich noch einmal.",
        "it": "Ci scusi: qualcosa non ha funzionato da parte nostra. Il suo messaggio è salvato; riprovi tra un "
        "momento.",
        "pt": "Lamentamos — algo correu mal do nosso lado. A sua mensagem está guardada; tente novamente daqui a "
        "pouco.",
    },
    "sources": {
        "en": "Sources:",
        "fr": "Sources :",
        "es": "Fuentes:",
        "de": "Quellen:",
        "it": "Fonti:",
        "pt": "Fontes:",
    },
    "team": {
        "en": "{business} team",
        "fr": "équipe {business}",
        "es": "equipo de {business}",
        "de": "{business}-Team",
        "it": "team {business}",
        "pt": "equipa {business}",
    },
    # The cited help page (/kb/<id>).
    "help_pages": {
        "en": "{business} help pages",
        "fr": "Pages d'aide {business}",
        "es": "Páginas de ayuda de {business}",
        "de": "{business} Hilfeseiten",
        "it": "Pagine di aiuto {business}",
        "pt": "Páginas de ajuda {business}",
    },
    "back_to_chat": {
        "en": "Back to the chat",
        "fr": "Retour à la conversation",
        "es": "Volver al chat",
        "de": "Zurück zum Chat",
        "it": "Torna alla chat",
        "pt": "Voltar à conversa",
    },
    "section_missing": {
        "en": "This {business} help section is no longer available; the help pages were updated.",
        "fr": "Cette section de l'aide {business} n'est plus disponible : les pages d'aide ont été mises à jour.",
        "es": "Esta sección de la ayuda de {business} ya no está disponible: las páginas de ayuda se actualizaron.",
        "de": "Dieser Abschnitt der {business}-Hilfe ist nicht mehr verfügbar; die Hilfeseiten wurden aktualisiert.",
        "it": "Questa sezione dell'aiuto {business} non è più disponibile: le pagine di aiuto sono state aggiornate.",
        "pt": "Esta secção da ajuda {business} já não está disponível: as páginas de ajuda foram atualizadas.",
    },
    "not_found": {
        "en": "Not found",
        "fr": "Page introuvable",
        "es": "No encontrada",
        "de": "Nicht gefunden",
        "it": "Non trovata",
        "pt": "Não encontrada",
    },
}

# Digit grouping in each language ("4,000", "4 000", "4.000"): the counter shows numbers the customer's way.
THOUSANDS = {"en": ",", "fr": "\u202f", "es": ".", "de": ".", "it": ".", "pt": "\u00a0"}


def language_or_english(language: str | None) -> str:
    return language if language in LANGUAGES else "en"


def page_text(key: str, language: str = "en", **values: object) -> str:
    """The page string in `language` (English when there is no translation), with values filled in."""
    table = STRINGS[key]
    return table.get(language_or_english(language), table["en"]).format(**values)


def number(n: int, language: str = "en") -> str:
    """`n` grouped by thousands the way `language` writes it."""
    return f"{n:,}".replace(",", THOUSANDS[language_or_english(language)])


_RANGE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def language_from_header(accept_language: str | None) -> str:
    """The page's language before the customer wrote anything: the browser's most wanted language the
    page has (`Accept-Language: fr-CH, fr;q=0.9, en;q=0.8` -> "fr"), else English. Malformed parts are
    skipped, never an error: the header is whatever the client sent."""
    best, best_q = "en", -1.0
    for position, part in enumerate((accept_language or "")[:1000].split(",")[:30]):
        m = _RANGE.match(part)
        if not m:
            continue
        try:
            q = float(m.group(2)) if m.group(2) is not None else 1.0
        except ValueError:
            continue
        lang = m.group(1).lower()
        # Equal weights keep the header's order: the first listed wins.
        if lang in LANGUAGES and 0 < q <= 1 and q > best_q:
            best, best_q = lang, q
    return best


def follow_language(current: str, detected: str | None, text: str) -> str:
    """The page's language after the customer wrote `text` (in which the turn detected `detected`).

    Short messages ("merci", "ok", an order number) keep the current language: the detector falls
    back to its default for them, and a French page must not turn English at "ok". A language the page
    has no strings for keeps the current one too (its customer is handed to a person anyway)."""
    if detected not in LANGUAGES:
        return current
    if sum(ch.isalpha() for ch in strip_markup(text or "")) < MIN_LETTERS:
        return current
    return detected
