#!/usr/bin/env node
// allotd driven by msgpack-rpc-lite, a generic JavaScript msgpack-rpc
// client, as a new user would drive it.
//
// usage: node client.js HOST PORT [TOKEN]
//
// Checks (each failure is printed; exit 0 only if every check holds):
//   - with TOKEN: a method before auth is UNAUTHORIZED; auth {token} works;
//   - inbound.add with eta 1900000000000, which JavaScript sends as a
//     float64, succeeds, and avail shows it back as that integer;
//   - reserve holds, commit commits (expires_at null after);
//   - an OUT_OF_STOCK error's shape: {code, message, lines: [{sku,
//     requested, available}]};
//   - 100 reserves of 1 unit in flight at once (10 connections, 10
//     pipelined on each) on 50 units: exactly 50 held, 50 OUT_OF_STOCK,
//     and the record says reserved 50, available 0;
//   - a request over allotd's --frame-bytes-max (the test starts allotd
//     with 4096) is answered TOO_LARGE: the pending call completes with the
//     error instead of hanging, and the connection then closes.
'use strict';
const rpc = require('msgpack-rpc-lite');
const msgpack = require('msgpack-lite');

const [host, port, token] = process.argv.slice(2);
const failures = [];
const check = (what, ok) => { if (!ok) { failures.push(what); console.log('FAIL: ' + what); } return ok; };
const code = (err) => (err && typeof err === 'object' && err.code) || String(err);

// A call that hangs fails the run rather than stalling it.
const within = (ms, promise, what) => Promise.race([promise, new Promise((_, reject) =>
  setTimeout(() => reject(new Error(what + ': no answer within ' + ms + ' ms')), ms))]);

// A client of its own, authenticated when there is a token.
async function connect() {
  const c = rpc.createClient(Number(port), host);
  if (token)
    await within(10000, c.request('auth', { token }), 'auth');
  return c;
}

async function reserveAndCommit(call) {
  await call('stock.set', { sku: 'js-tee', location: 'W1', on_hand: 5 });
  const held = await call('reserve', { order_id: 'js-o-1', lines: [{ sku: 'js-tee', qty: 2 }] });
  const line = held && held.lines && held.lines[0];
  check('reserve holds 2 at W1: ' + JSON.stringify(held), held && held.status === 'held' &&
    /^r-[0-9a-f]{16}$/.test(held.reservation_id) && typeof held.expires_at === 'number' &&
    line && line.sku === 'js-tee' && line.qty === 2 && line.allocations.length === 1 &&
    line.allocations[0].location === 'W1' && line.allocations[0].qty === 2);
  const done = await call('commit', { reservation_id: held.reservation_id });
  check('commit commits it: ' + JSON.stringify(done), done && done.status === 'committed' &&
    done.reservation_id === held.reservation_id && done.expires_at === null);
  const [rec] = await call('stock.get', { sku: 'js-tee', location: 'W1' });
  check('the record shows 2 committed: ' + JSON.stringify(rec), rec && rec.committed === 2 &&
    rec.reserved === 0 && rec.available === 3);
}

async function outOfStockShape(call) {
  const e = await call('reserve', { order_id: 'js-o-2', lines: [{ sku: 'js-tee', qty: 4 }] })
    .then((r) => ({ answered: r }), (err) => err);
  check('OUT_OF_STOCK is {code, message, lines: [{sku, requested, available}]}: ' + JSON.stringify(e),
    e && e.code === 'OUT_OF_STOCK' && typeof e.message === 'string' && e.message.length > 0 &&
    Array.isArray(e.lines) && e.lines.length === 1 && e.lines[0].sku === 'js-tee' &&
    e.lines[0].requested === 4 && e.lines[0].available === 3);
}

async function concurrentReserves(call) {
  await call('stock.set', { sku: 'js-race', location: 'W1', on_hand: 50 });
  const clients = await Promise.all(Array.from({ length: 10 }, connect));
  const attempts = Array.from({ length: 100 }, (_, i) => within(20000,
    clients[i % clients.length].request('reserve', { order_id: 'race-' + i, lines: [{ sku: 'js-race', qty: 1 }] }),
    'reserve race-' + i).then(() => 'held', (e) => code(e)));
  const outcomes = await Promise.all(attempts);
  const held = outcomes.filter((o) => o === 'held').length;
  const refused = outcomes.filter((o) => o === 'OUT_OF_STOCK').length;
  check('100 concurrent reserves on 50 units: ' + held + ' held, ' + refused + ' OUT_OF_STOCK',
    held === 50 && refused === 50);
  const [rec] = await call('stock.get', { sku: 'js-race', location: 'W1' });
  check('the record holds exactly 50: ' + JSON.stringify(rec), rec && rec.reserved === 50 && rec.available === 0);
  clients.forEach((c) => c.close());
}

async function main() {
  const client = rpc.createClient(Number(port), host);
  const call = (method, params) => within(10000, client.request(method, params), method)
    .then(([result]) => result);

  check('ping answers pong', await call('ping', {}) === 'pong');
  if (token) {
    const before = await call('stats', {}).then(() => 'answered', (e) => code(e));
    check('stats before auth is UNAUTHORIZED, not ' + before, before === 'UNAUTHORIZED');
    const who = await call('auth', { token });
    check('auth answers a role: ' + JSON.stringify(who), who && who.role === 'admin');
  }

  const eta = 1900000000000;
  check('msgpack-lite sends ' + eta + ' as a float64', msgpack.encode(eta)[0] === 0xcb);
  await call('stock.set', { sku: 'js-1', location: 'W1', on_hand: 5 });
  const added = await call('inbound.add', { sku: 'js-1', location: 'W1', qty: 3, eta })
    .then(() => 'ok', (e) => code(e) + ': ' + (e && e.message));
  check('inbound.add with eta ' + eta + ' from JavaScript: ' + added, added === 'ok');
  const avail = await call('avail', { skus: ['js-1'] });
  const incoming = avail && avail['js-1'] && avail['js-1'].incoming;
  check('avail shows the inbound units at that eta: ' + JSON.stringify(avail),
    Array.isArray(incoming) && incoming.some((i) => i.qty === 3 && i.eta === eta));

  await reserveAndCommit(call);
  await outOfStockShape(call);
  await concurrentReserves(call);

  const closed = new Promise((resolve) => client.on('close', resolve));
  const big = await within(10000, client.request('ping', { pad: 'x'.repeat(8192) }), 'the large call')
    .then(() => 'answered', (e) => code(e));
  check('a request over the frame limit completes with TOO_LARGE, not ' + big, big === 'TOO_LARGE');
  await within(10000, closed, 'the close after TOO_LARGE').catch((e) => check(e.message, false));

  if (failures.length) {
    console.log(failures.length + ' check(s) failed');
    process.exit(1);
  }
  console.log('all checks passed');
  process.exit(0);
}

main().catch((e) => { console.log('FAIL: ' + (e && e.stack || e)); process.exit(1); });
