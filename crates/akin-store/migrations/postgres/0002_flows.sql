-- Flows and what they are built from: stages, prompts, bindings, policies, invitations.
-- Kept in step with migrations/sqlite/0002_flows.sql. Fields the engine does not query
-- live in `extra` (JSON), in authentik's field names.

CREATE TABLE flows (
    flow_uuid UUID PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    designation TEXT NOT NULL,
    authentication TEXT NOT NULL DEFAULT 'none',
    extra JSONB NOT NULL DEFAULT '{}'
);

-- Every kind of stage; `kind` is the authentik model name. Names are unique across kinds.
CREATE TABLE stages (
    stage_uuid UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    extra JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE prompts (
    prompt_uuid UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    field_key TEXT NOT NULL,
    extra JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE prompt_stage_fields (
    stage_uuid UUID NOT NULL REFERENCES stages (stage_uuid) ON DELETE CASCADE,
    prompt_uuid UUID NOT NULL REFERENCES prompts (prompt_uuid) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (stage_uuid, prompt_uuid)
);

CREATE TABLE flow_stage_bindings (
    fsb_uuid UUID PRIMARY KEY,
    target_uuid UUID NOT NULL REFERENCES flows (flow_uuid) ON DELETE CASCADE,
    stage_uuid UUID NOT NULL REFERENCES stages (stage_uuid) ON DELETE CASCADE,
    binding_order INTEGER NOT NULL,
    extra JSONB NOT NULL DEFAULT '{}',
    UNIQUE (target_uuid, stage_uuid, binding_order)
);
CREATE INDEX flow_stage_bindings_stage_idx ON flow_stage_bindings (stage_uuid);

CREATE TABLE policies (
    policy_uuid UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    extra JSONB NOT NULL DEFAULT '{}'
);

-- `target_uuid` is a flow or a flow-stage binding (authentik's PolicyBindingModel).
CREATE TABLE policy_bindings (
    policy_binding_uuid UUID PRIMARY KEY,
    target_uuid UUID NOT NULL,
    policy_uuid UUID REFERENCES policies (policy_uuid) ON DELETE CASCADE,
    group_uuid UUID REFERENCES groups (group_uuid) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    binding_order INTEGER NOT NULL,
    extra JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX policy_bindings_target_idx ON policy_bindings (target_uuid);

-- `name` is not unique, as in authentik.
CREATE TABLE invitations (
    invite_uuid UUID PRIMARY KEY,
    name TEXT NOT NULL,
    flow_uuid UUID REFERENCES flows (flow_uuid) ON DELETE SET NULL,
    expires TIMESTAMPTZ,
    fixed_data JSONB NOT NULL DEFAULT '{}',
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    single_use BOOLEAN NOT NULL DEFAULT FALSE,
    -- Accounts written with this invitation; the claim is `uses < max_uses` (NULL: unlimited).
    uses BIGINT NOT NULL DEFAULT 0,
    max_uses BIGINT,
    created TIMESTAMPTZ NOT NULL
);
CREATE INDEX invitations_name_idx ON invitations (name);
CREATE INDEX invitations_flow_idx ON invitations (flow_uuid);
CREATE INDEX invitations_expires_idx ON invitations (expires);
