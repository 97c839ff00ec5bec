"""Output for people: rich consoles that colour on a terminal (unless NO_COLOR, or as asked),
wrap lines between words there, and leave lines whole in a file or a pipe."""

from __future__ import annotations

import argparse
from typing import TextIO

from rich.console import Console

COLOR_CHOICES = ("auto", "always", "never")


def add_color_argument(parser: argparse.ArgumentParser, coloured: str) -> None:
    """`--color auto|always|never`, for the `coloured` part of a command's output."""
    parser.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help=f"colour the {coloured} (auto: when writing to a terminal and NO_COLOR is unset)",
    )


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
