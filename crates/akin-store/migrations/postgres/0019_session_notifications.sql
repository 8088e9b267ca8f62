-- Every node keeps the sessions it read in memory; each session row updated or deleted, by
-- any node (a flow step, a sign-in, a sign-out, a user's deletion by cascade, the sweep),
-- tells every node to drop its copy. The payload is the row's key digest.
CREATE FUNCTION akin_session_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('akin_sessions', OLD.session_key);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER akin_session_changed
    AFTER UPDATE OR DELETE ON akin_sessions
    FOR EACH ROW EXECUTE FUNCTION akin_session_changed();
