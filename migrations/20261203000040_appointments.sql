-- Appointments (issue 20, item 1). Owned by the gateway (libs/rest/src/appointments.rs; the
-- REST handlers in appointments_api.rs). Slots are not stored ahead: they are computed from the
-- department's hours and holidays (department_hours, department_closures: the router's, read
-- only) in the rooftop's time zone; a slot gets a counter row when it is first booked.

-- What a department offers (no row: the defaults in appointments.rs: every kind, 30-minute
-- slots, one appointment per slot).
CREATE TABLE appointment_settings (
    department_id  uuid PRIMARY KEY,
    group_id       uuid NOT NULL,
    kinds          text[] NOT NULL
        CHECK (kinds <@ ARRAY['test_drive','sales_visit','service','other']::text[]),
    slot_minutes   smallint NOT NULL CHECK (slot_minutes BETWEEN 10 AND 240),
    capacity       smallint NOT NULL CHECK (capacity BETWEEN 1 AND 100),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointment_settings_department_fk FOREIGN KEY (department_id, group_id)
        REFERENCES departments (id, group_id) ON DELETE CASCADE
);

-- One row per booked slot of a department: the seats taken. The guarantee against double
-- booking: a seat is taken by one upsert that adds 1 only while `booked < capacity` (the row
-- is locked by the upsert, so concurrent bookings of one slot queue on it and the condition
-- is read again on the newest row), and the CHECK holds whatever the code does.
CREATE TABLE appointment_slots (
    department_id  uuid NOT NULL,
    starts_at      timestamptz NOT NULL,
    group_id       uuid NOT NULL,
    booked         smallint NOT NULL,
    capacity       smallint NOT NULL,
    CONSTRAINT appointment_slots_booked CHECK (booked BETWEEN 0 AND capacity),
    PRIMARY KEY (department_id, starts_at),
    CONSTRAINT appointment_slots_department_fk FOREIGN KEY (department_id, group_id)
        REFERENCES departments (id, group_id) ON DELETE CASCADE
);

CREATE TABLE appointments (
    id               uuid PRIMARY KEY,
    group_id         uuid NOT NULL,
    rooftop_id       uuid NOT NULL,
    department_id    uuid NOT NULL,
    -- The chat it was booked in. No foreign key, as for leads: the appointment is part of the
    -- lead and goes by the leads period, after its chat may have been swept; a shopper's
    -- erasure finds it by this id (a lead's chat).
    conversation_id  uuid,
    kind             text NOT NULL CHECK (kind IN ('test_drive','sales_visit','service','other')),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL CHECK (ends_at > starts_at),
    state            text NOT NULL DEFAULT 'booked' CHECK (state IN ('booked','cancelled')),
    -- The calendar's SEQUENCE: raised by every reschedule and the cancellation.
    sequence         integer NOT NULL DEFAULT 0,
    name             text,
    email            text,
    phone            text,
    note             text,
    language         text NOT NULL DEFAULT 'en',
    -- Who booked it: an agent (`agent_id`) or the shopper in the widget.
    booked_by        text NOT NULL CHECK (booked_by IN ('agent','shopper')),
    agent_id         uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointments_department_fk FOREIGN KEY (department_id, group_id)
        REFERENCES departments (id, group_id) ON DELETE CASCADE,
    CONSTRAINT appointments_rooftop_fk FOREIGN KEY (rooftop_id, group_id)
        REFERENCES rooftops (id, group_id) ON DELETE CASCADE,
    CONSTRAINT appointments_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX appointments_rooftop ON appointments (rooftop_id, starts_at);
CREATE INDEX appointments_conversation ON appointments (conversation_id)
    WHERE conversation_id IS NOT NULL;
