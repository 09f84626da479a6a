"""An Asterisk 22 emulator that speaks ARI, for tests and `ivr demo`."""
