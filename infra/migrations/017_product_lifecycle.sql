-- Data product lifecycle (api/access/lifecycle.ts): draft → under_review → approved → published → suspended → retired
-- (suspended → published resumes; retired is final). Only published products are served.
-- Products registered before this migration (the defaults) are published, so nothing changes for their users;
-- a product registered after it starts as a draft (the column default changes once the existing rows are filled).
ALTER TABLE access_products ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'published';
ALTER TABLE access_products ALTER COLUMN state SET DEFAULT 'draft';
ALTER TABLE access_products ADD COLUMN IF NOT EXISTS state_changed_at timestamptz NOT NULL DEFAULT now();
-- The latest review record (fields checked against the minimum-necessary list, disclosure settings, sample).
ALTER TABLE access_products ADD COLUMN IF NOT EXISTS review jsonb;

-- Every step, append-only: who (key id and subscriber, or the CLI operator's name), when, why, and the review
-- record attached at under_review and approved. The application only inserts.
CREATE TABLE IF NOT EXISTS product_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  product text NOT NULL,
  from_state text,
  to_state text NOT NULL,
  -- 'key:<keyId>' with the subscriber, or 'cli:<name>'.
  actor text NOT NULL,
  subscriber_id text,
  reason text NOT NULL DEFAULT '',
  review jsonb
);
CREATE INDEX IF NOT EXISTS product_events_at_idx ON product_events (at);
CREATE INDEX IF NOT EXISTS product_events_product_idx ON product_events (product, id);

-- The registration itself is the first event of the products that existed before the lifecycle.
INSERT INTO product_events (at, product, from_state, to_state, actor, reason)
SELECT p.registered_at, p.code, NULL, 'published', 'migration:017', '生命周期启用前已登记 / registered before the lifecycle'
FROM access_products p WHERE p.state = 'published' AND NOT EXISTS (SELECT 1 FROM product_events e WHERE e.product = p.code);
