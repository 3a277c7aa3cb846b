// The kit's wire types and paths against the OpenAPI document the real
// actas serves, so that a change on either side shows here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  END_REASONS,
  REFUSALS,
  REQUEST_KINDS,
  REQUEST_STATUSES,
  SESSION_STATES,
  TICKET_SOURCES,
  TICKET_STATUSES,
} from '../dist/esm/index.js';
import { startActas } from './harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The string literals of `type name` in the published type declarations. */
function literals(name) {
  const dts = readFileSync(path.join(root, 'dist', 'esm', 'types.d.ts'), 'utf8');
  const m = dts.match(new RegExp(`export type ${name} =([\\s\\S]*?);`));
  assert.ok(m, `type ${name} is declared`);
  return [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]);
}

/** The properties of `interface name` in the published type declarations: `{prop: optional}`. */
function declared(name) {
  const dts = readFileSync(path.join(root, 'dist', 'esm', 'types.d.ts'), 'utf8');
  const m = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`));
  assert.ok(m, `interface ${name} is declared`);
  const props = {};
  for (const p of m[1].matchAll(/^ {4}(\w+)(\??):/gm)) {
    props[p[1]] = p[2] === '?';
  }
  return props;
}

describe('the OpenAPI document', () => {
  let actas;
  let doc;
  before(async () => {
    actas = await startActas();
    doc = await (await fetch(`${actas.base}/api/v1/openapi.json`)).json();
  });
  after(() => actas.close());

  test('lists the same enum values as the kit', () => {
    const s = doc.components.schemas;
    assert.deepEqual(s.EndReason.enum, [...END_REASONS]);
    assert.deepEqual(s.AuthorizeReason.enum, ['ok', ...REFUSALS]);
    assert.deepEqual(s.SessionState.enum, [...SESSION_STATES]);
    assert.deepEqual(s.TicketStatus.enum, [...TICKET_STATUSES]);
    assert.deepEqual(s.TicketSource.enum, [...TICKET_SOURCES]);
    assert.deepEqual(s.RequestStatus.enum, [...REQUEST_STATUSES]);
    assert.deepEqual(s.RequestKind.enum, [...REQUEST_KINDS]);
    assert.deepEqual(literals('EventType'), s.EventType.enum);
  });

  test('has every field of the kit types, and the kit requires what it requires', () => {
    const pairs = {
      Session: 'Session',
      Review: 'Review',
      Approver: 'Approver',
      ActionRef: 'ActionRef',
      Started: 'Started',
      Target: 'Target',
      Change: 'Change',
      AuthorizeRequest: 'AuthorizeRequest',
      AuthorizeResponse: 'AuthorizeResponse',
      NewTicket: 'NewTicket',
      Playbook: 'Playbook',
      AccessLogEntry: 'AccessLogEntry',
      AccessLog: 'AccessLog',
      NoticeData: 'NoticeData',
      Notice: 'Notice',
      SessionChange: 'SessionChange',
      NewStepUp: 'NewStepUp',
      StepUpChange: 'StepUpChange',
      StepUp: 'StepUp',
      NewGrant: 'NewGrant',
      Grant: 'Grant',
      Consent: 'Consent',
      AccountConsent: 'AccountConsent',
      Problem: 'ProblemDocument',
    };
    for (const [schema, iface] of Object.entries(pairs)) {
      const s = doc.components.schemas[schema];
      assert.ok(s, `schema ${schema}`);
      const ours = declared(iface);
      const theirs = Object.keys(s.properties);
      assert.deepEqual(Object.keys(ours).sort(), [...theirs].sort(), `${iface} has the fields of ${schema}`);
      for (const r of s.required ?? []) {
        assert.equal(ours[r], false, `${iface}.${r} is required`);
      }
    }
    // A ticket as the API answers it (requests and sessions only on GET /tickets/{ref}, for staff).
    const ticket = doc.components.schemas.Ticket;
    const ours = declared('Ticket');
    for (const p of Object.keys(ticket.properties).filter((p) => !['requests', 'sessions'].includes(p))) {
      assert.ok(p in ours, `Ticket.${p}`);
    }
    // A request as POST /sessions/{id}/stepup answers it (decisions and sessions only on GET /requests/{id}, for staff).
    const request = doc.components.schemas.Request;
    const kit = declared('SupportRequest');
    const answered = Object.keys(request.properties).filter((p) => !['decisions', 'sessions'].includes(p));
    assert.deepEqual(Object.keys(kit).sort(), answered.sort(), 'SupportRequest has the fields of Request');
    for (const r of request.required) {
      assert.equal(kit[r], false, `SupportRequest.${r} is required`);
    }
  });

  test('has every path and method the client calls', () => {
    const calls = [
      ['post', '/api/v1/authorize'],
      ['get', '/api/v1/sessions/{id}'],
      ['post', '/api/v1/sessions/{id}/end'],
      ['post', '/api/v1/sessions/{id}/heartbeat'],
      ['post', '/api/v1/sessions/{id}/stepup'],
      ['post', '/api/v1/entry'],
      ['post', '/api/v1/tickets'],
      ['get', '/api/v1/accounts/{id}/access-log'],
      ['post', '/api/v1/accounts/{id}/grants'],
      ['delete', '/api/v1/accounts/{id}/grants'],
      ['get', '/api/v1/accounts/{id}/grants'],
      ['put', '/api/v1/accounts/{id}/consent'],
      ['get', '/api/v1/notices'],
      ['post', '/api/v1/notices/{id}/delivered'],
      ['get', '/api/v1/sessions/feed'],
      ['get', '/.well-known/jwks.json'],
    ];
    for (const [method, p] of calls) {
      assert.ok(doc.paths[p]?.[method], `${method.toUpperCase()} ${p}`);
    }
    const params = doc.paths['/api/v1/notices'].get.parameters.map((x) => x.name).sort();
    assert.deepEqual(params, ['after', 'limit']);
    const withdrawal = doc.paths['/api/v1/accounts/{id}/grants'].delete.parameters.map((x) => x.name).sort();
    assert.deepEqual(withdrawal, ['id', 'revoked_by']);
  });
});
