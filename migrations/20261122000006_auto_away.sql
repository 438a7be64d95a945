-- Optional per agent: Away automatically after this many seconds without activity in the
-- console, back to the chosen status on activity. NULL: never. Owner: gateway (directory).
ALTER TABLE agents ADD COLUMN auto_away_secs integer CHECK (auto_away_secs IS NULL OR auto_away_secs BETWEEN 60 AND 86400);
