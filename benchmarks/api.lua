-- wrk script for benchmarks/api.py: one URL (the one on wrk's command line), repeated until -d
-- ends; done() prints wrk's figures as one line, "API-RESULT {json}".
--
--   wrk -t 2 -c 16 -d 10s -s benchmarks/api.lua 'http://127.0.0.1:8080/api/v1/samples/?…' \
--       [-- HEADER]
--
-- HEADER  optional "Name: value" sent with every request (e.g. an Authorization token)
--
-- With more arguments, every request asks for a bbox of its own (no two alike, so no cache can
-- answer): "-- HEADER PATH W S E N" requests PATH with "{bbox}" replaced by W,S,E,N moved by up
-- to ±0.1° east and north at random (a seed per thread) plus 1e-7° × the request's number.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

local template, box, counter = nil, nil, 0

local statuses = {}
local bytes_seen = 0

function init(args)
   local header = args[1]
   if header and header ~= "" then
      local name, value = header:match("^([^:]+):%s*(.*)$")
      wrk.headers[name] = value
   end
   if args[2] then
      template = args[2]
      box = {tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6])}
      math.randomseed(os.time() * 1000 + (wrk.thread:get("id") or 0))
   end
end

function request()
   if not template then
      return wrk.request()
   end
   counter = counter + 1
   local dx = (math.random() - 0.5) * 0.2 + counter * 1e-7
   local dy = (math.random() - 0.5) * 0.2
   local bbox = string.format("%.7f,%.7f,%.7f,%.7f", box[1] + dx, box[2] + dy, box[3] + dx, box[4] + dy)
   return wrk.format(nil, (template:gsub("{bbox}", bbox)))
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
