"""The flow language: what a flow and its triggers say, checked before anything runs.

Knows nothing of executions: parsing, validation and expressions are pure over their input.
"""
