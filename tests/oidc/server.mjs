// An external OpenID provider for the interoperability tests: node-oidc-provider on loopback.
//
//   node tests/oidc/server.mjs --port 4010
//
// Issuer http://127.0.0.1:<port>. Client-credentials clients get JWT access tokens for the resource (audience) they
// ask for with `resource=` (RFC 8707), carrying Carnet's claims: a practice software acting for a professional
// (Pro Santé Connect claims: SubjectNameID, SubjectRefPro, amr) and a SMART on FHIR app (client_id, scope,
// patient). The portal signs people in through the authorization code flow with PKCE as one of two confidential
// clients (a FranceConnect-like one for patients, client_secret_basic; a Pro Santé Connect-like one for professionals,
// client_secret_post): native clients, so any loopback port of http://127.0.0.1/auth/callback is accepted (RFC 8252),
// plus each --redirect-uri given. Their people sign in on node-oidc-provider's development login form (any password)
// with the logins of ACCOUNTS; the access token is then a JWT for the resource asked for, with the person's claims.
// Test-only controls, never part of a real provider:
//   POST /_test/rotate  a new signing key becomes current; the previous keys stay published (key rotation)
//   GET  /_test/stats   how many times the JWKS was fetched, and the current kid
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '4010' },
    host: { type: 'string', default: '127.0.0.1' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
  },
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

// The portal's clients (authorization code with PKCE) and the people who sign in through them, with Carnet's claims
// (carnet/auth/claims.py): a holder's INS as FranceConnect-like patient claims (as carnet/auth/devusers.py's), a
// professional's Pro Santé Connect claims.
const PORTAL_CLIENTS = {
  'carnet-portail-patients': { secret: 'carnet-portail-patients-secret', auth: 'client_secret_basic' },
  'carnet-portail-pros': { secret: 'carnet-portail-pros-secret', auth: 'client_secret_post' },
};
const REDIRECT_URIS = ['http://127.0.0.1/auth/callback', 'http://localhost/auth/callback', ...args['redirect-uri']];

const ACCOUNTS = {
  dominique: {
    given_name: 'Dominique',
    family_name: 'PAT-TROIS',
    ins: '279035121518989',
    ins_oid: '1.2.250.1.213.1.4.10',
    amr: ['fc'],
    acr: 'eidas2',
  },
  sophie: {
    SubjectNameID: '899700000002',
    given_name: 'Sophie',
    family_name: 'LEROY',
    SubjectRefPro: CLIENTS['lgc-cabinet'].claims.SubjectRefPro,
    amr: ['e-cps'],
    acr: 'eidas2',
  },
};

async function findAccount(_ctx, id) {
  const claims = ACCOUNTS[id];
  if (!claims) return undefined;
  return {
    accountId: id,
    // The ID token and userinfo carry only the standard claims; Carnet reads its claims in the access token.
    claims: async () => ({ sub: id, given_name: claims.given_name, family_name: claims.family_name }),
  };
}

// The portal's clients are native (any loopback port) but first-party: no consent screen after the login form, which
// node-oidc-provider otherwise always shows to native clients.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `k-${crypto.randomUUID()}`, use: 'sig', alg: 'RS256' };
}

function makeProvider(keys) {
  const provider = new Provider(issuer, {
    clients: [
      ...Object.entries(CLIENTS).map(([clientId, c]) => ({
        client_id: clientId,
        client_secret: c.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: c.scope,
        token_endpoint_auth_method: 'client_secret_basic',
      })),
      ...Object.entries(PORTAL_CLIENTS).map(([clientId, c]) => ({
        client_id: clientId,
        client_secret: c.secret,
        application_type: 'native',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: REDIRECT_URIS,
        scope: 'openid profile',
        token_endpoint_auth_method: c.auth,
      })),
    ],
    findAccount,
    interactions: { policy },
    // The portal is a first-party client: its people are not asked to consent, only to sign in.
    loadExistingGrant: async (ctx) => {
      const { client, session, result } = ctx.oidc;
      const grantId = result?.consent?.grantId || session.grantIdFor(client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (!PORTAL_CLIENTS[client.clientId] || !session.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
    claims: { openid: ['sub'], profile: ['given_name', 'family_name'] },
    pkce: { required: () => true },
    jwks: { keys },
    scopes: ['openid', 'profile', ...new Set(Object.values(CLIENTS).flatMap((c) => c.scope.split(' ')))],
    cookies: { keys: ['carnet-test-oidc-cookie-key'] },
    features: {
      devInteractions: { enabled: true }, // the login form of the portal's people (test provider only)
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
    // A person's access token (authorization code) carries their claims; a client's (client credentials) its own.
    extraTokenClaims: async (_ctx, token) => (token.accountId ? ACCOUNTS[token.accountId] : CLIENTS[token.clientId]?.claims),
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
