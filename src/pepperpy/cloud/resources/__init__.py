"""Seed 000's resources: storage buckets, databases and serverless compute, provisioned per provider.

``ResourceManager(provider)`` takes a resource description (``StorageResource``,
``DatabaseResource``, ``ComputeResource``) and hands it to the provider's own
implementation, so the same three calls work on this machine and on a cloud.
The descriptions live in :mod:`.models`, the manager and its record store in
:mod:`.manager`; each provider's implementation lives beside the provider.
"""
