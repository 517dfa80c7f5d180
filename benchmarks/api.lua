-- wrk script for benchmarks/api.py: one URL (the one on wrk's command line), repeated until -d
-- ends; done() prints wrk's figures as one line, "API-RESULT {json}".
--
--   wrk -t 2 -c 16 -d 10s -s benchmarks/api.lua 'http://127.0.0.1:8080/api/v1/samples/?…' \
--       [-- HEADER]
--
-- HEADER  optional "Name: value" sent with every request (e.g. an Authorization token)

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local statuses = {}
local bytes_seen = 0

function init(args)
   local header = args[1]
   if header and header ~= "" then
      local name, value = header:match("^([^:]+):%s*(.*)$")
      wrk.headers[name] = value
   end
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if body then
      bytes_seen = #body
   end
   wrk.thread:set("statuses", statuses)
   wrk.thread:set("body_bytes", bytes_seen)
end

function done(summary, latency, requests)
   local merged = {}
   local body_bytes = 0
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses") or {}
      for code, count in pairs(s) do
         merged[code] = (merged[code] or 0) + count
      end
      body_bytes = math.max(body_bytes, thread:get("body_bytes") or 0)
   end
   local parts = {}
   for code, count in pairs(merged) do
      table.insert(parts, string.format('"%s": %d', code, count))
   end
   local e = summary.errors
   io.write(string.format(
      'API-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "body_bytes": %d, ' ..
      '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "statuses": {%s}, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}}\n',
      summary.requests, summary.duration, summary.bytes, body_bytes,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
      table.concat(parts, ", "), e.connect, e.read, e.write, e.timeout, e.status))
end
