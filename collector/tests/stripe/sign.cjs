// Signs Stripe webhook payloads with Stripe's official Node library (the `stripe` package
// pinned in package.json): `stripe.webhooks.generateTestHeaderString`, the header Stripe's own
// tests use. Reads {"secret", "timestamp", "payloads": [string]} on stdin, writes the JSON
// array of `Stripe-Signature` headers. No API call is made (the key is a placeholder).
'use strict';
const Stripe = require('stripe');

const stripe = new Stripe('sk_test_placeholder');
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const { secret, timestamp, payloads } = JSON.parse(input);
  const headers = payloads.map((payload) =>
    stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }));
  process.stdout.write(JSON.stringify(headers));
});
