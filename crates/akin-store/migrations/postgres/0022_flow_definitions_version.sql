-- A number raised by every change to what flows are built from (flows, stages, prompts,
-- bindings, policies), in the transaction that makes the change. Each node keeps what
-- planning a flow reads in memory and looks at this number to know when to read it again
-- (akin-flow's `definitions.rs`), as it does for tokens with `directory_version`.
CREATE TABLE flow_definitions_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO flow_definitions_version (id, version) VALUES (1, 0);
-- Once per transaction however many rows it changed, deferred to the commit (see
-- `directory_changed` in 0016 for why).
CREATE FUNCTION flow_definitions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('akin.flow_definitions_changed', true) IS DISTINCT FROM 'yes' THEN
        UPDATE flow_definitions_version SET version = version + 1;
        PERFORM set_config('akin.flow_definitions_changed', 'yes', true);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER flows_definitions AFTER INSERT OR UPDATE OR DELETE ON flows
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flow_definitions_changed();
CREATE CONSTRAINT TRIGGER stages_definitions AFTER INSERT OR UPDATE OR DELETE ON stages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flow_definitions_changed();
CREATE CONSTRAINT TRIGGER prompts_definitions AFTER INSERT OR UPDATE OR DELETE ON prompts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flow_definitions_changed();
CREATE CONSTRAINT TRIGGER prompt_stage_fields_definitions AFTER INSERT OR UPDATE OR DELETE ON prompt_stage_fields
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flow_definitions_changed();
CREATE CONSTRAINT TRIGGER flow_stage_bindings_definitions AFTER INSERT OR UPDATE OR DELETE ON flow_stage_bindings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flow_definitions_changed();
CREATE CONSTRAINT TRIGGER policies_definitions AFTER INSERT OR UPDATE OR DELETE ON policies
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flow_definitions_changed();
CREATE CONSTRAINT TRIGGER policy_bindings_definitions AFTER INSERT OR UPDATE OR DELETE ON policy_bindings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flow_definitions_changed();
