"""groundex prompt templates: text files under ``templates/``, loaded by name (no prompt text in Python)."""
