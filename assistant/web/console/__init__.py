"""The operator console: the page (`page`), its numbers (`stats`) and operator actions (`operator`)."""
