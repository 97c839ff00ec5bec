"""A toolkit for services that read the Kafka change stream, and reference consumers."""
