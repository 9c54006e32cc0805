-- The `wrk` script of the load benchmarks that send (`cargo bench -p mxmod-app --bench sends`,
-- `cargo xtask bench-pg`): each filled in by its caller, which replaces the @NAME@ markers.
--
-- Requests go to the paths in turn, each followed, when UNIQUE, by `{thread}-{n}` (a new
-- transaction ID per send); 200s and other answers are counted per thread. At the end it
-- writes one `RESULT ok= other= duration_us= p50_us= p99_us=` line, and one
-- `LATENCY us count` line per distinct latency (to merge the histograms of several wrks).
local paths = { @PATHS@ }
local unique = @UNIQUE@
local method = "@METHOD@"
local payload = @BODY@
local headers = { ["Authorization"] = "Bearer @TOKEN@", ["Content-Type"] = "application/json" }
local threads = {}
local next_id = 1
setup = function(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
init = function(args)
  n = 0
  ok = 0
  other = 0
end
request = function()
  n = n + 1
  local path = paths[n % #paths + 1]
  if unique then path = path .. tid .. "-" .. n end
  return wrk.format(method, path, headers, payload)
end
response = function(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end
done = function(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("RESULT ok=%d other=%d duration_us=%d p50_us=%d p99_us=%d\n", total_ok, total_other,
    summary.duration, latency:percentile(50), latency:percentile(99)))
  for i = 1, #latency do
    local value, count = latency(i)
    io.write(string.format("LATENCY %d %d\n", value, count))
  end
end
