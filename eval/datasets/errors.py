"""The error every dataset reader raises for a malformed file."""

from pathlib import Path

from groundex.agent import GroundexError


class DatasetFormatError(GroundexError):
    """A dataset file that does not follow its format; the message names the file and, where known, the line."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


def read_text_file(path: Path) -> str:
    """A data file's text (UTF-8, a BOM dropped); a missing or undecodable file is a ``DatasetFormatError``."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise DatasetFormatError(path, "file does not exist") from error
    except UnicodeDecodeError as error:
        raise DatasetFormatError(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
