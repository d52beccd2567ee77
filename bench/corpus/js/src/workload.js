// The workload of corpus program "js", run by Boa. `N` (set by main.rs)
// scales every part. Everything is deterministic: a fixed xorshift
// generator, no Date, no Math.random. The value of the last expression is
// the text main.rs prints.
"use strict";
const out = [];
let seed = 0x2f6b4c1d | 0;
function rand(n) {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) % n;
}
function hash(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

// 1. Classes, inheritance, getters, a priority queue of tasks (Richards-like scheduling).
class Task {
  constructor(id, prio, work) { this.id = id; this.prio = prio; this.work = work; this.done = 0; }
  get remaining() { return this.work - this.done; }
  step(q) { this.done += Math.min(q, this.remaining); return this.remaining === 0; }
}
class IoTask extends Task {
  step(q) { return super.step(Math.max(1, q >> 1)); }
}
class Heap {
  constructor(cmp) { this.a = []; this.cmp = cmp; }
  get size() { return this.a.length; }
  push(x) {
    const a = this.a; a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.cmp(a[i], a[p]) >= 0) break;
      [a[i], a[p]] = [a[p], a[i]]; i = p;
    }
  }
  pop() {
    const a = this.a, top = a[0], last = a.pop();
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.cmp(a[l], a[m]) < 0) m = l;
        if (r < a.length && this.cmp(a[r], a[m]) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]]; i = m;
      }
    }
    return top;
  }
}
{
  const heap = new Heap((x, y) => x.prio - y.prio || x.id - y.id);
  for (let i = 0; i < N * 20; i++) {
    const T = i % 3 === 0 ? IoTask : Task;
    heap.push(new T(i, rand(50), 1 + rand(40)));
  }
  let steps = 0, order = 0;
  while (heap.size) {
    const t = heap.pop();
    steps++;
    if (t.step(8)) order = (order * 31 + t.id) % 1000000007;
    else { t.prio += 3; heap.push(t); }
  }
  out.push(`scheduler: ${steps} steps, order ${order}`);
}

// 2. Strings, template literals, RegExp, split/join, Map counting.
{
  const words = ["lorem", "ipsum", "dolor", "sit", "amet", "wasm", "engine", "Boa", "café", "naïve"];
  const parts = [];
  for (let i = 0; i < N * 200; i++) {
    const w = words[rand(words.length)];
    parts.push(i % 17 === 0 ? `${w.toUpperCase()}-${rand(1000)}` : w);
  }
  const text = parts.join(" ");
  const counts = new Map();
  for (const w of text.split(/\s+/)) counts.set(w.toLowerCase(), (counts.get(w.toLowerCase()) || 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 3);
  const tagged = text.match(/\b[A-Z]+-\d+\b/g) || [];
  const replaced = text.replace(/(\w+)-(\d+)/g, (_, w, d) => `${d}:${w.length}`);
  out.push(`strings: ${text.length} chars, ${counts.size} words, top ${JSON.stringify(top)}, ` +
    `${tagged.length} tags, hash ${hash(replaced)}`);
}

// 3. JSON round trip of a generated object graph.
{
  const docs = [];
  for (let i = 0; i < N * 10; i++) {
    docs.push({ id: i, name: `item-${i}`, tags: Array.from({ length: rand(4) }, (_, k) => `t${k}`),
      price: rand(100000) / 100, nested: { ok: i % 2 === 0, list: [i, i * 2, null, "\u00e9\n"] } });
  }
  const s = JSON.stringify(docs);
  const back = JSON.parse(s);
  const total = back.reduce((acc, d) => acc + d.price, 0);
  out.push(`json: ${s.length} chars, hash ${hash(s)}, total ${total.toFixed(2)}, ` +
    `pretty ${JSON.stringify(back.slice(0, 3), null, 2).length}`);
}

// 4. Numbers: a sieve on typed arrays, floats, BigInt factorial.
{
  const limit = N * 5000;
  const sieve = new Uint8Array(limit + 1);
  let primes = 0, last = 0;
  for (let i = 2; i <= limit; i++) {
    if (!sieve[i]) { primes++; last = i; for (let j = i * i; j <= limit; j += i) sieve[j] = 1; }
  }
  let x = 0;
  for (let i = 1; i <= N * 1000; i++) x += Math.sin(i) * Math.sqrt(i) / (1 + Math.log(i));
  let f = 1n;
  for (let i = 1n; i <= BigInt(N * 5); i++) f *= i;
  const fs = f.toString();
  out.push(`numbers: ${primes} primes up to ${limit} (last ${last}), sum ${x.toFixed(9)}, ` +
    `${N * 5}! has ${fs.length} digits, hash ${hash(fs)}`);
}

// 5. Closures, generators, destructuring, spread, Set, sorting with a comparator.
{
  function* fib() { let [a, b] = [0, 1]; for (;;) { yield a; [a, b] = [b, (a + b) % 1000003]; } }
  const take = (it, n) => { const r = []; for (const v of it) { if (r.length >= n) break; r.push(v); } return r; };
  const seq = take(fib(), N * 100);
  const adders = seq.slice(0, 50).map((v) => (y) => v + y);
  const applied = adders.reduce((acc, f) => f(acc) % 1000003, 7);
  const uniq = new Set(seq.map((v) => v % 1000));
  const pts = Array.from({ length: N * 50 }, () => ({ x: rand(1000) - 500, y: rand(1000) - 500 }));
  pts.sort((p, q) => (p.x * p.x + p.y * p.y) - (q.x * q.x + q.y * q.y) || p.x - q.x || p.y - q.y);
  const { x: fx, y: fy } = pts[0];
  const maxd = Math.max(...pts.map(({ x, y }) => Math.abs(x) + Math.abs(y)));
  out.push(`functional: ${seq.length} fib, applied ${applied}, ${uniq.size} residues, ` +
    `nearest (${fx},${fy}), max manhattan ${maxd}`);
}

// 6. Exceptions, Proxy, Reflect, Symbol, property enumeration order.
{
  let caught = 0;
  for (let i = 0; i < N * 20; i++) {
    try { if (i % 3 === 0) throw new RangeError(`bad ${i}`); null.x; } catch (e) { caught += e instanceof RangeError ? 2 : 1; }
  }
  const log = [];
  const p = new Proxy({}, { get: (t, k) => (log.push(String(k)), k.length), has: () => true });
  let s = 0;
  for (let i = 0; i < N * 5; i++) s += p["key" + (i % 7)];
  const tag = Symbol("tag");
  const o = { b: 1, a: 2, 10: 3, 2: 4, [tag]: 5 };
  out.push(`objects: caught ${caught}, proxy ${s} over ${log.length} gets, ` +
    `keys ${Object.keys(o).join(",")}, symbols ${Reflect.ownKeys(o).length}`);
}
out.join("\n");
