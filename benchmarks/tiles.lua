-- wrk script for benchmarks/tiles.py: requests XYZ tiles from a list, each thread its own share.
--
--   wrk -t 2 -c 16 -d 60s -s benchmarks/tiles.lua http://127.0.0.1:8080 -- \
--       TILES_FILE MODE THREADS PREFIX SUFFIX [HEADER]
--
-- TILES_FILE  one "z/x/y" a line (shuffled by the caller)
-- MODE        "once": every tile is requested once (thread i takes lines i, i+T, i+2T, ... of T
--             threads); when all its tiles have answered, a thread writes its start and end
--             (CLOCK_MONOTONIC), answers and status codes to TILES_FILE.done.<id> and stops;
--             tiles.py ends wrk once every thread has. "loop": the thread cycles through its
--             share until wrk's -d ends; done() prints wrk's summary as one line,
--             "TILES-RESULT {json}".
-- THREADS     wrk's -t (setup() cannot know it before the first thread starts)
-- PREFIX      the URL up to z/x/y, e.g. "/tiles/<key>/" or "/cog/tiles/WebMercatorQuad/"
-- SUFFIX      after y, e.g. ".png" or ".png?url=/path/layer.tif"
-- HEADER      optional "Name: value" sent with every request (e.g. a session cookie)

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } tiles_timespec;
int clock_gettime(int clock_id, tiles_timespec *tp);
]])
local timespec = ffi.new("tiles_timespec")

local function now_us()
   ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
   return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local paths = {}
local n = 0
local sent = 0
local answered = 0
local once = false
local statuses = {}
local marker = nil

function init(args)
   local file, mode, stride, prefix, suffix, header = args[1], args[2], tonumber(args[3]),
      args[4], args[5], args[6]
   if not (file and mode and stride and prefix and suffix) then
      error("usage: -- TILES_FILE once|loop THREADS PREFIX SUFFIX [HEADER]")
   end
   once = mode == "once"
   marker = file .. ".done."
   local id = wrk.thread:get("id")
   os.remove(marker .. id)
   local i = 0
   for line in io.lines(file) do
      if line ~= "" then
         if i % stride == id then
            n = n + 1
            paths[n] = prefix .. line .. suffix
         end
         i = i + 1
      end
   end
   if n == 0 then
      error("no tiles for thread " .. id .. " in " .. file)
   end
   if header and header ~= "" then
      local name, value = header:match("^([^:]+):%s*(.*)$")
      wrk.headers[name] = value
   end
   wrk.thread:set("share", n)
   wrk.thread:set("t0", now_us())
end

-- A thread that has all its answers writes its figures to TILES_FILE.done.<id>; tiles.py waits
-- for every thread's file and then ends wrk (whose main thread would otherwise sleep out -d:
-- neither thread:stop() nor SIGINT cuts that short).
local function finished()
   local t1 = now_us()
   local parts = {}
   for code, count in pairs(statuses) do
      table.insert(parts, string.format('"%s": %d', code, count))
   end
   local f = io.open(marker .. wrk.thread:get("id") .. ".tmp", "w")
   f:write(string.format('{"t0": %d, "t1": %d, "answered": %d, "sent": %d, "share": %d, '
      .. '"statuses": {%s}}\n', wrk.thread:get("t0"), t1, answered, sent, n,
      table.concat(parts, ", ")))
   f:close()
   os.rename(marker .. wrk.thread:get("id") .. ".tmp", marker .. wrk.thread:get("id"))
end

-- wrk calls request() once before the threads start (to check the script), on thread 0 only; the
-- index wraps, so the tile it skips is requested at the end and every tile is still sent once.
function request()
   local path = paths[(sent % n) + 1]
   sent = sent + 1
   return wrk.format("GET", path)
end

local function publish()
   local parts = {}
   for code, count in pairs(statuses) do
      table.insert(parts, code .. "=" .. count)
   end
   wrk.thread:set("statuses", table.concat(parts, ","))
end

function response(status, headers, body)
   answered = answered + 1
   statuses[status] = (statuses[status] or 0) + 1
   if once and answered == n then
      finished()
      wrk.thread:stop()
   elseif answered % 200 == 0 then
      publish() -- in loop mode wrk's timer stops the thread: the last <200 answers go uncounted
   end
end

function done(summary, latency, requests)
   local codes = {}
   local share = 0
   for _, thread in ipairs(threads) do
      share = share + (tonumber(thread:get("share")) or 0)
      local s = thread:get("statuses")
      if s then
         for code, count in s:gmatch("(%d+)=(%d+)") do
            codes[code] = (codes[code] or 0) + tonumber(count)
         end
      end
   end
   local parts = {}
   for code, count in pairs(codes) do
      table.insert(parts, string.format('"%s": %d', code, count))
   end
   local errors = summary.errors
   io.write(string.format(
      'TILES-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "tiles": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, '
         .. '"statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes, share,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, table.concat(parts, ", ")))
end
