"""What the API and the CLI call: each service checks a request, changes the store in one
transaction with its audit entry, and publishes what changed.
"""
