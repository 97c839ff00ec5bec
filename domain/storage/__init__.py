"""Event-store adapters for the `eventsourcing` library, chosen by configuration."""
