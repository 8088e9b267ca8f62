-- How far people got with an invitation's link: opened (a new visit put it into effect;
-- a link scanner's GET counts here, and only here) and started (the visitor answered a
-- step). Sent comes from the outbox, completed is `uses`.
ALTER TABLE invitations ADD COLUMN opened BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN started BIGINT NOT NULL DEFAULT 0;
