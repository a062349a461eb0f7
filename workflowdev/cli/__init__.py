"""The `workflowdev` command line: `main` parses, and one module per family of commands handles.

`server` (server, worker), `console` (up, tui), `flows` (validate, run), `credentials`
(rotate-key) and `users` (user …); `failures` turns whatever stops a command into one line.
"""

from workflowdev.cli.main import main

__all__ = ["main"]
