"""Erasure as readers see it: the events of an erased user read back with their personal fields
blank and `erased` set (their key was destroyed)."""

ERASED = "erased"


def is_erased(event: object) -> bool:
    """True for events of an erased user (and for the UserDeleted that erased them)."""
    return vars(event).get(ERASED) is True
