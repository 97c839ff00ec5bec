"""Everything that follows the event log in order and keeps its own position."""
