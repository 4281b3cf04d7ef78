"""Remote management over MQTT v5: the platform's allow-listed commands on
``edge/{gateway_id}/cmd/{name}`` (issue 14 item 5, docs/remote.md).

``models`` is the wire schema, ``handlers`` the allow-list and what each command does,
``logtail`` the redacted log ring behind ``logs.tail``, ``service`` the route that ties
them to agent/inbound.py, replies and the ``gateway.command`` audit event.
"""
