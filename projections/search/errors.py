"""Why a search could not be answered; the API maps each to an Auth0 error body."""


class SearchError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidQuery(SearchError):
    """The query cannot be parsed, or asks for something the search does not do."""


class QueryTimeout(SearchError):
    """The query ran longer than the search's statement timeout and was cancelled."""


class PositionNotReached(SearchError):
    """The read model did not reach the awaited position within the wait bound."""
