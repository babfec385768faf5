"""Command line: `dmarctui PATH` opens the TUI; subcommands run headless."""
