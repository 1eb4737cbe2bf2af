-- lpad() cuts a longer string down to its width, so the millionth order would
-- have been numbered like an earlier one. Numbers keep six digits while they fit
-- and grow past them instead.
CREATE FUNCTION next_order_number() RETURNS text
    LANGUAGE sql VOLATILE
    AS $$ SELECT 'SO-' || lpad(n::text, greatest(6, length(n::text)), '0') FROM nextval('order_number_seq') AS n $$;

ALTER TABLE orders ALTER COLUMN number SET DEFAULT next_order_number();
