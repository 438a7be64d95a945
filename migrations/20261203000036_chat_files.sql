-- Files in the chat (issue 19): a shopper or an agent sends an image, a PDF or a text file as a
-- message. Owner: gateway (both tables are its own already).
--
-- The file itself is an `attachments` row as for forms (same checks, same 10 MB, same bytes
-- column), with `field` = 'chat'. `conversation_id` ties it to the one chat it was sent in (set
-- at upload for an agent's file, on the first `send` naming it for the shopper's), so a file is
-- never shown in another chat, erased and swept with that chat's transcript, and downloadable
-- by that chat's shopper. `agent_id` is the agent who uploaded it (none for the shopper's).
ALTER TABLE attachments
    ADD COLUMN conversation_id uuid,
    ADD COLUMN agent_id        uuid;
CREATE INDEX attachments_conversation ON attachments (conversation_id) WHERE conversation_id IS NOT NULL;

-- A file message: the file's id, name, real type and size, copied from the attachment when the
-- message is stored (the transcript reads no other table; the bytes stay in `attachments`).
-- No foreign key: retention and erasure delete the file and its messages in either order.
ALTER TABLE messages
    ADD COLUMN file_id   uuid,
    ADD COLUMN file_name text,
    ADD COLUMN file_type text,
    ADD COLUMN file_size bigint,
    ADD CONSTRAINT messages_file_whole CHECK (
        (file_id IS NULL AND file_name IS NULL AND file_type IS NULL AND file_size IS NULL)
        OR (file_id IS NOT NULL AND file_name IS NOT NULL AND file_type IS NOT NULL AND file_size IS NOT NULL));
