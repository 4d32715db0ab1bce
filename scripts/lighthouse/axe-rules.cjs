// Print the tags of every axe-core rule as JSON: the table the `lighthouse` ingest kind uses to know which
// Lighthouse accessibility audits are WCAG 2.x A/AA rules (an LHR only carries tags for failing audits).
// Usage: NODE_PATH=var/lighthouse/node_modules node axe-rules.cjs > src/foundation/client/ingest/axe_rules.json
'use strict';
const axe = require('axe-core');
const rules = {};
for (const rule of axe.getRules()) rules[rule.ruleId] = rule.tags;
const sorted = Object.fromEntries(Object.keys(rules).sort().map((id) => [id, rules[id]]));
process.stdout.write(JSON.stringify({ axeCoreVersion: axe.version, rules: sorted }, null, 1) + '\n');
