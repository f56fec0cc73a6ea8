"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class MinescanError(Exception):
    """A user-facing error: bad input, a missing file, an impossible request.

    The CLI prints ``error: <message>`` on one line and exits with status 2.
    Anything else that escapes is a bug and keeps its traceback.
    """
