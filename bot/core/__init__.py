"""Pure decisions: data in, data out. Imports none of aiohttp, arq, redis, anthropic, gidgethub."""
