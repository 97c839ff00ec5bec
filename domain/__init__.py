"""The user-profile domain: the User aggregate, its events and the metadata rules.

Nothing in here knows about HTTP or Kafka; `domain.storage` holds the event-store adapters
chosen by configuration.
"""
