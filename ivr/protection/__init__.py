"""Worker protection: case codes, caller-number privacy, the audit log, retention."""
