-- Owner: gateway. An agent who left the dealership is deactivated, not deleted: their name
-- stays on the chats and leads they handled, but they cannot log in, their sessions are gone,
-- they cover no department and the board no longer lists them.
ALTER TABLE agents ADD COLUMN deactivated_at timestamptz;
