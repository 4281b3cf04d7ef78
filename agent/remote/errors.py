"""The one exception a remote command raises to answer with an error reply."""

from __future__ import annotations

from agent.remote.models import ErrorCode, Result


class CommandError(Exception):
    """The command cannot be done or did not succeed; becomes the reply's ``error``."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        problems: list[str] | None = None,
        result: Result | None = None,
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.problems = problems or []
        self.result = result
