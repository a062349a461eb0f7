"""One process of a cluster: the engine that wires every service and runner, the dispatcher that
claims and fences work, the scheduler, node membership, notifications across nodes, metrics.
"""
