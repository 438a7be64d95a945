-- Trade-in details (issue 20, item 3): the vehicle a shopper would trade in, one per chat,
-- saved by the agent's form or the bot's questions. Owned by lead-capture (it goes into the
-- chat's leads, whose lead.updated it publishes in the same transaction); gone with the
-- conversation (swept with its transcript, erased with the shopper's chats).
CREATE TABLE trade_ins (
    conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    group_id        uuid NOT NULL,
    -- showroom_proto::trade_in::TradeIn, checked (the VIN's check digit among the rest).
    trade_in        jsonb NOT NULL,
    source          text NOT NULL CHECK (source IN ('agent', 'shopper')),
    agent_id        uuid REFERENCES agents (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trade_ins_of_group ON trade_ins (group_id, updated_at);
