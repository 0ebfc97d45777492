"""The `loopdesk` command line: `main` composes every package's subcommands; `common` holds what the
sub-CLIs share (the effective config, `--json` output, error mapping); `console` is `operator`/`report`."""
