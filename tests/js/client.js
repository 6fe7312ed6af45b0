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
