import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, decode, msg, errorText, closeInfo, Close, ProtocolError } from '../js/protocol.js';

test('encodes every client message as the server parses it', () => {
  assert.equal(encode(msg.auth('tok')), '{"type":"auth","token":"tok"}');
  assert.equal(encode(msg.ping(3, 12.5)), '{"type":"ping","id":3,"client_time":12.5}');
  assert.equal(encode(msg.queue()), '{"type":"queue","game":"pong"}');
  assert.equal(encode(msg.cancelQueue()), '{"type":"cancel_queue"}');
  assert.equal(encode(msg.join({ code: 'ABC123' })), '{"type":"join","code":"ABC123"}');
  assert.equal(encode(msg.spectate({ room: 'r1' })), '{"type":"spectate","room":"r1"}');
  assert.equal(encode(msg.input(7, 'up')), '{"type":"input","seq":7,"input":"up"}');
  assert.equal(encode(msg.resign()), '{"type":"resign"}');
  assert.equal(encode(msg.leave()), '{"type":"leave"}');
  assert.equal(encode(msg.where()), '{"type":"where"}');
});

test('refuses messages the server would refuse', () => {
  assert.throws(() => encode({ type: 'dance' }), ProtocolError);
  assert.throws(() => encode(msg.auth('')), ProtocolError);
  assert.throws(() => encode(msg.input(0, 'up')), ProtocolError);
  assert.throws(() => encode(msg.input(1.5, 'up')), ProtocolError);
  assert.throws(() => encode({ type: 'input', seq: 1, input: 'jump' }), ProtocolError);
  assert.throws(() => encode({ type: 'queue', game: 'cycles', size: 0 }), ProtocolError);
  assert.throws(() => encode(msg.join({})), ProtocolError);
  assert.throws(() => encode(msg.ping(-1, 0)), ProtocolError);
  assert.throws(() => encode(msg.auth('x'.repeat(9000))), /too large/);
});

test('light cycles: turns and queue sizes encode; full and delta states decode', () => {
  assert.equal(encode(msg.input(4, 'left', 120)), '{"type":"input","seq":4,"input":"left","tick":120}');
  assert.equal(encode(msg.queue('cycles', 4)), '{"type":"queue","game":"cycles","size":4}');
  const full = decode('{"type":"snapshot","tick":5,"acks":[0,0],"ack_ticks":[0,0],"state":{"tick":5,"full":true,"round":1,"starts_in":3,"scores":[0,0],"status":[0,0],"heads":[[1,1,1],[5,5,3]],"trails":[[1,1],[5,5]]}}');
  assert.equal(full.state.full, true);
  const delta = decode('{"type":"snapshot","tick":6,"acks":[0,0],"state":{"tick":6,"full":false,"since":5,"round":1,"starts_in":0,"scores":[0,0],"status":[0,0],"heads":[[2,1,1],[4,5,3]],"cells":[0,2,1,1,4,5]}}');
  assert.deepEqual(delta.state.cells, [0, 2, 1, 1, 4, 5]);
  assert.deepEqual(delta.ack_ticks, [0, 0]);
  assert.throws(() => decode('{"type":"snapshot","tick":6,"acks":[0,0],"state":{"tick":6,"full":false,"since":5,"round":1,"scores":[0,0],"status":[0,0],"heads":[[2,1,1]],"cells":[0,2]}}'), ProtocolError);
  assert.throws(() => decode('{"type":"snapshot","tick":6,"acks":[0,0],"state":{"tick":6,"full":true,"round":1,"scores":[0,0],"status":[0,0],"heads":[[2,1]],"trails":[]}}'), ProtocolError);
});

test('decodes server messages and checks the ones the client relies on', () => {
  const snap = decode('{"type":"snapshot","tick":9,"acks":[3,0],"state":{"tick":9,"ball":[1,2,3,4],"paddles":[4500,4500],"scores":[0,1],"serving_in":0}}');
  assert.equal(snap.tick, 9);
  assert.deepEqual(snap.acks, [3, 0]);
  assert.deepEqual(snap.state.paddles, [4500, 4500]);
  assert.equal(decode('{"type":"pong","id":1,"client_time":5,"server_time":7}').server_time, 7);
  assert.equal(decode('{"type":"queued","game":"pong"}').type, 'queued');
  assert.equal(decode('{"type":"error","code":"room_full"}').message, '');
  assert.equal(decode('{"type":"something_new","x":1}').type, 'something_new');
});

test('rejects malformed frames with a ProtocolError', () => {
  for (const bad of [
    '{nope', '[1]', '{"no":"type"}', 'null',
    '{"type":"snapshot","tick":1,"acks":[0,0],"state":{"ball":[1,2],"paddles":[1,2],"scores":[0,0]}}',
    '{"type":"snapshot","tick":-1,"acks":[0,0],"state":{"ball":[1,2,3,4],"paddles":[1,2],"scores":[0,0]}}',
    '{"type":"pong","id":1}', '{"type":"joined","room":"r","role":"king","tick_hz":60}',
    '{"type":"welcome","session":"s"}', '{"type":"error","message":"x"}',
  ]) {
    assert.throws(() => decode(bad), ProtocolError, bad);
  }
});

test('every error has words', () => {
  assert.equal(errorText('room_full'), 'Every seat in that room is taken; you can spectate instead.');
  assert.equal(errorText('not_found', 'no such room'), 'No such room.');
  assert.match(errorText('brand_new_code'), /brand_new_code/);
});

test('close codes decide about reconnecting', () => {
  assert.equal(closeInfo(Close.ABNORMAL).reconnect, true);
  assert.equal(closeInfo(Close.RESTART).reconnect, true);
  assert.equal(closeInfo(Close.HEARTBEAT_TIMEOUT).reconnect, true);
  assert.equal(closeInfo(Close.SLOW_CLIENT).reconnect, true);
  const unauthorized = closeInfo(Close.UNAUTHORIZED);
  assert.deepEqual([unauthorized.reconnect, unauthorized.logout], [false, true]);
  const replaced = closeInfo(Close.SESSION_REPLACED);
  assert.deepEqual([replaced.reconnect, replaced.logout], [false, false]);
  assert.match(replaced.text, /another tab/);
});
