"""The one exception type for a user's mistake: bad input, a missing file, a wrong flag."""

from __future__ import annotations

from pathlib import Path


class ChocoError(Exception):
    """A problem with the user's input, reported as one line naming the file (and line).

    The command line prints it without a traceback and exits non-zero; a notebook shows it as the
    failing cell's error, and the pipeline repeats it.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: a user's mistake reads as one line
        # in Jupyter and in papermill's executed notebooks.
        return [f"ChocoError: {self}"]
