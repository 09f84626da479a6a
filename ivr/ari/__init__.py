"""The Asterisk REST Interface: a thin typed client and the event stream."""
