"""groundex evaluation: dataset readers, the one scorer (GMNER / MNER / EEG), benchmark runs and reports."""
