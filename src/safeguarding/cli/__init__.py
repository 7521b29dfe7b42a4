"""The command-line interface: one Typer app, one module per command group."""
