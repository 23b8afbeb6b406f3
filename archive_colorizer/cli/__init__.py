"""The `archcolor` command line: Typer commands that call services; never SQL or torch."""
