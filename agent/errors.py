"""The one base class for mistakes a user can fix (bad input, missing file, wrong flag).

The CLI turns these into a one-line message and exit code 2; anything else is a bug and stays loud.
"""


class GroundexError(Exception):
    """An error whose message tells the user what is wrong and what to do."""
