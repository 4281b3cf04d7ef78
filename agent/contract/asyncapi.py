"""The AsyncAPI 3.0 document of the gateway: every channel it publishes to or listens on.

Written from the gateway's side (``send``: it publishes; ``receive``: it subscribes).
Payloads reference the JSON Schema files written beside the document (agent/contract/
schemas.py), so each schema exists once; every event message is the CloudEvents
envelope with ``type``, ``dataschema`` and ``data`` pinned to one event type.
Validated by the official parser (@asyncapi/parser, .ci/asyncapi-validate.mjs).
"""

from __future__ import annotations

from typing import Any

from agent.contract.schemas import (
    Schema,
    data_path,
    envelope_path,
    envelope_schema,
    event_schemas,
    payload_path,
    payload_schemas,
)
from agent.event_types import EVENT_TYPES

ASYNCAPI_VERSION = "3.0.0"
# AsyncAPI 3.0 names no JSON Schema format newer than draft-07. The files are 2020-12,
# using only keywords that mean the same in both ($defs is reached by JSON pointer).
SCHEMA_FORMAT = "application/schema+json;version=draft-07"
MQTT_BINDING = "0.2.0"
# Remote-management commands (issue 14 item 5); their argument models join PAYLOADS.
COMMANDS = (
    "ping", "diag", "config.get", "config.apply", "driver.restart", "logs.tail",
    "buffer.stats", "buffer.requeue-dead", "snapshot",
)  # fmt: skip

_DESCRIPTION = """\
What a community edge gateway publishes to, and receives from, the central platform over
MQTT v5 (QoS 1, TLS with client certificates). Events are CloudEvents 1.0 in structured
JSON mode; each carries `dataschema`, the URI of the JSON Schema (draft 2020-12) of its
`data` and that schema's major version, e.g. `urn:edge-agent:schema:elevator.fault:v1`,
which is the file `data/elevator.fault.v1.schema.json` beside this document. Compatible
changes (a new optional field, a new enum value) keep the version, so ignore properties
you do not know; an incompatible one bumps it. De-duplicate on `id`, detect gaps on
`seq` (docs/events.md)."""


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def _payload(schema: dict[str, Any]) -> dict[str, Any]:
    return {"schemaFormat": SCHEMA_FORMAT, "schema": schema}


def _mqtt_op(*, retain: bool = False) -> dict[str, Any]:
    return {"mqtt": {"qos": 1, "retain": retain, "bindingVersion": MQTT_BINDING}}


def _summary(schema: Schema) -> str:
    text = str(schema.doc.get("description", "")).strip()
    return text.split("\n", 1)[0]


def _event_message(event_type: str, schema: Schema, envelope: str) -> dict[str, Any]:
    pinned = {
        "type": "object",
        "required": ["type", "dataschema", "data"],
        "properties": {
            "type": {"const": event_type},
            "dataschema": {"const": schema.uri},
            "data": _ref(f"./{data_path(schema)}"),
        },
    }
    return {
        "name": event_type,
        "title": event_type,
        "summary": _summary(schema),
        "contentType": "application/json",
        "payload": _payload({"allOf": [_ref(f"./{envelope}"), pinned]}),
    }


def _param(description: str, enum: list[str] | None = None) -> dict[str, Any]:
    return {"description": description, **({"enum": enum} if enum else {})}


def _event_channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for channel in ("events", "telemetry"):
        types = sorted(t for t, e in EVENT_TYPES.items() if channel in e.channels)
        categories = sorted({t.split(".", 1)[0] for t in types})
        channels[channel] = {
            "address": f"edge/{{gateway_id}}/{channel}/{{category}}",
            "description": (
                "Alarms and events (priority alarm or event)."
                if channel == "events"
                else "Periodic or on-change state (priority telemetry)."
            ),
            "parameters": {
                "gateway_id": _ref("#/components/parameters/gateway_id"),
                "category": _param("The first part of the event type.", categories),
            },
            "messages": {t: _ref(f"#/components/messages/{t}") for t in types},
        }
    return channels


def _other_channels() -> dict[str, Any]:
    gw = {"gateway_id": _ref("#/components/parameters/gateway_id")}
    return {
        "snapshots": {
            "address": "edge/{gateway_id}/snapshots/{event_id}/{n}",
            "description": "Binary attachment n (1-based) of an event, e.g. an evidence "
            "JPEG; listed with its sha256 in the event's `attachments`.",
            "parameters": {
                **gw,
                "event_id": _param("The id of the event the attachment belongs to."),
                "n": _param("1-based index into the event's attachments."),
            },
            "messages": {"snapshot": _ref("#/components/messages/snapshot")},
        },
        "status": {
            "address": "edge/{gateway_id}/status",
            "description": "Retained presence: online (birth) or offline (clean stop, or "
            "the last will published by the broker).",
            "parameters": gw,
            "messages": {"status": _ref("#/components/messages/status")},
        },
        "receipts": {
            "address": "edge/{gateway_id}/receipts",
            "description": "The platform confirms an alarm: stored, then acknowledged. "
            "Only the platform may write here (broker ACL).",
            "parameters": gw,
            "messages": {"receipt": _ref("#/components/messages/receipt")},
        },
        "commands": {
            "address": "edge/{gateway_id}/cmd/{name}",
            "description": "Remote-management requests, answered on the request's MQTT v5 "
            "Response Topic with its Correlation Data. Allow-listed; no shell.",
            "parameters": {**gw, "name": _param("The command.", list(COMMANDS))},
            "messages": {"commandRequest": _ref("#/components/messages/commandRequest")},
        },
        "commandReplies": {
            "address": None,
            "description": "The Response Topic the requester named.",
            "messages": {"commandReply": _ref("#/components/messages/commandReply")},
        },
    }


def _other_messages(payloads: dict[str, Schema]) -> dict[str, Any]:
    def plain(name: str, summary: str) -> dict[str, Any]:
        schema = payloads[name]
        return {
            "name": name,
            "summary": summary,
            "contentType": "application/json",
            "payload": _payload(_ref(f"./{payload_path(schema)}")),
        }

    correlation = {"location": "$message.header#/correlationData"}
    request = plain("command-request", "A command and its arguments.")
    request["correlationId"] = correlation
    request["bindings"] = {
        "mqtt": {
            "responseTopic": {"type": "string"},
            "correlationData": {"type": "string", "format": "binary"},
            "bindingVersion": MQTT_BINDING,
        }
    }
    reply = plain("command-reply", "The command's outcome.")
    reply["correlationId"] = correlation
    return {
        "snapshot": {
            "name": "snapshot",
            "summary": "The raw bytes of one attachment.",
            "contentType": "image/jpeg",
            "payload": {"type": "string", "format": "binary"},
        },
        "status": plain("status", "Gateway presence."),
        "receipt": plain("receipt", "An alarm receipt."),
        "commandRequest": request,
        "commandReply": reply,
    }


def _operations(channels: dict[str, Any]) -> dict[str, Any]:
    def op(action: str, channel: str, summary: str, *, retain: bool = False) -> dict[str, Any]:
        names = sorted(channels[channel]["messages"])
        return {
            "action": action,
            "channel": _ref(f"#/channels/{channel}"),
            "summary": summary,
            "bindings": _mqtt_op(retain=retain),
            "messages": [_ref(f"#/channels/{channel}/messages/{n}") for n in names],
        }

    command = op("receive", "commands", "Accept a command on the gateway's own topic.")
    command["reply"] = {
        "address": {"location": "$message.header#/responseTopic"},
        "channel": _ref("#/channels/commandReplies"),
        "messages": [_ref("#/channels/commandReplies/messages/commandReply")],
    }
    return {
        "sendEvent": op("send", "events", "Publish an event or alarm (after the outbox)."),
        "sendTelemetry": op("send", "telemetry", "Publish telemetry."),
        "sendSnapshot": op("send", "snapshots", "Publish an event's attachment."),
        "sendStatus": op("send", "status", "Announce presence (retained).", retain=True),
        "receiveReceipt": op("receive", "receipts", "Take the platform's alarm receipts."),
        "receiveCommand": command,
    }


def document(version: str) -> dict[str, Any]:
    """The AsyncAPI document; ``version`` is the gateway's (info.version)."""
    envelope = envelope_path(envelope_schema())
    events = event_schemas()
    payloads = payload_schemas()
    messages = {t: _event_message(t, s, envelope) for t, s in events.items()}
    messages.update(_other_messages(payloads))
    channels = {**_event_channels(), **_other_channels()}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:edge-agent:gateway",
        "info": {
            "title": "edge-agent gateway",
            "version": version,
            "description": _DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "platform": {
                "host": "{host}:{port}",
                "protocol": "secure-mqtt",
                "protocolVersion": "5",
                "description": "The platform's broker: TLS only, client certificate whose "
                "CN is the gateway id.",
                "variables": {
                    "host": {"description": "Broker host name."},
                    "port": {"default": "8883"},
                },
                "security": [_ref("#/components/securitySchemes/clientCertificate")],
            }
        },
        "channels": channels,
        "operations": _operations(channels),
        "components": {
            "messages": messages,
            "parameters": {"gateway_id": _param("The gateway id (its certificate's CN).")},
            "securitySchemes": {
                "clientCertificate": {
                    "type": "X509",
                    "description": "Mutual TLS; the broker ACL confines a gateway to "
                    "edge/{its CN}/#.",
                }
            },
        },
    }
