"""The database connection's password policy: a minimum length and character classes.

Rules are reported the way Auth0 reports them in a `PasswordStrengthError` (the format of its
password-sheriff library), so sign-up forms built for Auth0 can show them.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CharacterTest = Callable[[str], bool]

CHARACTER_CLASSES: tuple[tuple[str, str, CharacterTest], ...] = (
    ("lowerCase", "lower case letters (a-z)", str.islower),
    ("upperCase", "upper case letters (A-Z)", str.isupper),
    ("numbers", "numbers (i.e. 0-9)", str.isdigit),
    (
        "specialCharacters",
        "special characters (e.g. !@#$%^&*)",
        lambda c: c in string.punctuation or c.isspace(),
    ),
)


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 8
    # How many of the four character classes a password must contain (0 to 4).
    min_character_classes: int = 3

    def __post_init__(self) -> None:
        if self.min_length < 1:
            raise ValueError("the password policy needs a minimum length of at least 1")
        if not 0 <= self.min_character_classes <= len(CHARACTER_CLASSES):
            raise ValueError("the password policy counts between 0 and 4 character classes")

    def rules(self, password: str) -> list[dict[str, Any]]:
        """Each rule of the policy, and whether `password` satisfies it."""
        rules: list[dict[str, Any]] = [
            {
                "message": "At least %d characters in length",
                "format": [self.min_length],
                "code": "lengthAtLeast",
                "verified": len(password) >= self.min_length,
            }
        ]
        if self.min_character_classes:
            present = [any(map(test, password)) for _, _, test in CHARACTER_CLASSES]
            rules.append(
                {
                    "message": "Contain at least %d of the following %d types of characters:",
                    "format": [self.min_character_classes, len(CHARACTER_CLASSES)],
                    "code": "containsAtLeast",
                    "verified": sum(present) >= self.min_character_classes,
                    "items": [
                        {"message": message, "code": code, "verified": verified}
                        for (code, message, _), verified in zip(
                            CHARACTER_CLASSES, present, strict=True
                        )
                    ],
                }
            )
        return rules

    def accepts(self, password: str) -> bool:
        return all(rule["verified"] for rule in self.rules(password))

    def describe(self) -> str:
        """The policy as text, one rule a line."""
        lines = [f"* At least {self.min_length} characters in length"]
        if self.min_character_classes:
            lines.append(
                f"* Contain at least {self.min_character_classes} of the following "
                f"{len(CHARACTER_CLASSES)} types of characters:"
            )
            lines.extend(f" * {message}" for _, message, _ in CHARACTER_CLASSES)
        return "\n".join(lines)
