"""Edge-gateway agent: supervised drivers, a durable outbox and an MQTT forwarder."""

__version__ = "0.1.0"
