-- notification with two or more replicas (owner: notification; see docs/architecture.md).
-- An e-mail's key is claimed before the e-mail goes: `sending_until` is the claim's lease (NULL
-- once sent, as for every row written before this migration), so two replicas never both send
-- it, and a claim whose holder died can be taken over when its lease ends.
ALTER TABLE sent_mails ADD COLUMN sending_until timestamptz;

-- The transcript sweep claims due rows (FOR UPDATE SKIP LOCKED, with a lease), so replicas
-- share them instead of all taking the same ones.
ALTER TABLE transcript_mails ADD COLUMN claimed_until timestamptz;
