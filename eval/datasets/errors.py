"""The error every dataset reader raises for a malformed file."""

from pathlib import Path

from groundex.agent import GroundexError


class DatasetFormatError(GroundexError):
    """A dataset file that does not follow its format; the message names the file and, where known, the line."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line
