"""The service's own database role: it may append to the event log, never rewrite it.

The service (serve, worker, jobs) can connect as a role of its own while migrations connect as
the owner of the tables (FENRUN_MIGRATION_DATABASE_URL). That role owns nothing, so it can
neither disable the event log's triggers nor edit its history (decision 0017, docs/audit.md).
After every migration run, the migrator creates the role if it is missing (with the password in
the service's URL) and sets its privileges afresh, so tables added later are covered too.
"""

import getpass
import os
from dataclasses import dataclass

import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = structlog.get_logger(__name__)

SERVICE_ROLE = "fenrun_app"  # the embedded server's service role
_READ_WRITE = sql.SQL("SELECT, INSERT, UPDATE, DELETE")


@dataclass(frozen=True)
class ServiceRole:
    name: str
    password: str | None = None


def _user(dsn: str) -> str:
    # libpq's own default when a URL names no user: PGUSER, else the OS user.
    user = conninfo_to_dict(dsn).get("user")
    return str(user or os.environ.get("PGUSER") or getpass.getuser())


def service_role_of(owner_dsn: str, service_dsn: str) -> ServiceRole | None:
    """The service's role, or None when the service connects as the owner itself."""
    name = _user(service_dsn)
    if name == _user(owner_dsn):
        return None
    password = conninfo_to_dict(service_dsn).get("password")
    return ServiceRole(name, str(password) if password else None)


def as_role(dsn: str, role: str) -> str:
    """The same database, connecting as `role` (no password: the embedded server trusts)."""
    info = conninfo_to_dict(dsn)
    info.pop("password", None)
    info["user"] = role
    return make_conninfo(**info)


def grant_service_role(conn: psycopg.Connection, role: ServiceRole) -> None:
    """Creates the role if missing, then grants exactly what the service needs, as the owner.

    The event log: SELECT and INSERT, plus UPDATE because PostgreSQL lets only a holder of
    UPDATE, DELETE or TRUNCATE take the library's LOCK ... IN EXCLUSIVE MODE; the log's trigger
    refuses every UPDATE from a role without the owner's privileges. Its hash chain and the
    migrations' ledger: SELECT. Everything else (read
    models, tracking, snapshots, in public and in rebuilds' proj_* schemas): read and write.
    Tables and schemas the owner creates later (migrations, rebuilds) get the same by default.
    """
    _create(conn, role)
    who = sql.Identifier(role.name)
    with conn.transaction():
        database = conn.execute("SELECT current_database()").fetchone()
        assert database is not None
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database[0]), who)
        )
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = 'public' OR nspname LIKE 'proj\\_%'"
        ).fetchall()
        for (name,) in schemas:
            schema = sql.Identifier(name)
            for grant in (
                "GRANT USAGE ON SCHEMA {schema} TO {who}",
                "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {who}",
                "GRANT {rw} ON ALL TABLES IN SCHEMA {schema} TO {who}",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
            ):
                conn.execute(sql.SQL(grant).format(schema=schema, who=who, rw=_READ_WRITE))
        for grant in (
            "REVOKE ALL ON public.ledger_events, public.ledger_chain, public.schema_migrations"
            " FROM {who}",
            "GRANT SELECT, INSERT, UPDATE ON public.ledger_events TO {who}",
            # The chain is written by the log's trigger, as the owner: the service only reads it.
            "GRANT SELECT ON public.ledger_chain, public.schema_migrations TO {who}",
            "ALTER DEFAULT PRIVILEGES GRANT {rw} ON TABLES TO {who}",
            "ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO {who}",
            "ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO {who}",
        ):
            conn.execute(sql.SQL(grant).format(who=who, rw=_READ_WRITE))
    _warn_if_owner(conn, role)


def _create(conn: psycopg.Connection, role: ServiceRole) -> None:
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,)).fetchone():
        return
    statement = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role.name))
    if role.password:
        statement += sql.SQL(" PASSWORD {}").format(sql.Literal(role.password))
    try:
        conn.execute(statement)
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        pass  # roles belong to the server: another database's migrator made it just now
    except psycopg.errors.InsufficientPrivilege:
        raise RuntimeError(
            f"the service's database role '{role.name}' does not exist and the migration role"
            f" may not create it: CREATE ROLE {role.name} LOGIN PASSWORD '...' as an"
            " administrator, or migrate as a role with CREATEROLE"
        ) from None
    log.info("fenrun.service_role_created", role=role.name)


def _warn_if_owner(conn: psycopg.Connection, role: ServiceRole) -> None:
    row = conn.execute(
        "SELECT pg_has_role(%s, c.relowner, 'USAGE') FROM pg_class c"
        " WHERE c.oid = 'public.ledger_events'::regclass",
        (role.name,),
    ).fetchone()
    if row and row[0]:
        log.warning(
            "fenrun.service_role_not_least_privilege",
            role=role.name,
            why="it has the event log owner's privileges: it could disable the log's triggers",
        )
