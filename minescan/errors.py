"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class MinescanError(Exception):
    """A user-facing error: bad input, a missing file, an impossible request.

    The CLI prints ``error: <message>`` on one line and exits with status 2.
    Anything else that escapes is a bug: the CLI still prints it on one line, and
    ``MINESCAN_DEBUG=1`` shows its traceback.
    """
