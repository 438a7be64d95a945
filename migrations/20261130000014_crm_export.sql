-- Deliveries of leads to dealers' CRMs. Owner: crm-export (see docs/crm-export.md).

-- Where a rooftop's leads go: an ADF e-mail address or a signed webhook, optionally only one
-- department's leads. Removed destinations are kept (deleted_at) so their log stays readable.
CREATE TABLE crm_destinations (
    id               uuid PRIMARY KEY,
    group_id         uuid NOT NULL,
    rooftop_id       uuid NOT NULL,
    department_id    uuid,
    name             text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 100),
    kind             text NOT NULL CHECK (kind IN ('adf_email', 'webhook')),
    -- adf_email: {to, dealership_name?, vendor_email?}; webhook: {url}.
    settings         jsonb NOT NULL,
    -- Webhook signing secrets (whsec_<base64>), every one used to sign; never shown back.
    secrets          text[] NOT NULL DEFAULT '{}',
    enabled          boolean NOT NULL DEFAULT true,
    -- Why the system turned it off (a 410 Gone), and when.
    disabled_reason  text,
    disabled_at      timestamptz,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (rooftop_id, group_id) REFERENCES rooftops (id, group_id) ON DELETE CASCADE,
    FOREIGN KEY (department_id, group_id) REFERENCES departments (id, group_id) ON DELETE CASCADE
);
CREATE INDEX crm_destinations_rooftop ON crm_destinations (rooftop_id) WHERE deleted_at IS NULL;
CREATE INDEX crm_destinations_group ON crm_destinations (group_id);

-- Every lead event crm-export has handled (the CloudEvent id, also its Nats-Msg-Id): written in
-- the transaction that creates the event's deliveries, so a redelivered event changes nothing.
CREATE TABLE crm_lead_events (
    event_id    uuid PRIMARY KEY,
    group_id    uuid NOT NULL,
    lead_id     uuid NOT NULL,
    kind        text NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now()
);

-- One lead for one destination, for life: its id is the webhook-id and the Message-ID.
CREATE TABLE crm_deliveries (
    id                uuid PRIMARY KEY,
    group_id          uuid NOT NULL,
    destination_id    uuid NOT NULL REFERENCES crm_destinations (id) ON DELETE CASCADE,
    lead_id           uuid NOT NULL,
    event_id          uuid,
    -- The lead's CloudEvent exactly as it is sent (the webhook body; the ADF is built from it).
    payload           text NOT NULL,
    test              boolean NOT NULL DEFAULT false,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'dead_lettered', 'failed', 'cancelled')),
    -- Attempts made, ever; failures in the current round (a redelivery starts a new round).
    attempts          integer NOT NULL DEFAULT 0,
    retry_step        integer NOT NULL DEFAULT 0,
    -- Due time while pending; while an attempt runs, the end of its lease (a worker that died
    -- leaves it due again then).
    next_attempt_at   timestamptz,
    -- The worker's claim on the running attempt: only it may record the outcome.
    claim_id          uuid,
    last_status_code  integer,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    UNIQUE (lead_id, destination_id)
);
CREATE INDEX crm_deliveries_due ON crm_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX crm_deliveries_destination ON crm_deliveries (destination_id, created_at DESC);
CREATE INDEX crm_deliveries_group ON crm_deliveries (group_id, created_at DESC);
CREATE INDEX crm_deliveries_dead ON crm_deliveries (group_id, updated_at DESC) WHERE status = 'dead_lettered';

-- The delivery log: one row per attempt.
CREATE TABLE crm_attempts (
    delivery_id  uuid NOT NULL REFERENCES crm_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    group_id     uuid NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    outcome      text NOT NULL DEFAULT 'sending'
                 CHECK (outcome IN ('sending', 'delivered', 'failed', 'dead_lettered', 'gone', 'interrupted')),
    status_code  integer,
    error        text,
    retry_at     timestamptz,
    PRIMARY KEY (delivery_id, attempt)
);

-- delivery.* events written with the outcome they report, published after the commit and
-- deleted; a relay publishes what a crash left (the id is the Nats-Msg-Id).
CREATE TABLE crm_outbox (
    id           uuid PRIMARY KEY,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    traceparent  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crm_outbox_created ON crm_outbox (created_at);
