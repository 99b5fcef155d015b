-- Tamper evidence of the audit trail: a hash chain over `seq` order. Each row stores the hash of the row before it
-- (`prev_hash`) and its own (`row_hash` = hex SHA-256 of prev_hash || '\n' || seq || '\n' || body, where body is the
-- canonical JSON of the row's fields, built by the application: api/access/chain.ts). Storing prev_hash per row lets
-- verification start at the earliest row retention kept, anchored on that row's stored prev_hash.
ALTER TABLE access_audit ADD COLUMN IF NOT EXISTS prev_hash text;

-- The chain's head: one row, locked FOR UPDATE by every append, so appends from several API processes form one
-- chain (seq is taken after the lock, so seq order is chain order). genesis_seq = the first chained row; rows
-- below it were written before the chain existed.
CREATE TABLE IF NOT EXISTS access_audit_chain (
  id int PRIMARY KEY CHECK (id = 1),
  seq bigint,
  row_hash text NOT NULL,
  genesis_seq bigint
);
INSERT INTO access_audit_chain (id, seq, row_hash, genesis_seq)
  VALUES (1, NULL, repeat('0', 64), NULL) ON CONFLICT (id) DO NOTHING;

-- Appends a batch of audit rows (in the order given) and the usage they add, in one statement: one round trip and
-- atomic. The hashes are chained here, under the head's lock; the bodies come from the application.
CREATE OR REPLACE FUNCTION access_audit_append(
  p_at float8[], p_key text[], p_sub text[], p_method text[], p_route text[], p_product text[], p_params text[],
  p_purpose text[], p_status int[], p_cr int[], p_cs int[], p_bytes bigint[], p_ms real[], p_body text[],
  u_sub text[], u_product text[], u_day date[], u_calls bigint[], u_rows bigint[], u_bytes bigint[]
) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  n int := coalesce(array_length(p_at, 1), 0);
  h text;
  s bigint;
  first_seq bigint;
  seqs bigint[] := '{}';
  prevs text[] := '{}';
  hashes text[] := '{}';
BEGIN
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  SELECT row_hash INTO h FROM access_audit_chain WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO access_audit_chain (id, seq, row_hash) VALUES (1, NULL, repeat('0', 64)) ON CONFLICT (id) DO NOTHING;
    SELECT row_hash INTO h FROM access_audit_chain WHERE id = 1 FOR UPDATE;
  END IF;
  FOR i IN 1..n LOOP
    s := nextval('access_audit_seq');
    IF i = 1 THEN
      first_seq := s;
    END IF;
    seqs := seqs || s;
    prevs := prevs || h;
    h := encode(sha256(convert_to(h || E'\n' || s::text || E'\n' || p_body[i], 'UTF8')), 'hex');
    hashes := hashes || h;
  END LOOP;
  INSERT INTO access_audit (seq, at, key_id, subscriber_id, method, route, product, params, purpose, status,
      cells_returned, cells_suppressed, bytes, duration_ms, prev_hash, row_hash)
    SELECT t.seq, to_timestamp(t.at / 1000.0), t.key_id, t.sub, t.method, t.route, t.product, t.params::jsonb,
      t.purpose, t.status, t.cr, t.cs, t.bytes, t.ms, t.prev, t.hash
    FROM unnest(seqs, p_at, p_key, p_sub, p_method, p_route, p_product, p_params, p_purpose, p_status, p_cr, p_cs,
      p_bytes, p_ms, prevs, hashes)
      AS t(seq, at, key_id, sub, method, route, product, params, purpose, status, cr, cs, bytes, ms, prev, hash);
  UPDATE access_audit_chain SET seq = s, row_hash = h, genesis_seq = coalesce(genesis_seq, first_seq) WHERE id = 1;
  INSERT INTO access_usage_daily (subscriber_id, product, day, calls, rows, bytes)
    SELECT * FROM unnest(u_sub, u_product, u_day, u_calls, u_rows, u_bytes)
    ON CONFLICT (subscriber_id, product, day) DO UPDATE SET calls = access_usage_daily.calls + EXCLUDED.calls,
      rows = access_usage_daily.rows + EXCLUDED.rows, bytes = access_usage_daily.bytes + EXCLUDED.bytes;
  RETURN s;
END
$fn$;
