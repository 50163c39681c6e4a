"""Deployments: the seed 000 objects that turn a DeploymentConfig into artifacts and running apps."""
