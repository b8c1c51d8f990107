// An external OpenID provider for the interoperability tests: node-oidc-provider on loopback.
//
//   node tests/oidc/server.mjs --port 4010
//
// Issuer http://127.0.0.1:<port>. Client-credentials clients get JWT access tokens for the resource (audience) they
// ask for with `resource=` (RFC 8707), carrying Carnet's claims: a practice software acting for a professional
// (Pro Santé Connect claims: SubjectNameID, SubjectRefPro, amr) and a SMART on FHIR app (client_id, scope,
// patient). Test-only controls, never part of a real provider:
//   POST /_test/rotate  a new signing key becomes current; the previous keys stay published (key rotation)
//   GET  /_test/stats   how many times the JWKS was fetched, and the current kid
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: { port: { type: 'string', default: '4010' }, host: { type: 'string', default: '127.0.0.1' } },
});
const port = Number.parseInt(args.port, 10);
const issuer = `http://${args.host}:${port}`;

// Clients of this provider and the claims each one's access tokens carry.
const CLIENTS = {
  'lgc-cabinet': {
    secret: 'lgc-cabinet-secret',
    scope: 'openid system/DocumentReference.cruds system/Patient.rs',
    claims: {
      SubjectNameID: '899700000002',
      given_name: 'Sophie',
      family_name: 'LEROY',
      SubjectRefPro: {
        exercices: [{
          codeProfession: '10',
          codeSavoirFaire: 'SM26',
          activities: [{ identifiantStructure: '1519990028', raisonSocialeSite: 'Centre hospitalier de démonstration de Reims' }],
        }],
      },
      amr: ['e-cps'],
      acr: 'eidas2',
    },
  },
  'smart-app': {
    secret: 'smart-app-secret',
    scope: 'patient/DocumentReference.rs patient/Binary.r',
    claims: { patient: '279035121518989', client_name: 'Application SMART externe' },
  },
};

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `k-${crypto.randomUUID()}`, use: 'sig', alg: 'RS256' };
}

function makeProvider(keys) {
  const provider = new Provider(issuer, {
    clients: Object.entries(CLIENTS).map(([clientId, c]) => ({
      client_id: clientId,
      client_secret: c.secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: c.scope,
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys },
    scopes: ['openid', ...new Set(Object.values(CLIENTS).flatMap((c) => c.scope.split(' ')))],
    cookies: { keys: ['carnet-test-oidc-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator, client) => ({
          scope: CLIENTS[client.clientId]?.scope.split(' ').filter((s) => s.includes('/')).join(' ') ?? '',
          audience: resourceIndicator,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: async (_ctx, token) => CLIENTS[token.clientId]?.claims,
  });
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error', err));
  return provider;
}

let keys = [newKey()];
let provider = makeProvider(keys);
let handler = provider.callback();
let jwksFetches = 0;

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/_test/rotate' && req.method === 'POST') {
    keys = [newKey(), ...keys];
    provider = makeProvider(keys);
    handler = provider.callback();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: keys[0].kid, kids: keys.map((k) => k.kid) }));
    return;
  }
  if (path === '/_test/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jwks_fetches: jwksFetches, kid: keys[0].kid }));
    return;
  }
  if (path === '/jwks') jwksFetches += 1;
  handler(req, res);
});

server.listen(port, args.host, () => {
  console.log(`oidc-provider ready on ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
