DROP TABLE IF EXISTS inventory_holds
--bun:split
DROP TABLE IF EXISTS inventory_users
--bun:split
DROP TABLE IF EXISTS inventory_seats
--bun:split
DROP TABLE IF EXISTS inventory_stock
