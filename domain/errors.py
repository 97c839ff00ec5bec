"""Domain errors. Entry points translate them into their own dialect (Auth0 error bodies)."""


class DomainError(Exception):
    """Base class of the errors a command can raise for a caller's mistake."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DomainError):
    """The command's input breaks a rule (bad metadata key, too large, wrong type)."""


class UnknownConnection(DomainError):
    """The named connection does not exist."""


class UserNotFound(DomainError):
    """No live user has this id."""


class UserAlreadyExists(DomainError):
    """The user id, or the email within the connection, is taken."""


class EmailAlreadyInUse(DomainError):
    """A profile update asked for an email that another user of the connection holds."""
