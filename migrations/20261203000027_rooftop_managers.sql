-- Roles scoped to rooftops (issue 17, item 3). Owned by the gateway (the directory;
-- libs/rest/src/directory/scope.rs).
--
-- A `rooftop_manager` manages the rooftops listed for them in `agent_rooftops`, and nothing
-- else of the group; a `manager` or an `admin` keeps the whole group. The role is explicit
-- rather than "a manager with rows here" so that removing a manager's last rooftop can never
-- widen them to the whole group: a rooftop manager with no rooftop manages nothing.
ALTER TABLE agents DROP CONSTRAINT agents_role_check;
ALTER TABLE agents ADD CONSTRAINT agents_role_check
    CHECK (role IN ('agent', 'rooftop_manager', 'manager', 'admin'));

CREATE TABLE agent_rooftops (
    agent_id    uuid NOT NULL,
    rooftop_id  uuid NOT NULL,
    group_id    uuid NOT NULL,
    PRIMARY KEY (agent_id, rooftop_id),
    -- Both sides in the same dealer group.
    CONSTRAINT agent_rooftops_agent_fk FOREIGN KEY (agent_id, group_id)
        REFERENCES agents (id, group_id) ON DELETE CASCADE,
    CONSTRAINT agent_rooftops_rooftop_fk FOREIGN KEY (rooftop_id, group_id)
        REFERENCES rooftops (id, group_id) ON DELETE CASCADE
);
CREATE INDEX agent_rooftops_rooftop ON agent_rooftops (rooftop_id);
