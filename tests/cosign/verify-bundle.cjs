// Verifies a sigstore bundle against a public key, with no transparency log and no timestamp
// required, through sigstore-js (@sigstore/bundle parses, @sigstore/verify checks): a verifier
// this project did not write. Prints the verified DSSE envelope's payload type and payload as
// JSON; exits non-zero with sigstore-js's error when verification fails.
//
// Usage: node verify-bundle.cjs BUNDLE.json PUBLIC_KEY.pem   (NODE_PATH: the install's node_modules)
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { toSignedEntity, toTrustMaterial, Verifier } = require('@sigstore/verify');

const [bundlePath, keyPath] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
const key = crypto.createPublicKey(fs.readFileSync(keyPath, 'utf8'));
// An empty trusted root: the only trust is the key given, whatever the bundle's hint says.
const root = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};
const trust = toTrustMaterial(root, () => ({ publicKey: key, validFor: () => true }));
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
verifier.verify(toSignedEntity(bundle));
const envelope = bundle.content.dsseEnvelope;
console.log(JSON.stringify({
  mediaType: bundle.mediaType,
  payloadType: envelope.payloadType,
  payload: envelope.payload.toString('utf8'),
}));
