"""The Kafka relay: publishes every stored event to the change-stream topic, in order.

- `position` keeps how far the relay got, apart from every other follower of the log;
- `states` folds each batch into the Auth0 user objects before and after each event;
- `publisher` sends a batch with the idempotent producer, in this process or in a child of
  its own, and says when the broker acknowledged it;
- `relay` ties them together: read, fold, publish, then record the position, making the next
  batch while the broker takes the last;
- `service` runs it beside the API or as `metaledger relay`.

The message itself is `projections.cloudevents`; its JSON Schema is `cloudevent.schema.json`.
"""
