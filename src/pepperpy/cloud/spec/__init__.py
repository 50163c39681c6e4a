"""Pydantic models shared by stack files and the Python API."""
