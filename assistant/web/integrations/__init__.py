"""Help-desk integrations (Chatwoot today): each is one module registered in `registry`."""
