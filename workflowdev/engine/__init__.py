"""The domain, in four rooms by job, over a shared vocabulary.

- `language/`: what a flow says: parsing YAML, validating flows and triggers, expressions.
- `run/`: walking one execution: the runner, control tasks, the lifecycle's rule book, the
  recorder that journals every transition.
- `services/`: what the API and the CLI call: executions, flows, triggers, approvals, kv,
  credentials, users and the audit trail.
- `node/`: one process of a cluster: the engine that wires the rest, the dispatcher and its
  leases, the scheduler, node membership, cross-node notifications and metrics.

Each room imports only the rooms below it (node > services > run > language); the modules at
this level (clock, errors, events, secrets, sealed inputs, durations, failpoints and the plugin
contract) import none of them. import-linter's contracts in pyproject.toml keep it so.
"""
