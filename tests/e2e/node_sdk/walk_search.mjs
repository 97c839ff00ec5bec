// Walks a user search to its end with the official Node.js SDK's pager and prints the user ids
// as JSON. Usage: node walk_search.mjs BASE_URL TOKEN QUERY PER_PAGE
import { UsersClient } from "auth0/users";

const [baseUrl, token, q, perPage] = process.argv.slice(2);
const users = new UsersClient({ baseUrl, token, maxRetries: 0 });
const ids = [];
const pages = await users.list({ q, search_engine: "v3", per_page: Number(perPage) });
for await (const user of pages) {
  ids.push(user.user_id);
}
console.log(JSON.stringify(ids));
