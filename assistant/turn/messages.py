"""The assistant's fixed messages (handover, offers, declines, queue) in the customer's language.

A translation table, no model: English plus French, Spanish, German, Italian and Portuguese.
`text(key, language, **values)` falls back to English for any other language. Placeholders:
{business}, {wait}, {position}, {name}, {email}.
"""

from __future__ import annotations

from assistant.config import LANGUAGES as LANGUAGES  # re-exported: one list for config, settings, messages

MESSAGES: dict[str, dict[str, str]] = {
    "empty": {
        "en": "Please type a question — for example about returns, shipping or your account.",
        "fr": "Veuillez écrire une question — par exemple sur les retours, la livraison ou votre compte.",
        "es": "Escriba una pregunta, por ejemplo sobre devoluciones, envíos o su cuenta.",
        "de": "Bitte schreiben Sie eine Frage — zum Beispiel zu Rücksendungen, Versand oder Ihrem Konto.",
        "it": "Scriva una domanda, ad esempio su resi, spedizioni o il suo account.",
        "pt": "Escreva uma pergunta — por exemplo sobre devoluções, envios ou a sua conta.",
    },
    "queued": {
        "en": "I've asked a member of the {business} team to join this conversation. You are number {position} "
        "in line; the expected wait is {wait}. I'll stay quiet until they have answered.",
        "fr": "J'ai demandé à un membre de l'équipe {business} de rejoindre cette conversation. Vous êtes "
        "numéro {position} dans la file ; l'attente prévue est de {wait}.",
        "es": "He pedido a una persona del equipo de {business} que se una a esta conversación. Es el número "
        "{position} en la cola; la espera prevista es de {wait}.",
        "de": "Ich habe ein Mitglied des {business}-Teams gebeten, dieses Gespräch zu übernehmen. Sie sind "
        "Nummer {position} in der Warteschlange; die erwartete Wartezeit beträgt {wait}.",
        "it": "Ho chiesto a una persona del team {business} di unirsi a questa conversazione. È il numero "
        "{position} in coda; l'attesa prevista è di {wait}.",
        "pt": "Pedi a alguém da equipa {business} para se juntar a esta conversa. É o número {position} na "
        "fila; a espera prevista é de {wait}.",
    },
    "queued_offline": {
        "en": "No one from the {business} team is online right now. Leave your e-mail address below and a person "
        "will reply to you there; this conversation stays in our queue.",
        "fr": "Personne de l'équipe {business} n'est en ligne pour le moment. Laissez votre adresse e-mail "
        "ci-dessous et une personne vous répondra par e-mail.",
        "es": "Ahora mismo no hay nadie del equipo de {business} conectado. Deje su correo electrónico abajo y "
        "una persona le responderá por correo.",
        "de": "Gerade ist niemand vom {business}-Team online. Hinterlassen Sie unten Ihre E-Mail-Adresse, "
        "dann antwortet Ihnen eine Person per E-Mail.",
        "it": "Al momento nessuno del team {business} è online. Lasci il suo indirizzo e-mail qui sotto e una "
        "persona le risponderà via e-mail.",
        "pt": "Neste momento ninguém da equipa {business} está online. Deixe o seu e-mail abaixo e uma pessoa "
        "responder-lhe-á por e-mail.",
    },
    # The same moment when the shop sends no e-mail (email.smtp_host empty): nothing is promised by e-mail.
    "queued_offline_no_email": {
        "en": "No one from the {business} team is online right now. This conversation stays in our queue, and "
        "a person will answer here as soon as someone is back; keep this page open or come back to it later.",
        "fr": "Personne de l'équipe {business} n'est en ligne pour le moment. Cette conversation reste dans notre "
        "file : une personne vous répondra ici dès son retour ; gardez cette page ouverte ou revenez-y plus tard.",
        "es": "Ahora mismo no hay nadie del equipo de {business} conectado. Esta conversación sigue en nuestra "
        "cola y una persona le responderá aquí en cuanto vuelva; mantenga esta página abierta o vuelva más tarde.",
        "de": "Gerade ist niemand vom {business}-Team online. Dieses Gespräch bleibt in unserer Warteschlange, "
        "und eine Person antwortet hier, sobald jemand zurück ist; lassen Sie die Seite offen oder schauen Sie "
        "später wieder vorbei.",
        "it": "Al momento nessuno del team {business} è online. Questa conversazione resta in coda e una persona "
        "le risponderà qui appena possibile; tenga aperta questa pagina o torni più tardi.",
        "pt": "Neste momento ninguém da equipa {business} está online. Esta conversa fica na nossa fila e uma "
        "pessoa responderá aqui assim que voltar; mantenha esta página aberta ou volte mais tarde.",
    },
    "unsupported_language": {
        "en": "Sorry, I can only answer in English. I've asked a colleague who speaks your language to pick this up.",
        "fr": "Désolé, je ne peux répondre qu'en anglais. J'ai demandé à un collègue qui parle français de "
        "prendre le relais.",
        "es": "Lo siento, solo puedo responder en inglés. He pedido a un compañero que habla español que le atienda.",
        "de": "Entschuldigung, ich kann nur auf Englisch antworten. Ich habe eine Kollegin gebeten, die Deutsch "
        "spricht, das Gespräch zu übernehmen.",
        "it": "Mi dispiace, posso rispondere solo in inglese. Ho chiesto a un collega che parla italiano di "
        "occuparsene.",
        "pt": "Desculpe, só consigo responder em inglês. Pedi a um colega que fala português para continuar a "
        "conversa.",
    },
    "negative_streak": {
        "en": "I'm sorry this has been frustrating. Would you like me to connect you with a human agent?",
        "fr": "Je suis désolé que ce soit frustrant. Voulez-vous que je vous mette en relation avec une personne "
        "de notre équipe ?",
        "es": "Siento que esto resulte frustrante. ¿Quiere que le ponga en contacto con una persona de nuestro equipo?",
        "de": "Es tut mir leid, dass das so ärgerlich ist. Soll ich Sie mit einer Person aus unserem Team verbinden?",
        "it": "Mi dispiace per il disagio. Vuole che la metta in contatto con una persona del nostro team?",
        "pt": "Lamento que isto esteja a ser frustrante. Quer que o ponha em contacto com uma pessoa da nossa equipa?",
    },
    "not_covered": {
        "en": "I'm sorry, I couldn't find that in the {business} help pages, and I'd rather not guess. "
        "Would you like me to connect you with a human agent who can check?",
    },
    "human_offer": {
        "en": "Would you like me to connect you with a human agent who can check?",
    },
    "offer_declined": {
        "en": "No problem — I'm here if you have another question.",
        "fr": "Pas de souci — je reste là si vous avez une autre question.",
        "es": "De acuerdo, aquí sigo si tiene otra pregunta.",
        "de": "Kein Problem — ich bin da, wenn Sie noch eine Frage haben.",
        "it": "Nessun problema, sono qui se ha un'altra domanda.",
        "pt": "Sem problema — estou aqui se tiver outra pergunta.",
    },
    # The one-click question after an operator closed the conversation (assistant/web/satisfaction.py).
    "satisfaction_question": {
        "en": "This conversation is closed. How did we do?",
        "fr": "Cette conversation est terminée. Notre aide vous a-t-elle satisfait ?",
        "es": "Esta conversación ha terminado. ¿Qué tal le hemos atendido?",
        "de": "Dieses Gespräch ist beendet. Wie zufrieden sind Sie mit unserer Hilfe?",
        "it": "Questa conversazione è chiusa. Come valuta il nostro aiuto?",
        "pt": "Esta conversa foi encerrada. Como avalia a nossa ajuda?",
    },
    "satisfaction_good": {"en": "Good", "fr": "Bien", "es": "Bien", "de": "Gut", "it": "Bene", "pt": "Bem"},
    "satisfaction_bad": {"en": "Bad", "fr": "Mal", "es": "Mal", "de": "Schlecht", "it": "Male", "pt": "Mal"},
    "satisfaction_thanks": {
        "en": "Thanks for telling us!",
        "fr": "Merci de votre réponse !",
        "es": "¡Gracias por su respuesta!",
        "de": "Danke für Ihre Rückmeldung!",
        "it": "Grazie per la sua risposta!",
        "pt": "Obrigado pela sua resposta!",
    },
    "satisfaction_failed": {
        "en": "Sorry, your answer could not be saved. Please try again.",
        "fr": "Désolé, votre réponse n'a pas pu être enregistrée. Veuillez réessayer.",
        "es": "Lo sentimos, no se pudo guardar su respuesta. Inténtelo de nuevo.",
        "de": "Entschuldigung, Ihre Antwort konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.",
        "it": "Ci dispiace, non è stato possibile salvare la sua risposta. Riprovi.",
        "pt": "Lamentamos, não foi possível guardar a sua resposta. Tente novamente.",
    },
    "email_saved": {
        "en": "Thanks — we'll reply to {email}.",
        "fr": "Merci — nous vous répondrons à {email}.",
        "es": "Gracias, le responderemos a {email}.",
        "de": "Danke — wir antworten an {email}.",
        "it": "Grazie, le risponderemo a {email}.",
        "pt": "Obrigado — responderemos para {email}.",
    },
}


def text(key: str, language: str = "en", **values: str) -> str:
    """The message in `language` (English when there is no translation), with values filled in."""
    table = MESSAGES[key]
    return table.get(language, table["en"]).format(**values)


WAITS = {
    "en": ("about {n} minutes", "a few minutes"),
    "fr": ("environ {n} minutes", "quelques minutes"),
    "es": ("unos {n} minutos", "unos minutos"),
    "de": ("etwa {n} Minuten", "wenige Minuten"),
    "it": ("circa {n} minuti", "pochi minuti"),
    "pt": ("cerca de {n} minutos", "alguns minutos"),
}


def wait_phrase(seconds: float | None, language: str = "en") -> str:
    """ "about 3 minutes" (in the customer's language) for the queue message; unknown -> "a few minutes"."""
    known, unknown = WAITS.get(language, WAITS["en"])
    if seconds is None:
        return unknown
    return known.format(n=max(1, round(seconds / 60)))
