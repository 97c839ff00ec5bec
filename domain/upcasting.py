"""Events stored by an older version of their class, brought up to date when read."""

from typing import Any


def upcast(cls: type, state: dict[str, Any]) -> None:
    """Brings the fields of an event stored by an older `class_version` up to date."""
    class_version = getattr(cls, "class_version", 1)
    from_version = state.pop("class_version", 1)
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1
