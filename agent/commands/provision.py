"""``edge-agent provision``: one gateway's config and credentials, checked, installed, tested.

The order is the installer's: refuse bad inputs before anything is written (a plaintext
broker, a certificate that does not match its key, has expired, or names another gateway),
lay the files down (agent/provision.py), run ``config check`` on the result as the service
user would, then connect to the broker once with the installed credentials. Exit 0 when
all of that passed, 2 for a refused input or a config that does not check, 1 when the
broker could not be reached or refused us. ``--no-connect`` skips only the last step, for
a gateway prepared on the bench where its broker is not reachable yet (docs/install.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

EXPIRY_WARN_DAYS = 30


def register(sub: Any) -> None:
    p = sub.add_parser(
        "provision",
        help="install this gateway's config and credentials, then test the connection",
        description="Check the certificate and key, write CONFIG_DIR/config.yaml (0640 "
        "root:edge-agent) and CONFIG_DIR/tls/ (key 0600 edge-agent), check the config and "
        "connect to the broker once. Re-running with the same inputs changes nothing.",
    )
    p.add_argument("--gateway-id", required=True, help="must equal the certificate's CN")
    p.add_argument("--site", required=True, help="community/site label")
    p.add_argument("--broker", required=True, metavar="mqtts://HOST:PORT")
    p.add_argument("--ca", required=True, type=Path, help="CA that signed the broker's cert")
    p.add_argument("--cert", required=True, type=Path, help="this gateway's certificate")
    p.add_argument("--key", required=True, type=Path, help="its private key (no passphrase)")
    p.add_argument(
        "--config-dir", type=Path, default=Path("/etc/edge-agent"), help="default /etc/edge-agent"
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path("/var/lib/edge-agent"),
        help="outbox and driver state (default /var/lib/edge-agent)",
    )
    p.add_argument("--server-name", help="name on the broker's certificate, if not HOST")
    p.add_argument(
        "--no-connect",
        action="store_true",
        help="skip the connection test (bench provisioning with no route to the broker)",
    )
    p.set_defaults(handler=_provision)


def _say(text: str) -> None:
    print(f"provision: {text}")


def _refuse(text: str) -> int:
    print(f"provision: refused: {text}", file=sys.stderr)
    return EXIT_USAGE


def _request(args: argparse.Namespace) -> Any:
    from agent.config_model import GatewayConfig
    from agent.provision import ProvisionError, Request, parse_broker

    host, port = parse_broker(args.broker)
    try:
        GatewayConfig(id=args.gateway_id, site=args.site)
    except ValueError:
        raise ProvisionError(
            f"gateway id {args.gateway_id!r}: letters, digits, '-' and '_', at most 64"
        ) from None
    return Request(
        gateway_id=args.gateway_id,
        site=args.site,
        host=host,
        port=port,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        config_dir=args.config_dir.absolute(),
        state_dir=args.state_dir.absolute(),
        server_name=args.server_name,
    )


def _check_inputs(req: Any) -> None:
    from agent.credentials import check_ca, check_client_credentials

    check_ca(req.ca)
    now = datetime.now(UTC)
    cert = check_client_credentials(req.cert, req.key, gateway_id=req.gateway_id, now=now)
    days = cert.days_left(now)
    _say(
        f"certificate CN {cert.common_name}, valid until "
        f"{cert.not_after.strftime('%Y-%m-%d %H:%M UTC')} ({days:.0f} days)"
    )
    if days < EXPIRY_WARN_DAYS:
        print(
            f"provision: warning: the certificate expires in {days:.0f} days; "
            "ask the platform for its renewal",
            file=sys.stderr,
        )


def _report(outcome: Any, owners: Any) -> None:
    for path in outcome.changed:
        _say(f"installed {path}")
    for path in outcome.unchanged:
        _say(f"unchanged {path}")
    if outcome.owners_not_set:
        print(
            f"provision: warning: owners NOT set ({owners.why_not}); modes applied, but "
            "these files keep their current owner: "
            + ", ".join(outcome.owners_not_set)
            + ". Run as root after deploy/install.sh has created the edge-agent user.",
            file=sys.stderr,
        )


def _config_check(path: Path, owners: Any) -> bool:
    from agent.commands.common import load_or_report

    user = "edge-agent" if owners.service_uid is not None else None
    loaded = load_or_report(str(path), user=user)
    if loaded is None:
        print(f"provision: {path} does not pass config check (above)", file=sys.stderr)
        return False
    _say(f"config check {path}: OK" + (f" (as user {user})" if user else ""))
    return True


def _connection_test(path: Path, gateway_id: str) -> bool:
    from agent.commands.common import load_or_report
    from agent.uplink import check_uplink, describe

    cfg = load_or_report(str(path), check_files=False).config.mqtt
    where = f"mqtts://{cfg.host}:{cfg.effective_port}"
    try:
        asyncio.run(check_uplink(cfg, client_id=f"{gateway_id}-provision"))
    except Exception as exc:
        why = describe(exc).text
        print(f"provision: connection test to {where} FAILED: {why}", file=sys.stderr)
        return False
    _say(f"connection test: {where} accepted {gateway_id}'s certificate (TLS, MQTT v5)")
    return True


def _provision(args: argparse.Namespace) -> int:
    from agent.credentials import CredentialError
    from agent.provision import Owners, ProvisionError, lay_down

    try:
        req = _request(args)
        _say(f"gateway {req.gateway_id} (site {req.site}), broker mqtts://{req.host}:{req.port}")
        _check_inputs(req)
    except (ProvisionError, CredentialError) as exc:
        return _refuse(str(exc))
    owners = Owners.resolve()
    try:
        outcome = lay_down(req, owners)
    except ProvisionError as exc:
        return _refuse(str(exc))
    except OSError as exc:
        print(f"provision: cannot install: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    _report(outcome, owners)
    if not _config_check(req.config_path, owners):
        return EXIT_USAGE
    if not args.no_connect and not _connection_test(req.config_path, req.gateway_id):
        return EXIT_FAILURE
    _say("done: " + (f"{len(outcome.changed)} changed" if outcome.changed else "nothing changed"))
    return EXIT_OK
