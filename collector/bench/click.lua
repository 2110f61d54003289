-- wrk script for the collector benchmark: every request is a click with a UNIQUE eventId and a
-- UNIQUE proposed cid (a first visit), so the collector stores every one of them (a fixed body
-- would be deduplicated by eventId and measure nothing but the replay path).
--
-- Optional paced mode: `wrk ... -s click.lua URL -- RATE THREADS [SALT]` spreads about RATE
-- requests/s (in total) over the connections instead of sending as fast as answers come back
-- (RATE 0: as fast as possible).
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local now_ms = nil
do
  -- wall clock in ms through LuaJIT's FFI (wrk embeds LuaJIT)
  local ok, ffi = pcall(require, "ffi")
  if ok then
    pcall(ffi.cdef, [[
      typedef struct { long tv_sec; long tv_nsec; } ct_timespec;
      int clock_gettime(int clk_id, ct_timespec *tp);
    ]])
    local ts = ffi.new("ct_timespec")
    now_ms = function()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
    end
  end
end

function init(args)
  -- args[3]: a salt per wrk process, so that two wrk runs started in the same second (two
  -- collectors benchmarked at once) never draw the same ids
  local salt = tonumber(args[3] or "") or 0
  math.randomseed(os.time() * 1000 + tid * 7919 + salt * 104729)
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
  counter = 0
  interval_ms = 0
  local rate, threads = tonumber(args[1] or ""), tonumber(args[2] or "")
  if rate and threads and rate > 0 and now_ms then
    interval_ms = 1000 * threads / rate -- this thread's share of the rate
    slot = now_ms()
  end
end

-- paced mode: every request takes the next free slot of this thread's schedule
function delay()
  if interval_ms == 0 then
    return 0
  end
  local now = now_ms()
  slot = math.max(slot + interval_ms, now - 1000) -- never try to catch up more than 1 s
  local wait = slot - now
  if wait <= 0 then
    return 0
  end
  return math.floor(wait)
end

local function id(kind)
  -- UUID v4 shape: prefix(8)-tid(4)-4xxx-yxxx-counter(12); unique per (run, thread, counter)
  return string.format("%s-%04x-4%03x-%s%03x-%012x", prefix, tid % 65536, counter % 4096, kind,
    math.floor(counter / 4096) % 4096, counter)
end

request = function()
  counter = counter + 1
  local body = '{"tenantId":"demo","eventId":"' .. id("8") .. '","aff":"alice","cid":"' .. id("9") ..
    '","url":"https://shop.example/landing?aff=alice","referrer":"https://blog.example/post"}'
  return wrk.format("POST", "/tracking/click/v1", { ["Content-Type"] = "text/plain;charset=UTF-8" }, body)
end
