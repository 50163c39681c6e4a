"""One module per managed-AI backend; each exposes ``BACKEND``, a class taking ``(provider, options)``.

Request builders are pure functions of their arguments (unit-tested for the exact
requests); the cloud SDKs (boto3) and credential libraries are imported only when a call is made.
"""
