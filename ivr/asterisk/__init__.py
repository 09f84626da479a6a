"""Asterisk 22 configuration for this deployment (`ivr asterisk config`)."""
