// Creates, lists, updates, rotates and deletes applications with the official Node.js SDK;
// prints what it saw as JSON. Usage: node manage_clients.mjs BASE_URL TOKEN
import { ClientsClient } from "auth0/clients";

const [baseUrl, token] = process.argv.slice(2);
const clients = new ClientsClient({ baseUrl, token, maxRetries: 0 });

const created = await clients.create({ name: "node app", app_type: "spa" });
const listed = [];
for await (const client of await clients.list({ app_type: "spa" })) {
  listed.push(client.client_id);
}
const updated = await clients.update(created.client_id, {
  callbacks: ["https://node.example/cb"],
});
await clients.delete(created.client_id);
let afterDelete = null;
try {
  await clients.get(created.client_id);
} catch (error) {
  afterDelete = error.statusCode;
}
const confidential = await clients.create({ name: "node backend", app_type: "regular_web" });
const rotated = await clients.rotateSecret(confidential.client_id);
await clients.delete(confidential.client_id);
console.log(
  JSON.stringify({
    created: {
      name: created.name,
      app_type: created.app_type,
      public: created.client_secret === undefined,
    },
    listed: listed.includes(created.client_id),
    updated: updated.callbacks,
    afterDelete,
    secretRotated:
      typeof rotated.client_secret === "string" &&
      rotated.client_secret !== confidential.client_secret,
  }),
);
