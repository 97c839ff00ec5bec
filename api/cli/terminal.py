"""Output for people: rich consoles that colour on a terminal (unless NO_COLOR, or as asked),
wrap lines between words there, and leave lines whole in a file or a pipe."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console

COLOR_CHOICES = ("auto", "always", "never")


def console(out: TextIO, color: str) -> Console:
    """Colours on a terminal (unless NO_COLOR) or when asked; lines wrap at words on a terminal
    and are left whole when the output goes to a file or a pipe."""
    terminal = out.isatty()
    force = {"always": True, "never": False}.get(color)
    return Console(
        file=out,
        force_terminal=force,
        no_color=color == "never",
        color_system="standard" if force or (color == "auto" and terminal) else None,
        soft_wrap=not terminal,
        highlight=False,
    )
