"""The command line, `python -m governance …`: `main` parses and runs a command through the registry; one module per
command group holds its parser, handlers and printers."""
