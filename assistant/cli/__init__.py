"""The `loopdesk` command line: `main` composes every package's subcommands; `common` holds what the
sub-CLIs share (the effective config, `--json` output, error mapping); `console` is `operator`/`report`."""


def __getattr__(name: str):
    # `assistant.cli:app` was the console script's entry point before the CLI became a package;
    # environments installed then still call it. Imported lazily: the sub-CLIs import
    # `assistant.cli.common`, and `main` imports them.
    if name == "app":
        from assistant.cli.main import app

        return app
    raise AttributeError(name)
