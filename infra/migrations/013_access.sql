-- Subscribers, API keys, grants and registered data products (api/access).
-- A key is shown once: only its SHA-256 is stored, looked up by a short public key id.
CREATE TABLE IF NOT EXISTS access_subscribers (
  id text PRIMARY KEY,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('enterprise', 'coal_user', 'government', 'operator')),
  -- 统一社会信用代码 of an enterprise (required for kind = 'enterprise').
  credit_code text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (kind <> 'enterprise' OR credit_code IS NOT NULL)
);

CREATE TABLE IF NOT EXISTS access_keys (
  key_id text PRIMARY KEY,
  subscriber_id text NOT NULL REFERENCES access_subscribers (id),
  secret_sha256 text NOT NULL,
  label text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  -- The key this one replaced (rotation keeps the old one valid until its own expiry).
  rotated_from text
);
CREATE INDEX IF NOT EXISTS access_keys_subscriber_idx ON access_keys (subscriber_id);

-- Registered (登记) data products: a product not in this table is served to no one.
CREATE TABLE IF NOT EXISTS access_products (
  code text PRIMARY KEY,
  name text NOT NULL,
  -- Fields used, from the minimum-necessary list.
  fields text[] NOT NULL DEFAULT '{}',
  -- Fee rule: {"perCallYuan": 0.01, "perSubscriptionYuan": 0, "perMbYuan": 0, "perRowYuan": 0, "capYuan": null}
  fee jsonb NOT NULL DEFAULT '{}'::jsonb,
  registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS access_grants (
  id bigserial PRIMARY KEY,
  subscriber_id text NOT NULL REFERENCES access_subscribers (id),
  products text[] NOT NULL,
  -- Region codes, or {'*'} for every region.
  regions text[] NOT NULL DEFAULT '{*}',
  -- Own entities (mines, coal users) seen in full; '*' = every entity (an explicit grant, e.g. the energy bureau).
  mines text[] NOT NULL DEFAULT '{}',
  users text[] NOT NULL DEFAULT '{}',
  purpose text NOT NULL,
  valid_from timestamptz NOT NULL DEFAULT now(),
  valid_to timestamptz,
  -- Calls per day per key; NULL = no quota.
  quota_per_day int,
  tier text NOT NULL CHECK (tier IN ('public', 'industry')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS access_grants_subscriber_idx ON access_grants (subscriber_id);
