"""One execution's walk: the runner, control tasks, the lifecycle's rule book and the recorder.

Reaches the services above only through protocols (`Gates`, `KeyValues`, `SubflowLauncher` in
`deps`), which the node wires to the real services.
"""
