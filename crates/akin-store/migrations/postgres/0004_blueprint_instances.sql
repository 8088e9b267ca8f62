-- Blueprint instances (authentik's `BlueprintInstance`): a blueprint file (or inline
-- content) that is applied with its own context and remembers how the last apply went.
CREATE TABLE blueprint_instances (
    instance_uuid UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '',
    context JSONB NOT NULL DEFAULT '{}',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL DEFAULT 'unknown',
    last_applied TIMESTAMPTZ,
    last_applied_hash TEXT NOT NULL DEFAULT '',
    managed_models JSONB NOT NULL DEFAULT '[]',
    metadata JSONB NOT NULL DEFAULT '{}',
    -- The last apply's log (akin's addition: what went wrong, without a task log).
    logs JSONB NOT NULL DEFAULT '[]'
);
CREATE INDEX blueprint_instances_path_idx ON blueprint_instances (path);

-- Work that one node at a time does for all (watching the blueprints folder): the node
-- named `holder` has it until `expires`, and renews it while it lives.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
