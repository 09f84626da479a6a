"""Declarative call flows: the format, its loader and its checker."""
