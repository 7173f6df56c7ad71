"""Errors a client caused (4xx) or the server met (5xx), answered as one JSON object:
``{"error": "<what is wrong and what to do>", "status": <code>}``, never a traceback."""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than 200, with the message the client sees.

    Args:
        status: the HTTP status (400 malformed JSON, 404 unknown run or route, 413 too large,
            422 wrong types or values, 500 the model failed, 503 overloaded or stopping).
        message: one line naming the problem (the field, the input, the value) and the fix.
        headers: extra response headers (``Retry-After`` with 503).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})

    def body(self) -> dict[str, object]:
        """The JSON body of the answer."""
        return {"error": self.message, "status": self.status}


def bad_request(message: str) -> ApiError:
    """400: the body is not JSON."""
    return ApiError(400, message)


def unprocessable(message: str) -> ApiError:
    """422: JSON of the wrong shape, type or value."""
    return ApiError(422, message)


def too_large(message: str) -> ApiError:
    """413: a body, a request or an input over the server's limits."""
    return ApiError(413, message)
