-- Satisfaction ratings (issue 20): after a chat with an agent ends, the shopper rates it once,
-- 1 to 5, with an optional comment. Owned by the gateway (the widget's socket takes it); gone
-- with the conversation.
CREATE TABLE chat_ratings (
    conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    group_id        uuid NOT NULL,
    score           smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment         text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_ratings_of_group ON chat_ratings (group_id, created_at);
