-- Payment estimates (issue 20, item 2). Owned by the gateway: written only by the REST layer
-- (libs/rest/src/payment.rs; the handlers in payment_api.rs) and, for `messages.estimate`, the
-- gateway's transcript writer. Expand only.

-- A rooftop's currency for its estimates (ISO 4217); existing rooftops are in US dollars.
ALTER TABLE rooftops ADD COLUMN currency text NOT NULL DEFAULT 'USD'
    CONSTRAINT rooftops_currency_code CHECK (currency ~ '^[A-Z]{3}$');

-- A rooftop's finance and lease rates: its default (no make) and per make (a make's row
-- replaces the default as a whole). Percentages in basis points, the money factor in
-- millionths, money in cents (see libs/proto/src/payment.rs).
CREATE TABLE payment_settings (
    id                              uuid PRIMARY KEY,
    group_id                        uuid NOT NULL REFERENCES dealer_groups (id) ON DELETE CASCADE,
    rooftop_id                      uuid NOT NULL,
    make                            text,
    -- The make compared without case ("Honda" and "HONDA" are one make).
    make_key                        text GENERATED ALWAYS AS (lower(make)) STORED,
    finance_apr_bp                  integer NOT NULL CHECK (finance_apr_bp BETWEEN 0 AND 4000),
    finance_term_months             integer NOT NULL CHECK (finance_term_months BETWEEN 1 AND 96),
    finance_down_cents              bigint NOT NULL CHECK (finance_down_cents >= 0),
    finance_fees_cents              bigint NOT NULL CHECK (finance_fees_cents >= 0),
    tax_rate_bp                     integer NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 2500),
    lease_money_factor_millionths   integer NOT NULL CHECK (lease_money_factor_millionths BETWEEN 0 AND 10000),
    lease_residual_bp               integer NOT NULL CHECK (lease_residual_bp BETWEEN 100 AND 10000),
    lease_term_months               integer NOT NULL CHECK (lease_term_months BETWEEN 12 AND 60),
    lease_fees_cents                bigint NOT NULL CHECK (lease_fees_cents >= 0),
    lease_down_cents                bigint NOT NULL CHECK (lease_down_cents >= 0),
    -- The dealer's disclaimer shown with every estimate (none: the built-in one).
    disclaimer                      text,
    created_at                      timestamptz NOT NULL DEFAULT now(),
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_settings_rooftop_fk FOREIGN KEY (rooftop_id, group_id)
        REFERENCES rooftops (id, group_id) ON DELETE CASCADE,
    CONSTRAINT payment_settings_make_unique UNIQUE NULLS NOT DISTINCT (rooftop_id, make_key)
);
CREATE INDEX payment_settings_group ON payment_settings (group_id);

-- Every estimate computed for a chat: an agent's (`agent_id`; shown to the shopper when the
-- agent sends it, `shown_at`) and the shopper's own in the widget (shown at once). The lead
-- carries the last one shown. Gone with the conversation.
CREATE TABLE payment_estimates (
    id              uuid PRIMARY KEY,
    group_id        uuid NOT NULL,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent_id        uuid,
    estimate        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    shown_at        timestamptz
);
CREATE INDEX payment_estimates_shown ON payment_estimates (conversation_id, shown_at DESC)
    WHERE shown_at IS NOT NULL;

-- The estimate card of a message an agent sent with `estimate_id` (the text carries it too).
ALTER TABLE messages ADD COLUMN estimate jsonb;
