"""`fenrun users`, `fenrun keys`, `fenrun token`: people and machines for the embedded issuer.

    fenrun users add finance-1 --role finance
    fenrun users add A --role agent --agent A
    fenrun token finance-1 --ttl 8h      # paste into GraphiQL's headers: {"Authorization": ...}
    fenrun keys add carrier-cmcc --scope settlements   # prints the key id and secret once
    fenrun keys add cmcc-push --scope carrier-reports --for CMCC   # pushes for CMCC only

Every change is recorded as an event with the actor (--actor, default cli:<OS user>).
"""

import getpass
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from application.access_settings import parse_ttl
from application.settings import Settings
from domain.common import Audit
from domain.errors import LedgerError

users_cli = typer.Typer(no_args_is_help=True, help="People who use the API (embedded issuer).")
keys_cli = typer.Typer(no_args_is_help=True, help="Machines' API keys (signed requests).")
console = Console(stderr=True)

Actor = Annotated[str, typer.Option(help="Who makes the change (recorded).")]
Reason = Annotated[str, typer.Option(help="Why (recorded).")]
Roles = Annotated[list[str], typer.Option("--role", help="admin|operator|finance|agent|auditor")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="The agent an agent's user acts as.")]


def _default_actor() -> str:
    return f"cli:{getpass.getuser()}"


@contextmanager
def _ledger() -> Iterator[Any]:
    from api.bootstrap import bootstrap

    fenrun = bootstrap(Settings())
    try:
        yield fenrun
    finally:
        fenrun.close()


def _run(action: Callable[[Any], Any]) -> Any:
    with _ledger() as fenrun:
        try:
            return action(fenrun)
        except LedgerError as exc:
            console.print(f"[red]{exc.code}[/red]: {exc.message}")
            raise typer.Exit(1) from None


def _audit(actor: str, reason: str) -> Audit:
    return Audit(actor, datetime.now(UTC), reason, time_given=False)


@users_cli.command("add")
def users_add(
    code: str, role: Roles, agent: AgentOpt = None, actor: Actor = "", reason: Reason = ""
) -> None:
    """Add a user with its roles (an agent's user names its agent)."""
    audit = _audit(actor or _default_actor(), reason)
    _run(lambda f: f.ledger.add_user(code, tuple(role), agent, audit))
    print(json.dumps({"user": code, "roles": sorted(set(role)), "agent": agent}))


@users_cli.command("roles")
def users_roles(
    code: str, role: Roles, agent: AgentOpt = None, actor: Actor = "", reason: Reason = ""
) -> None:
    """Replace a user's roles (and agent): tokens already issued follow at once."""
    audit = _audit(actor or _default_actor(), reason)
    _run(lambda f: f.ledger.set_user_roles(code, tuple(role), agent, audit))
    print(json.dumps({"user": code, "roles": sorted(set(role)), "agent": agent}))


@users_cli.command("disable")
def users_disable(code: str, actor: Actor = "", reason: Reason = "") -> None:
    """Disable a user: its tokens stop working at once."""
    _run(lambda f: f.ledger.disable_user(code, _audit(actor or _default_actor(), reason)))
    print(json.dumps({"user": code, "enabled": False}))


@users_cli.command("enable")
def users_enable(code: str, actor: Actor = "", reason: Reason = "") -> None:
    _run(lambda f: f.ledger.enable_user(code, _audit(actor or _default_actor(), reason)))
    print(json.dumps({"user": code, "enabled": True}))


def mint_token(fenrun: Any, code: str, ttl: str) -> str:
    """A token for an enabled user, signed by the embedded issuer (what `fenrun token` prints;
    tests mint theirs here too)."""
    from api.auth.issuers import EmbeddedIssuer

    settings = fenrun.settings
    if settings.auth_issuer is not None:
        raise typer.BadParameter("tokens come from your identity provider (FENRUN_AUTH_ISSUER)")
    user = fenrun.ledger.user(code)
    if user is None or not user.enabled:
        raise typer.BadParameter(f"no enabled user '{code}' (fenrun users add)")
    return EmbeddedIssuer(settings.data_dir).mint(code, parse_ttl(ttl))


def token(
    code: str,
    ttl: Annotated[str | None, typer.Option(help="Lifetime: 30m, 8h, 7d (at most 30d).")] = None,
) -> None:
    """Print a bearer token for a user, to paste into GraphiQL's headers:
    {"Authorization": "Bearer <token>"}."""
    try:
        lifetime = ttl or Settings().token_ttl
        parse_ttl(lifetime)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ttl") from None
    with _ledger() as fenrun:
        print(mint_token(fenrun, code, lifetime))


@keys_cli.command("add")
def keys_add(
    name: str,
    scope: Annotated[
        list[str], typer.Option("--scope", help="settlements, payment-callbacks, carrier-reports")
    ],
    speaks_for: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="The payment channel (payment-callbacks) or carrier, CMCC|CUCC|CTCC"
            " (carrier-reports, settlements: required unless the name is the carrier's),"
            " the key speaks for; default: its name.",
        ),
    ] = None,
    actor: Actor = "",
    reason: Reason = "",
) -> None:
    """Issue an API key. Its secret is printed once: store it where the machine reads it.
    A callbacks or reports key speaks for one channel or carrier only (--for)."""
    from api.auth.sealing import Sealer

    key_id = f"fk_{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(32)
    audit = _audit(actor or _default_actor(), reason)

    def issue(fenrun: Any) -> None:
        sealed = Sealer.of(fenrun.settings).seal(secret, key_id)
        fenrun.ledger.issue_api_key(
            key_id, name, tuple(scope), sealed, audit, speaks_for=speaks_for
        )

    _run(issue)
    shown = {"keyId": key_id, "secret": secret, "name": name, "scopes": scope}
    print(json.dumps(shown | {"for": speaks_for or name}))
    console.print("The secret is shown once: keep it now.")


@keys_cli.command("revoke")
def keys_revoke(key_id: str, actor: Actor = "", reason: Reason = "") -> None:
    """Revoke an API key: its signatures are refused from now on."""
    _run(lambda f: f.ledger.revoke_api_key(key_id, _audit(actor or _default_actor(), reason)))
    print(json.dumps({"keyId": key_id, "revoked": True}))
