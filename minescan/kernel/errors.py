"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class MinescanError(Exception):
    """A user-facing error: bad input, a missing file, an impossible request.

    The CLI prints ``error: <message>`` on one line and exits with status 2.
    Anything else that escapes is a bug: the CLI still prints it on one line, and
    ``MINESCAN_DEBUG=1`` shows its traceback.
    """


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error message (the exception's type when it has none).

    Library errors (GDAL, pyarrow, pydantic) often span many lines; minescan's
    rule is one line per error, and this is where a message is cut.

    Examples
    --------
    >>> first_line(ValueError("bad file" + chr(10) + "  at offset 12"))
    'bad file'
    >>> first_line(KeyError())
    'KeyError'
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines:
        return lines[0]
    return type(error).__name__ if isinstance(error, BaseException) else ""
