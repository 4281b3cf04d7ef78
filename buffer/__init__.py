"""The durable SQLite outbox every event passes through before it is forwarded."""
