import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, simulate } from '../../../infra/simulator/generator.ts';
import { createWorld } from '../../../infra/simulator/world.ts';
import { createDesensitizer } from '../../../pipelines/desensitize/desensitize.ts';
import { loadPolicy } from '../../../pipelines/desensitize/policy.ts';
import { processRaw } from '../../../pipelines/ingest/core.ts';
import { mapAliases } from '../../../pipelines/contracts/aliases.ts';
import { parseNumber } from '../../../pipelines/contracts/parse.ts';

const START = Date.parse('2025-01-06T00:00:00+08:00'); // a Monday in winter
const DAY = 86_400_000;

test('deterministic: same seed and start, same records; another seed differs', () => {
  const a = simulate({ seed: 7, startTime: START, badShare: 0.02, dupShare: 0.01 }, START + 6 * 3600_000);
  const b = simulate({ seed: 7, startTime: START, badShare: 0.02, dupShare: 0.01 }, START + 6 * 3600_000);
  assert.equal(a, b);
  const c = simulate({ seed: 8, startTime: START }, START + 6 * 3600_000);
  assert.is.not(JSON.stringify(a.slice(0, 400)), JSON.stringify(c.slice(0, 400)));
  // Advancing in many small steps gives the same stream as one big step.
  const g = new Generator({ seed: 7, startTime: START, badShare: 0.02, dupShare: 0.01 });
  const stepped = [];
  for (let t = START; t <= START + 6 * 3600_000; t += 7 * 60_000 + 13_000) stepped.push(...g.advance(t));
  stepped.push(...g.advance(START + 6 * 3600_000));
  assert.equal(stepped, a);
});

test('realistic world: ~300 mines in the nine banners, capacities summing to ~850 Mt/yr', () => {
  const w = createWorld(42);
  assert.ok(w.mines.length >= 280 && w.mines.length <= 320, String(w.mines.length));
  const total = w.mines.reduce((s, m) => s + m.capacityT, 0);
  assert.ok(Math.abs(total - 850e6) / 850e6 < 0.05, `capacity ${total / 1e6} Mt`);
  const byRegion = new Map<string, number>();
  for (const m of w.mines) byRegion.set(m.regionCode, (byRegion.get(m.regionCode) ?? 0) + 1);
  assert.ok(byRegion.get('150622')! > byRegion.get('150602')!, '准格尔旗 has more mines than 东胜');
  assert.ok(w.users.filter((u) => u.sector === 'power').length >= 20);
});

test('a simulated day: truck loads 30-35 t, prices 400-700, power plants 15-30 days of stock, every feed present, all good records valid', () => {
  const events = simulate({ seed: 42, startTime: START }, START + DAY);
  const feeds = new Set(events.map((e) => e.feed));
  assert.equal([...feeds].sort(), [
    'coal_users',
    'highway',
    'mine_inventory',
    'mines',
    'ports',
    'prices',
    'rail',
    'sales',
  ]);
  const d = createDesensitizer(loadPolicy(), 's');
  const ctx = { desensitizer: d, nowMs: Date.now(), receivedAtMs: Date.now() };
  let sales = 0;
  for (const e of events) {
    const o = processRaw(e.feed, e.raw, ctx);
    assert.is(o.status, 'ok', `${e.feed}: ${o.status === 'rejected' ? o.message : ''}`);
    if (o.status !== 'ok') continue;
    if (e.feed === 'sales') {
      const r = o.record as { netT: number; unitPriceYuanPerT: number };
      assert.ok(r.netT >= 30 && r.netT <= 35, `net ${r.netT}`);
      assert.ok(r.unitPriceYuanPerT >= 400 && r.unitPriceYuanPerT <= 700, `price ${r.unitPriceYuanPerT}`);
      sales++;
    }
    if (e.feed === 'coal_users') {
      const m = mapAliases('coal_users', e.raw as Record<string, unknown>).values;
      if (m.sector === '电力') {
        const days = parseNumber(m.stockT, 'stock', 's') / parseNumber(m.consumptionT, 'stock', 'c');
        assert.ok(days >= 13 && days <= 33, `days of stock ${days}`);
      }
    }
  }
  assert.ok(sales > 12_000 && sales < 25_000, `sales per day ${sales}`);
});

test('bad and duplicate shares: each bad record is rejected with the reason the generator meant', () => {
  const events = simulate(
    { seed: 3, startTime: START, badShare: 0.05, dupShare: 0.03 },
    START + 4 * 3600_000,
  );
  const bad = events.filter((e) => e.kind === 'bad');
  const dup = events.filter((e) => e.kind === 'dup');
  const sales = events.filter((e) => e.feed === 'sales').length;
  assert.ok(bad.length > 0.02 * sales && bad.length < 0.09 * sales, `bad ${bad.length} of ${sales}`);
  assert.ok(dup.length > 0.01 * sales && dup.length < 0.06 * sales, `dup ${dup.length} of ${sales}`);
  const d = createDesensitizer(loadPolicy(), 's');
  const ctx = { desensitizer: d, nowMs: Date.now(), receivedAtMs: Date.now() };
  const reasons = new Set<string>();
  for (const e of bad) {
    const o = processRaw(e.feed, e.raw, ctx);
    assert.is(
      o.status === 'rejected' ? o.reason : 'ok',
      e.expectedReason,
      JSON.stringify(e.raw).slice(0, 200),
    );
    reasons.add(e.expectedReason!);
  }
  assert.ok(reasons.size >= 6, [...reasons].join(','));
});

test('a start mid-day: the first minute gives the daily reports made before it, and no day gets two', () => {
  const start = Date.parse('2025-01-08T10:17:00+08:00');
  const first = simulate({ seed: 3, startTime: start }, start + 60_000);
  const feeds = (xs: typeof first) => new Set(xs.map((e) => e.feed));
  for (const f of ['mines', 'rail', 'ports', 'coal_users', 'prices'])
    assert.ok(feeds(first).has(f as never), `${f} in the first minute`);
  const at = (feed: string) => [...new Set(first.filter((e) => e.feed === feed).map((e) => e.timeMs))];
  assert.equal(at('rail'), [Date.parse('2025-01-08T06:00:00+08:00')]);
  assert.equal(at('ports'), [Date.parse('2025-01-08T08:00:00+08:00')]);
  assert.equal(at('coal_users'), [Date.parse('2025-01-08T08:00:00+08:00')]);
  assert.equal(at('prices'), [Date.parse('2025-01-08T09:00:00+08:00')]);
  // Two more days: one rail report per route and day, the snapshot's day included.
  const all = simulate({ seed: 3, startTime: start }, start + 2 * DAY);
  const perDay = new Map<string, number>();
  for (const e of all) {
    const raw = e.raw as Record<string, unknown>;
    if (e.feed !== 'rail' || e.kind !== 'good' || !(raw['日期'] || raw.period === 'day')) continue;
    const k = `${e.key}|${raw['流向'] ?? raw.direction}|${Math.floor((e.timeMs + 8 * 3600_000) / DAY)}`;
    perDay.set(k, (perDay.get(k) ?? 0) + 1);
  }
  assert.ok(perDay.size >= 3, String(perDay.size));
  assert.equal(
    [...perDay.values()].filter((n) => n !== 1),
    [],
  );
});

test('a checkpoint (as JSON) restored into a new generator continues record for record; it holds no plate', () => {
  const opts = { seed: 7, startTime: START, badShare: 0.02, dupShare: 0.05 };
  const whole = simulate(opts, START + 3 * DAY);
  const g = new Generator(opts);
  const first = g.advance(START + DAY + 5 * 3600_000);
  const text = JSON.stringify(g.checkpoint());
  for (const t of g.world.trucks.slice(0, 50))
    assert.not.ok(text.includes(t.plate), 'no plate in the checkpoint');
  const resumed = new Generator({ ...opts, startTime: Date.now() }).restore(JSON.parse(text));
  assert.is(resumed.now, g.now);
  const rest = resumed.advance(START + 3 * DAY);
  assert.equal([...first, ...rest], whole);
  // Restoring the same checkpoint twice (a crash after a round, before the next checkpoint) gives the same records again.
  const again = new Generator(opts).restore(JSON.parse(text)).advance(START + 3 * DAY);
  assert.equal(again, rest);
  assert.throws(
    () => new Generator({ ...opts, seed: 8 }).restore({ ...JSON.parse(text), mines: [] }),
    /checkpoint/,
  );
});

test.run();
