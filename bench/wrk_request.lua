-- wrk script of `python -m bench.wrk`: signed GitHub deliveries, each with its own delivery id.
--
--   wrk ... -s bench/wrk_request.lua URL -- BODY_FILE EVENT SIGNATURE NONCE PHASE COUNT
--
-- BODY_FILE   the exact bytes to POST (the signature covers these bytes only, so it is constant)
-- EVENT       X-GitHub-Event
-- SIGNATURE   X-Hub-Signature-256, "sha256=<hex>"
-- NONCE       8 hex digits, new for every bench run
-- PHASE       a number, new for every wrk run of the bench (warm-up, measured, each server)
-- COUNT       "1": count the answers per status in response(); "0": define no response(), so wrk
--             does not hand each answer to Lua (wrk is then as fast as it gets)
--
-- Every request carries a unique, UUID-shaped X-GitHub-Delivery:
--   NONCE-PHASE-4TID-8000-COUNTER   (version 4, RFC 4122 variant: GitHub's ids look the same)
-- built in request() from the thread's id and a per-thread counter. The request bytes are a
-- template split around the id, so one request is a single three-piece concatenation.
--
-- done() prints one line, "BENCH_RESULT {json}", that the bench parses.

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
   thread:set("tid", #threads)
end

local prefix, suffix
local nonce, phase
local counter = 0
accepted = 0   -- globals, so done() can read them with thread:get()
other = 0
first_other = ""

local function count_response(status, headers, body)
   if status == 202 then
      accepted = accepted + 1
   else
      other = other + 1
      if first_other == "" then
         -- kept JSON-safe: done() prints it inside a JSON string
         first_other = string.gsub(tostring(status) .. " " .. string.sub(body or "", 1, 160), '[%c"\\]', "'")
      end
   end
end

function init(args)
   local file = assert(io.open(args[1], "rb"))
   local body = file:read("*a")
   file:close()
   nonce = args[4]
   phase = tonumber(args[5])
   local placeholder = "@@DELIVERY-ID-PLACEHOLDER@@"
   local template = wrk.format("POST", nil, {
      ["Host"] = wrk.headers["Host"],
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "GitHub-Hookshot/bench",
      ["X-GitHub-Event"] = args[2],
      ["X-Hub-Signature-256"] = args[3],
      ["X-GitHub-Delivery"] = placeholder,
   }, body)
   local at = assert(string.find(template, placeholder, 1, true))
   prefix = string.sub(template, 1, at - 1)
   suffix = string.sub(template, at + #placeholder)
   if args[6] == "1" then
      response = count_response
   end
end

function request()
   counter = counter + 1
   local id = string.format("%s-%04x-4%03x-8000-%012x", nonce, phase, tid, counter)
   return prefix .. id .. suffix
end

function done(summary, latency, requests)
   local per_thread = {}
   for i, thread in ipairs(threads) do
      per_thread[i] = string.format(
         '{"accepted":%d,"other":%d,"first_other":"%s"}',
         thread:get("accepted"), thread:get("other"), thread:get("first_other")
      )
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
      '"threads":[%s]}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      table.concat(per_thread, ",")
   ))
end
