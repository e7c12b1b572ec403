#!/usr/bin/env node
// medwarden's re-computation harness for OpenAPS oref0 (pinned to 0.7.1 by package.json).
//
// Protocol: one JSON object per line on stdin, {"id": <int|string>, "op": <text>, "args": {...}};
// one JSON object per line on stdout, {"id": ..., "ok": true, "result": ...} or
// {"id": ..., "ok": false, "error": {"type": <text>, "message": <text>}}.
//
// Ops:
//   hello           -> {"oref0_version", "node_version", "tz"}
//   determine_basal -> oref0 lib/determine-basal/determine-basal with lib/basal-set-temp,
//                      args = the logged input tuple (see docs/controllers.md)
//   iob             -> oref0 lib/iob: args {"history", "profile", "clock", "autosens"?}
//   glucose_status  -> oref0 lib/glucose-get-last: args {"glucose_data"}
//   meal            -> oref0 lib/meal: args {"history", "profile", "basalprofile", "clock",
//                      "glucose_data", "carbs"?}
//
// Determinism: the wall clock is never read.  Date is replaced by a pinned Date whose
// no-argument constructor and Date.now() return the time of the request being served
// (current_time / clock); an op that has no such time throws if anything reads "now".
// oref0's console chatter (console.log/error, process.stderr.write) is swallowed so that
// stdout carries only protocol lines; the harness's own failures go to the real stderr.
'use strict';

const path = require('path');
const readline = require('readline');

const OREF0_DIR = process.env.MEDWARDEN_OREF0_DIR || process.argv[2];
if (!OREF0_DIR) {
  process.stderr.write('medwarden oref0 harness: set MEDWARDEN_OREF0_DIR\n');
  process.exit(2);
}
const OREF0 = path.join(OREF0_DIR, 'node_modules', 'oref0');

// ---- pinned clock -------------------------------------------------------------------
const RealDate = Date;
// While oref0 and its dependencies load, "now" is the Unix epoch (lodash and moment read the
// clock at load time); afterwards it is pinned per request.
let pinnedMs = 0;

function pinnedNow() {
  if (pinnedMs === null) {
    throw new Error("oref0 read the wall clock in an op that has no logged time");
  }
  return pinnedMs;
}

function PinnedDate(...args) {
  if (!new.target) {
    return new RealDate(pinnedNow()).toString();
  }
  if (args.length === 0) {
    return new RealDate(pinnedNow());
  }
  return new RealDate(...args);
}
PinnedDate.prototype = RealDate.prototype;
PinnedDate.now = pinnedNow;
PinnedDate.parse = RealDate.parse;
PinnedDate.UTC = RealDate.UTC;
global.Date = PinnedDate;

function withPinnedTime(ms, fn) {
  pinnedMs = ms;
  try {
    return fn();
  } finally {
    pinnedMs = null;
  }
}

// ---- quiet oref0, keep stdout for the protocol -----------------------------------------
const realStdoutWrite = process.stdout.write.bind(process.stdout);
const realStderrWrite = process.stderr.write.bind(process.stderr);
const swallow = () => true;
console.log = swallow;
console.info = swallow;
console.warn = swallow;
console.error = swallow;
console.debug = swallow;
process.stdout.write = swallow;
process.stderr.write = swallow;

// ---- oref0 modules (after Date is pinned, so that moment sees the pinned Date) ---------
let determineBasal;
let tempBasalFunctions;
let generateIob;
let getLastGlucose;
let generateMeal;
let oref0Version;
try {
  determineBasal = require(path.join(OREF0, 'lib', 'determine-basal', 'determine-basal'));
  tempBasalFunctions = require(path.join(OREF0, 'lib', 'basal-set-temp'));
  generateIob = require(path.join(OREF0, 'lib', 'iob'));
  getLastGlucose = require(path.join(OREF0, 'lib', 'glucose-get-last'));
  generateMeal = require(path.join(OREF0, 'lib', 'meal'));
  oref0Version = require(path.join(OREF0, 'package.json')).version;
  pinnedMs = null;
} catch (err) {
  realStderrWrite('medwarden oref0 harness: cannot load oref0 from ' + OREF0 + ': ' + err.message + '\n');
  process.exit(3);
}

// ---- helpers --------------------------------------------------------------------------
class BadInput extends Error {}

function need(args, key, type) {
  const value = args[key];
  const ok = type === 'array' ? Array.isArray(value)
    : type === 'object' ? value !== null && typeof value === 'object' && !Array.isArray(value)
      : typeof value === type;
  if (!ok) {
    throw new BadInput('args.' + key + ' must be ' + (type === 'object' ? 'an object' : 'a ' + type));
  }
  return value;
}

function parseTime(text, key) {
  if (typeof text !== 'string') {
    throw new BadInput('args.' + key + ' must be an ISO 8601 text');
  }
  const ms = RealDate.parse(text);
  if (!Number.isFinite(ms)) {
    throw new BadInput('args.' + key + ' is not a parseable time: ' + text);
  }
  return ms;
}

// Answers are serialised with JSON.stringify exactly as an OpenAPS rig writes its JSON files
// (a NaN inside oref0's output becomes null there too); rate, duration and units are checked
// to be finite first, so a NaN can never turn into a null "no change".
function checkFinite(rT, key) {
  if (key in rT && !(typeof rT[key] === 'number' && Number.isFinite(rT[key]))) {
    throw new Error('oref0 returned a non-finite ' + key + ': ' + String(rT[key]));
  }
}

// ---- ops ------------------------------------------------------------------------------
const ops = {
  hello() {
    return { oref0_version: oref0Version, node_version: process.version, tz: process.env.TZ || null };
  },

  determine_basal(args) {
    const nowMs = parseTime(args.current_time, 'current_time');
    const glucoseStatus = need(args, 'glucose_status', 'object');
    const currenttemp = need(args, 'currenttemp', 'object');
    const iobData = args.iob_data;
    if (iobData === null || typeof iobData !== 'object') {
      throw new BadInput('args.iob_data must be an object or an array');
    }
    const profile = need(args, 'profile', 'object');
    const mealData = need(args, 'meal_data', 'object');
    const microBolusAllowed = need(args, 'micro_bolus_allowed', 'boolean');
    const autosens = args.autosens === undefined ? null : args.autosens;
    const reservoir = args.reservoir_data === undefined ? null : args.reservoir_data;
    return withPinnedTime(nowMs, () => {
      const rT = determineBasal(glucoseStatus, currenttemp, iobData, profile, autosens, mealData,
        tempBasalFunctions, microBolusAllowed, reservoir, new RealDate(nowMs));
      if (typeof rT.error !== 'undefined') {
        throw new BadInput('oref0 determine-basal refused the inputs: ' + rT.error);
      }
      checkFinite(rT, 'rate');
      checkFinite(rT, 'duration');
      checkFinite(rT, 'units');
      return rT;
    });
  },

  iob(args) {
    const nowMs = parseTime(args.clock, 'clock');
    const inputs = {
      history: need(args, 'history', 'array'),
      profile: need(args, 'profile', 'object'),
      clock: args.clock,
    };
    if (args.autosens) {
      inputs.autosens = need(args, 'autosens', 'object');
    }
    return withPinnedTime(nowMs, () => generateIob(inputs));
  },

  glucose_status(args) {
    const data = need(args, 'glucose_data', 'array');
    if (data.length === 0) {
      throw new BadInput('args.glucose_data is empty');
    }
    const status = withPinnedTime(null, () => getLastGlucose(data));
    // oref0 computes noise as Math.round(undefined) = NaN when the CGM reports none; JSON
    // cannot hold NaN and determine-basal treats a missing noise exactly like NaN.
    if (!Number.isFinite(status.noise)) {
      delete status.noise;
    }
    return status;
  },

  meal(args) {
    const nowMs = parseTime(args.clock, 'clock');
    const inputs = {
      history: need(args, 'history', 'array'),
      profile: need(args, 'profile', 'object'),
      basalprofile: need(args, 'basalprofile', 'array'),
      clock: args.clock,
      carbs: Array.isArray(args.carbs) ? args.carbs : [],
      glucose: need(args, 'glucose_data', 'array'),
    };
    if (inputs.glucose.length === 0) {
      throw new BadInput('args.glucose_data is empty: oref0 meal needs the CGM history');
    }
    return withPinnedTime(nowMs, () => generateMeal(inputs));
  },
};

function answer(message) {
  realStdoutWrite(JSON.stringify(message) + '\n');
}

function serve(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    answer({ id: null, ok: false, error: { type: 'protocol', message: 'not JSON: ' + err.message } });
    return;
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    answer({ id: null, ok: false, error: { type: 'protocol', message: 'a request must be a JSON object' } });
    return;
  }
  const id = Object.prototype.hasOwnProperty.call(request, 'id') ? request.id : null;
  if (typeof request.op !== 'string' || !Object.prototype.hasOwnProperty.call(ops, request.op)) {
    answer({ id, ok: false, error: { type: 'protocol', message: 'unknown op ' + JSON.stringify(request.op) } });
    return;
  }
  const args = request.args && typeof request.args === 'object' ? request.args : {};
  try {
    // Each request line is parsed afresh, so nothing oref0 mutates survives into the next one.
    answer({ id, ok: true, result: ops[request.op](args) });
  } catch (err) {
    const type = err instanceof BadInput ? 'input' : 'internal';
    answer({ id, ok: false, error: { type, message: String(err && err.message ? err.message : err) } });
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
rl.on('line', (line) => {
  if (line.trim() !== '') {
    serve(line);
  }
});
rl.on('close', () => process.exit(0));
