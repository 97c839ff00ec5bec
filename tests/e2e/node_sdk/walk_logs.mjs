// Walks the log records to their end with the official Node.js SDK's pager and prints their
// log ids as JSON. Usage: node walk_logs.mjs BASE_URL TOKEN QUERY PER_PAGE
import { LogsClient } from "auth0/logs";

const [baseUrl, token, search, perPage] = process.argv.slice(2);
const logs = new LogsClient({ baseUrl, token, maxRetries: 0 });
const ids = [];
const pages = await logs.list({ search, per_page: Number(perPage) });
for await (const record of pages) {
  ids.push(record.log_id);
}
console.log(JSON.stringify(ids));
