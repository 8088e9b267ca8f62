-- A number raised by every change to what flows are built from (flows, stages, prompts,
-- bindings, policies), in the transaction that makes the change. Each node keeps what
-- planning a flow reads in memory and looks at this number to know when to read it again
-- (akin-flow's `definitions.rs`), as it does for tokens with `directory_version`.
CREATE TABLE flow_definitions_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO flow_definitions_version (id, version) VALUES (1, 0);
CREATE TRIGGER flows_insert_definitions AFTER INSERT ON flows BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER flows_update_definitions AFTER UPDATE ON flows BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER flows_delete_definitions AFTER DELETE ON flows BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER stages_insert_definitions AFTER INSERT ON stages BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER stages_update_definitions AFTER UPDATE ON stages BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER stages_delete_definitions AFTER DELETE ON stages BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER prompts_insert_definitions AFTER INSERT ON prompts BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER prompts_update_definitions AFTER UPDATE ON prompts BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER prompts_delete_definitions AFTER DELETE ON prompts BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER prompt_stage_fields_insert_definitions AFTER INSERT ON prompt_stage_fields BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER prompt_stage_fields_update_definitions AFTER UPDATE ON prompt_stage_fields BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER prompt_stage_fields_delete_definitions AFTER DELETE ON prompt_stage_fields BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER flow_stage_bindings_insert_definitions AFTER INSERT ON flow_stage_bindings BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER flow_stage_bindings_update_definitions AFTER UPDATE ON flow_stage_bindings BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER flow_stage_bindings_delete_definitions AFTER DELETE ON flow_stage_bindings BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER policies_insert_definitions AFTER INSERT ON policies BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER policies_update_definitions AFTER UPDATE ON policies BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER policies_delete_definitions AFTER DELETE ON policies BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER policy_bindings_insert_definitions AFTER INSERT ON policy_bindings BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER policy_bindings_update_definitions AFTER UPDATE ON policy_bindings BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
CREATE TRIGGER policy_bindings_delete_definitions AFTER DELETE ON policy_bindings BEGIN
    UPDATE flow_definitions_version SET version = version + 1;
END;
