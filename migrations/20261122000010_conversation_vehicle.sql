-- The vehicle the shopper was looking at (VIN, stock number, year, make, model, trim, price,
-- page), from the dealer's page. Owner: router (set when the conversation starts).
ALTER TABLE conversations ADD COLUMN vehicle jsonb;
