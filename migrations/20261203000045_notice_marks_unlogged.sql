-- Desktop notices' coalescing marks are not facts: a mark older than the coalescing time acts
-- as no mark at all, and notification now deletes those as it goes (`Notices::forget_stale_marks`),
-- so the table holds only the last few seconds. Lost marks (a crash empties an unlogged table,
-- and a standby holds none) cost at most one notice again within the coalescing time. An offer
-- marks every agent it goes to, so skipping the WAL spares every routing decision a write per
-- agent offered. The marks of earlier releases never left and mean nothing now.
TRUNCATE notice_marks;
ALTER TABLE notice_marks SET UNLOGGED;
