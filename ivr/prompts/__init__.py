"""Prompts: the multilingual catalog, conversion to telephone audio, placeholders."""
