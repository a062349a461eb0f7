"""Flow tests: a flow run on the real engine with its outside world mocked, and what it must do."""
