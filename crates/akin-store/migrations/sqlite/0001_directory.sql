-- The directory: users, groups, API tokens; the audit log; settings; server-side sessions.
-- Kept in step with migrations/postgres/0001_directory.sql (a test compares the two lists).
-- Timestamps are fixed-width UTC text (YYYY-MM-DDTHH:MM:SS.ffffffZ) so text order is time order.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT 1,
    last_login TEXT,
    date_joined TEXT NOT NULL,
    password_change_date TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    password TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    path TEXT NOT NULL DEFAULT 'users',
    type TEXT NOT NULL DEFAULT 'internal'
);
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE groups (
    num_pk INTEGER PRIMARY KEY AUTOINCREMENT,
    group_uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    is_superuser BOOLEAN NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE group_parents (
    child_uuid TEXT NOT NULL REFERENCES groups (group_uuid) ON DELETE CASCADE,
    parent_uuid TEXT NOT NULL REFERENCES groups (group_uuid) ON DELETE CASCADE,
    PRIMARY KEY (child_uuid, parent_uuid)
);
CREATE INDEX group_parents_parent_idx ON group_parents (parent_uuid);

CREATE TABLE group_members (
    group_uuid TEXT NOT NULL REFERENCES groups (group_uuid) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_uuid, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id);

CREATE TABLE tokens (
    token_uuid TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL,
    -- SHA-256 of the key: requests are matched on it, then the key is compared in constant time.
    key_digest TEXT NOT NULL UNIQUE,
    intent TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    expires TEXT,
    expiring BOOLEAN NOT NULL DEFAULT 1,
    managed TEXT UNIQUE
);
CREATE INDEX tokens_user_idx ON tokens (user_id);

CREATE TABLE events (
    event_uuid TEXT PRIMARY KEY,
    user_json TEXT NOT NULL DEFAULT '{}',
    action TEXT NOT NULL,
    app TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '{}',
    client_ip TEXT,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    brand TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_created_idx ON events (created);
CREATE INDEX events_action_idx ON events (action);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Server-side sessions, shared by every akin node on the same database.
CREATE TABLE akin_sessions (
    session_key TEXT PRIMARY KEY,
    data TEXT NOT NULL DEFAULT '{}',
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    last_ip TEXT,
    last_user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX akin_sessions_expires_idx ON akin_sessions (expires);
CREATE INDEX akin_sessions_user_idx ON akin_sessions (user_id);
