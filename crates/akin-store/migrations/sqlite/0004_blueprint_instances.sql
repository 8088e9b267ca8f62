-- Blueprint instances (authentik's `BlueprintInstance`): a blueprint file (or inline
-- content) that is applied with its own context and remembers how the last apply went.
CREATE TABLE blueprint_instances (
    instance_uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '',
    context TEXT NOT NULL DEFAULT '{}',
    enabled BOOLEAN NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'unknown',
    last_applied TEXT,
    last_applied_hash TEXT NOT NULL DEFAULT '',
    managed_models TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    -- The last apply's log (akin's addition: what went wrong, without a task log).
    logs TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX blueprint_instances_path_idx ON blueprint_instances (path);

-- Work that one node at a time does for all (watching the blueprints folder): the node
-- named `holder` has it until `expires`, and renews it while it lives.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires TEXT NOT NULL
);
