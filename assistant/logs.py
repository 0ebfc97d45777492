"""Logging setup for the app: module loggers (`loopdesk.*`) to stderr, plain text by default or one
JSON object per line (`app.log_format = "json"`, through python-json-logger) for log shippers.

    LOOPDESK_APP_LOG_FORMAT=json loopdesk serve
"""

from __future__ import annotations

import logging
import sys

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level", "name": "logger"}
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
