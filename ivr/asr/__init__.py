"""Offline transcription with Vosk, and spoken menu answers."""
