-- Reports read a group's conversations by creation time, whatever their state. Owner: router.
CREATE INDEX conversations_group_created ON conversations (group_id, created_at);
