-- Constraints a request can break get names of their own, so the one mapping of database errors
-- (libs/store/src/fault.rs) turns each into a conflict that names the field, on REST and on the
-- bus alike. Only names change: no table is rewritten and no lock is held for long.
ALTER TABLE departments RENAME CONSTRAINT departments_rooftop_id_label_key TO departments_label_unique;
ALTER TABLE departments RENAME CONSTRAINT departments_rooftop_id_group_id_fkey TO departments_rooftop_fk;
ALTER TABLE websites RENAME CONSTRAINT websites_widget_key_key TO websites_widget_key_unique;
ALTER TABLE websites RENAME CONSTRAINT websites_rooftop_id_group_id_fkey TO websites_rooftop_fk;
ALTER INDEX agents_email RENAME TO agents_email_unique;
ALTER TABLE agent_memberships RENAME CONSTRAINT agent_memberships_agent_id_group_id_fkey TO agent_memberships_agent_fk;
ALTER TABLE agent_memberships RENAME CONSTRAINT agent_memberships_department_id_group_id_fkey TO agent_memberships_department_fk;
ALTER TABLE teams RENAME CONSTRAINT teams_group_id_name_key TO teams_name_unique;
ALTER TABLE team_members RENAME CONSTRAINT team_members_agent_id_group_id_fkey TO team_members_agent_fk;
ALTER TABLE team_members RENAME CONSTRAINT team_members_team_id_group_id_fkey TO team_members_team_fk;
ALTER TABLE department_routing RENAME CONSTRAINT department_routing_overflow_team_id_group_id_fkey TO department_routing_overflow_team_fk;
ALTER TABLE routing_rules RENAME CONSTRAINT routing_rules_department_id_fkey TO routing_rules_department_fk;
ALTER TABLE routing_rules RENAME CONSTRAINT routing_rules_team_id_fkey TO routing_rules_team_fk;
ALTER TABLE crm_destinations RENAME CONSTRAINT crm_destinations_rooftop_id_group_id_fkey TO crm_destinations_rooftop_fk;
ALTER TABLE crm_destinations RENAME CONSTRAINT crm_destinations_department_id_group_id_fkey TO crm_destinations_department_fk;
ALTER TABLE transfers RENAME CONSTRAINT transfers_to_agent_fkey TO transfers_to_agent_fk;
ALTER TABLE transfers RENAME CONSTRAINT transfers_to_department_fkey TO transfers_to_department_fk;
