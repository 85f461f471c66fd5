"""Coder's tables as Coder's published schema (``coderd/database/dump.sql``) defines them.

Only the tables the Coder source reads, each with its real name, columns, types, defaults and
enums (a few columns the source never reads are kept where they make the rows realistic).
Two shapes: ``NEWEST`` (2026: ``session_counts`` JSON, ``scopes``, ``users.is_system``,
``organizations.deleted``) and ``OLDER`` (2024: four ``session_count_*`` columns, one
``scope``, neither of the others).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """Which version of Coder's schema a fixture database has."""

    name: str
    session_counts_json: bool
    scopes_array: bool
    users_is_system: bool
    organizations_deleted: bool


NEWEST = Shape("newest", True, True, True, True)
OLDER = Shape("older", False, False, False, False)

_ENUMS = """
CREATE TYPE login_type AS ENUM ('password', 'github', 'oidc', 'token', 'none',
    'oauth2_provider_app');
CREATE TYPE user_status AS ENUM ('active', 'suspended', 'dormant');
CREATE TYPE audit_action AS ENUM ('create', 'write', 'delete', 'start', 'stop', 'login',
    'logout', 'register', 'request_password_reset', 'connect', 'disconnect', 'open', 'close');
CREATE TYPE resource_type AS ENUM ('organization', 'template', 'template_version', 'user',
    'workspace', 'git_ssh_key', 'api_key', 'group', 'workspace_build', 'license');
"""


def statements(shape: Shape) -> list[str]:
    """The DDL of one shape, statement by statement."""
    if shape.scopes_array:
        scope_type = (
            "CREATE TYPE api_key_scope AS ENUM ('coder:all', 'coder:application_connect', "
            "'api_key:read', 'workspace:read')"
        )
        scope_column = "scopes api_key_scope[] NOT NULL DEFAULT '{coder:all}'"
    else:
        scope_type = "CREATE TYPE api_key_scope AS ENUM ('all', 'application_connect')"
        scope_column = "scope api_key_scope NOT NULL DEFAULT 'all'"
    if shape.session_counts_json:
        session_columns = "session_counts jsonb NOT NULL DEFAULT '{}'::jsonb"
    else:
        session_columns = ",\n    ".join(
            f"session_count_{kind} bigint NOT NULL DEFAULT 0"
            for kind in ("vscode", "jetbrains", "reconnecting_pty", "ssh")
        )
    is_system = ",\n    is_system boolean NOT NULL DEFAULT false" if shape.users_is_system else ""
    deleted = ",\n    deleted boolean NOT NULL DEFAULT false" if shape.organizations_deleted else ""
    return [
        *(part.strip() for part in _ENUMS.split(";") if part.strip()),
        scope_type,
        f"""
CREATE TABLE organizations (
    id uuid NOT NULL PRIMARY KEY,
    name text NOT NULL,
    description text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    display_name text NOT NULL,
    icon text NOT NULL DEFAULT ''{deleted}
)""",
        f"""
CREATE TABLE users (
    id uuid NOT NULL PRIMARY KEY,
    email text NOT NULL,
    username text NOT NULL DEFAULT '',
    hashed_password bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    status user_status NOT NULL DEFAULT 'dormant',
    rbac_roles text[] NOT NULL DEFAULT '{{}}',
    login_type login_type NOT NULL DEFAULT 'password',
    avatar_url text NOT NULL DEFAULT '',
    deleted boolean NOT NULL DEFAULT false,
    last_seen_at timestamp without time zone NOT NULL DEFAULT '0001-01-01 00:00:00',
    name text NOT NULL DEFAULT ''{is_system}
)""",
        """
CREATE TABLE organization_members (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    roles text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (organization_id, user_id)
)""",
        """
CREATE TABLE workspaces (
    id uuid NOT NULL PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
    template_id uuid NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    name character varying(64) NOT NULL
)""",
        """
CREATE TABLE workspace_app_stats (
    id bigserial NOT NULL PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    agent_id uuid NOT NULL,
    access_method text NOT NULL,
    slug_or_port text NOT NULL,
    session_id uuid NOT NULL,
    session_started_at timestamp with time zone NOT NULL,
    session_ended_at timestamp with time zone NOT NULL,
    requests integer NOT NULL,
    UNIQUE (user_id, agent_id, session_id)
)""",
        "CREATE INDEX workspace_app_stats_workspace_id_idx ON workspace_app_stats (workspace_id)",
        f"""
CREATE TABLE workspace_agent_stats (
    id uuid NOT NULL PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    user_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    workspace_id uuid NOT NULL,
    template_id uuid NOT NULL,
    connections_by_proto jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    connection_count bigint NOT NULL DEFAULT 0,
    rx_packets bigint NOT NULL DEFAULT 0,
    rx_bytes bigint NOT NULL DEFAULT 0,
    tx_packets bigint NOT NULL DEFAULT 0,
    tx_bytes bigint NOT NULL DEFAULT 0,
    connection_median_latency_ms double precision NOT NULL DEFAULT -1,
    {session_columns},
    usage boolean NOT NULL DEFAULT false
)""",
        "CREATE INDEX idx_agent_stats_created_at ON workspace_agent_stats (created_at)",
        "CREATE INDEX idx_agent_stats_user_id ON workspace_agent_stats (user_id)",
        f"""
CREATE TABLE api_keys (
    id text NOT NULL PRIMARY KEY,
    hashed_secret bytea NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_used timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    login_type login_type NOT NULL,
    lifetime_seconds bigint NOT NULL DEFAULT 86400,
    ip_address inet NOT NULL DEFAULT '0.0.0.0',
    token_name text NOT NULL DEFAULT '',
    {scope_column}
)""",
        "CREATE INDEX idx_api_keys_user ON api_keys (user_id)",
        """
CREATE TABLE audit_logs (
    id uuid NOT NULL PRIMARY KEY,
    "time" timestamp with time zone NOT NULL,
    user_id uuid NOT NULL,
    organization_id uuid NOT NULL,
    ip inet,
    user_agent character varying(256),
    resource_type resource_type NOT NULL,
    resource_id uuid NOT NULL,
    resource_target text NOT NULL,
    action audit_action NOT NULL,
    diff jsonb NOT NULL,
    status_code integer NOT NULL,
    additional_fields jsonb NOT NULL,
    request_id uuid NOT NULL,
    resource_icon text NOT NULL
)""",
        'CREATE INDEX idx_audit_logs_time_desc ON audit_logs ("time" DESC)',
    ]
