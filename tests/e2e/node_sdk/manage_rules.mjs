// Creates, lists, updates and deletes a rule, and sets, lists and deletes a rules-config key,
// with the official Node.js SDK; prints what it saw as JSON.
// Usage: node manage_rules.mjs BASE_URL TOKEN
import { RulesClient } from "auth0/rules";
import { RulesConfigsClient } from "auth0/rulesConfigs";

const [baseUrl, token] = process.argv.slice(2);
const rules = new RulesClient({ baseUrl, token, maxRetries: 0 });
const configs = new RulesConfigsClient({ baseUrl, token, maxRetries: 0 });
const script = "function (user, context, callback) { callback(null, user, context); }";

const created = await rules.create({ name: "node rule", script, order: 2 });
const listed = [];
for await (const rule of await rules.list()) {
  listed.push(rule.id);
}
const updated = await rules.update(created.id, { enabled: false });
await rules.delete(created.id);
let afterDelete = null;
try {
  await rules.get(created.id);
} catch (error) {
  afterDelete = error.statusCode;
}
await configs.set("NODE_KEY", { value: "node-secret" });
const keys = (await configs.list()).map((config) => config.key);
await configs.delete("NODE_KEY");
console.log(
  JSON.stringify({
    created: { name: created.name, order: created.order, enabled: created.enabled },
    listed: listed.length === 1 && listed[0] === created.id,
    updated: updated.enabled,
    afterDelete,
    keys,
    keysAfter: (await configs.list()).length,
  }),
);
