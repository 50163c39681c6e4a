"""The ``pepperpy-cloud`` command line: one module per command group."""
