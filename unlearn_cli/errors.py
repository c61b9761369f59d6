"""The one error type users see. Everything the user can fix is raised as UnlearnError."""


class UnlearnError(Exception):
    """A problem with the user's input or environment, shown as one line with exit code 1.

    The message should say what is wrong and what to do about it.
    """

    exit_code = 1
