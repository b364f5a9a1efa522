-- The platform totals view's own memory of what each order paid (it used to read the directory
-- view's orders table, which breaks once the directory is rebuilt into another schema).
CREATE TABLE platform_totals_orders (
    order_id text PRIMARY KEY,
    paid_fen bigint NOT NULL
);
INSERT INTO platform_totals_orders (order_id, paid_fen) SELECT order_id, paid_fen FROM orders;
